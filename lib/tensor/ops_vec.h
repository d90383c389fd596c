/* SPDX-License-Identifier: Apache-2.0 */
/* The float loops of ops.c at one vector width: a template that ops.c includes once
 * per width with
 *   VW      floats per native vector (4, 8 or 16),
 *   VF, VI  the native float / int32 vector types of VW lanes, VFH / VD half as many
 *           floats / as many doubles (for the double sums),
 *   SUF(x)  x with the width's suffix,
 *   G2_T    the width's target attribute (empty for the baseline),
 *   G2_NAME the table's name;
 * it undefines them at its end. Every function here carries G2_T, helpers included (a helper compiled for another
 * target would not inline, and passing wide vectors to it would change the ABI).
 *
 * Same bits at every width: every result is the same IEEE operations in the same
 * order whatever VW is. Element-wise work has independent lanes; reductions work on
 * logical groups of 16 lanes, held in NP = 16 / VW native vectors, then a fixed tree.
 * Tails are padded to whole vectors with values that leave the result unchanged (0 in
 * sums of products, -inf in maxima), or computed on a padded copy and only the real
 * lanes kept. Lanes are never reassociated (no -ffast-math), and products are never
 * fused into adds (-ffp-contract=off). */

#define NP (16 / VW)
#define G2_VFN G2_T static inline __attribute__((always_inline))
/* fully unrolled, so that arrays of vectors (accumulators) stay in registers */
#define G2_UNROLL _Pragma("GCC unroll 16")

G2_VFN VF SUF(ld)(const float *p) {
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

G2_VFN void SUF(st)(float *p, VF v) { memcpy(p, &v, sizeof v); }

/* c in every lane: -0 + c is exactly c (for c = ±0 and NaN too), which compilers fold
 * to a broadcast */
G2_VFN VF SUF(splat)(float c) {
    const VF z = {0};
    return -z + c;
}

/* m ? a : b, lane by lane (m: all ones or zero) */
G2_VFN VF SUF(sel)(VI m, VF a, VF b) { return (VF)((m & (VI)a) | (~m & (VI)b)); }

/* e^x: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split so that n * ln2_hi is
 * exact), e^r = 1 + r + r² P(r) with P a degree-4 minimax polynomial (relative error
 * 3e-9), then y 2^n = (y 2^(n - n/2)) 2^(n/2): the first product is exact, the second
 * rounds once, into the subnormal range too. x is first clamped to [-104, 89]: beyond,
 * the result is +0 or +inf anyway, and n stays small. NaN goes through the clamps and
 * comes out NaN. n comes from the 1.5·2^23 shifter (round to nearest), so no float →
 * int conversion is needed. Max error 0.99 ulp over all floats. */
G2_VFN VF SUF(vexp)(VF x) {
    const VF lo = SUF(splat)(-104.0f), hi = SUF(splat)(89.0f), shifter = SUF(splat)(0x1.8p23f);
    x = SUF(sel)(x < lo, lo, x);
    x = SUF(sel)(x > hi, hi, x);
    const VF t = x * 0x1.715476p+0f + shifter; /* log2(e) */
    const VF n = t - shifter;
    VF r = x - n * 0x1.62e4p-1f; /* ln2_hi: exact product for |n| <= 512 */
    r = r - n * 0x1.7f7d1cp-20f; /* ln2_lo */
    VF p = SUF(splat)(0x1.6a244cp-10f);
    p = p * r + 0x1.1239d4p-7f;
    p = p * r + 0x1.5558f2p-5f;
    p = p * r + 0x1.555492p-3f;
    p = p * r + 0x1.fffffcp-2f;
    const VF y = (r * r * p + r) + 1.0f;
    const VI k = (VI)t - (VI)shifter; /* n as an integer, in [-150, 129] */
    const VI k1 = k >> 1, k2 = k - k1;
    return y * (VF)((k1 + 127) << 23) * (VF)((k2 + 127) << 23);
}

/* tanh(x) = sign(x) tanh(a), a = |x|: for a < 0.75, a + a³ Q(a²) with Q a degree-5
 * minimax polynomial (relative error 1.6e-9); above, 1 - 2 / (e^(2a) + 1), which is
 * exactly 1 once e^(2a) is large and for a = inf (the threshold 0.75 keeps the
 * cancellation in 1 - ... under 1.1 ulp). Both branches are computed and one is
 * selected, so the loop has no branch. Max error 1.07 ulp over all floats. */
G2_VFN VF SUF(vtanh)(VF x) {
    const VI sign = (VI)x & (int32_t)0x80000000u;
    const VF a = (VF)((VI)x & 0x7fffffff), a2 = a * a;
    VF q = SUF(splat)(0x1.c753c8p-10f);
    q = q * a2 + -0x1.f5d36ep-8f;
    q = q * a2 + 0x1.5f785ap-6f;
    q = q * a2 + -0x1.b97d3cp-5f;
    q = q * a2 + 0x1.110db8p-3f;
    q = q * a2 + -0x1.55554ap-2f;
    const VF small = a + a * a2 * q;
    const VF big = 1.0f - 2.0f / (SUF(vexp)(a + a) + 1.0f);
    const VF r = SUF(sel)(a < SUF(splat)(0.75f), small, big);
    return (VF)((VI)r | sign);
}

/* y[i] = f(x[i]); the tail goes through a padded copy. */
#define G2_MAP1(name, expr)                                            \
    G2_T static void SUF(name)(float *y, const float *x, uint32_t n) { \
        uint32_t i = 0;                                                \
        for (; i + VW <= n; i += VW) {                                 \
            const VF v = SUF(ld)(x + i);                               \
            SUF(st)(y + i, (expr));                                    \
        }                                                              \
        if (i < n) {                                                   \
            float tail[VW] = {0};                                      \
            memcpy(tail, x + i, (n - i) * sizeof *tail);               \
            const VF v = SUF(ld)(tail);                                \
            SUF(st)(tail, (expr));                                     \
            memcpy(y + i, tail, (n - i) * sizeof *tail);               \
        }                                                              \
    }

G2_MAP1(exp_n, SUF(vexp)(v))
G2_MAP1(tanh_n, SUF(vtanh)(v))
#undef G2_MAP1

G2_VFN VF SUF(softcap1)(VF v, VF cap) { return cap * SUF(vtanh)(v / cap); }

G2_T static void SUF(softcap)(float *x, uint32_t n, float cap) {
    if (!(cap > 0.0f))
        return;
    const VF c = SUF(splat)(cap);
    uint32_t i = 0;
    for (; i + VW <= n; i += VW)
        SUF(st)(x + i, SUF(softcap1)(SUF(ld)(x + i), c));
    if (i < n) {
        float tail[VW] = {0};
        memcpy(tail, x + i, (n - i) * sizeof *tail);
        SUF(st)(tail, SUF(softcap1)(SUF(ld)(tail), c));
        memcpy(x + i, tail, (n - i) * sizeof *tail);
    }
}

/* 0.5 g (1 + tanh(k (g + 0.044715 g³))) u, evaluated left to right as in the formula */
G2_VFN VF SUF(geglu1)(VF g, VF u) {
    const VF inner = 0x1.988454p-1f * (g + 0.044715f * g * g * g); /* sqrt(2/pi) */
    return 0.5f * g * (1.0f + SUF(vtanh)(inner)) * u;
}

G2_T static void SUF(geglu)(float *gate, const float *up, uint32_t n) {
    uint32_t i = 0;
    for (; i + VW <= n; i += VW)
        SUF(st)(gate + i, SUF(geglu1)(SUF(ld)(gate + i), SUF(ld)(up + i)));
    if (i < n) {
        float tg[VW] = {0}, tu[VW] = {0};
        memcpy(tg, gate + i, (n - i) * sizeof *tg);
        memcpy(tu, up + i, (n - i) * sizeof *tu);
        SUF(st)(tg, SUF(geglu1)(SUF(ld)(tg), SUF(ld)(tu)));
        memcpy(gate + i, tg, (n - i) * sizeof *tg);
    }
}

/* The pairwise total of 16 partial sums: s[j] += s[j + w] for w = 8, 4, 2, 1. */
G2_VFN float SUF(tree16)(const VF *acc) {
    float l[16];
    G2_UNROLL
    for (int p = 0; p < NP; p++)
        SUF(st)(l + p * VW, acc[p]);
    g2_vf4 a, b, c, e;
    memcpy(&a, l, sizeof a);
    memcpy(&b, l + 4, sizeof b);
    memcpy(&c, l + 8, sizeof c);
    memcpy(&e, l + 12, sizeof e);
    a += c; /* w = 8 */
    b += e;
    a += b;                               /* w = 4 */
    return (a[0] + a[2]) + (a[1] + a[3]); /* w = 2, then 1 */
}

/* g2_dot_f32: 16 partial sums in NP vectors, a zero-padded last block (adding +0 to
 * a partial sum changes nothing: a sum that starts at +0 is never -0), the tree. */
G2_T static float SUF(dot)(const float *a, const float *b, uint32_t n) {
    VF acc[NP];
    G2_UNROLL
    for (int p = 0; p < NP; p++)
        acc[p] = SUF(splat)(0.0f);
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        G2_UNROLL
        for (int p = 0; p < NP; p++)
            acc[p] += SUF(ld)(a + i + p * VW) * SUF(ld)(b + i + p * VW);
    }
    if (i < n) {
        float ta[16] = {0}, tb[16] = {0};
        memcpy(ta, a + i, (n - i) * sizeof *ta);
        memcpy(tb, b + i, (n - i) * sizeof *tb);
        G2_UNROLL
        for (int p = 0; p < NP; p++)
            acc[p] += SUF(ld)(ta + p * VW) * SUF(ld)(tb + p * VW);
    }
    return SUF(tree16)(acc);
}

/* Attention's software prefetch: the keys one block of 16 ahead (16 KB at head_dim
 * 256; at 128, 8 KB measured better than two blocks), the values about 16 KB ahead.
 * With the hardware prefetcher alone, decode attention over 1024 positions read its
 * cache at 0.66-0.78 of the read test's rate, with these at 0.82-0.98
 * (docs/performance.md). A prefetch never faults, so running past the cache is
 * harmless. */
#define G2_ATTEND_AHEAD_BYTES 16384
#define G2_FLOATS_PER_LINE (64 / sizeof(float))
/* The address in integers: p + ahead may lie past the cache, outside any object. */
#define G2_PREFETCH_AHEAD(p, ahead) \
    __builtin_prefetch((const void *)((uintptr_t)(p) + (ahead) * sizeof *(p)), 0, 2)

/* Scores of one query row against VW consecutive keys, each in the g2_dot_f32 order:
 * the 16 partial sums (dimension i into sum i mod 16) are 16 vectors over the keys, and
 * the tree adds them vertically. kt: dimension i of key l at kt[i * ks + l]. With
 * `ahead` (floats; 0: none), also prefetches kt + ahead for each line of kt read. */
G2_VFN VF SUF(qk_keys)(const float *q, const float *kt, size_t ks, uint32_t d, size_t ahead) {
    VF acc[16];
    G2_UNROLL
    for (int l = 0; l < 16; l++)
        acc[l] = SUF(splat)(0.0f);
    const float *const end = q + d / 16 * 16;
    for (; q < end; q += 16) {
        G2_UNROLL
        for (int l = 0; l < 16; l++, kt += ks) {
            if (ahead)
                G2_PREFETCH_AHEAD(kt, ahead);
            acc[l] += SUF(splat)(q[l]) * SUF(ld)(kt);
        }
    }
    G2_UNROLL
    for (uint32_t l = 0; l < 16; l++) /* constant indices keep acc in registers */
        if (l < d % 16)
            acc[l] += SUF(splat)(q[l]) * SUF(ld)(kt + l * ks);
    G2_UNROLL
    for (int l = 0; l < 8; l++)
        acc[l] += acc[l + 8];
    G2_UNROLL
    for (int l = 0; l < 4; l++)
        acc[l] += acc[l + 4];
    acc[0] += acc[2];
    acc[1] += acc[3];
    return acc[0] + acc[1];
}

/* Scores s[0..n) of one query row → softmax weights, in the order of g2_attend. */
G2_T static void SUF(softmax_row)(float *s, uint32_t n, float cap) {
    SUF(softcap)(s, n, cap);
    /* max, position j into lane j mod 16; NaN never wins (-inf pads) */
    VF m[NP];
    G2_UNROLL
    for (int p = 0; p < NP; p++)
        m[p] = SUF(splat)(-INFINITY);
    uint32_t j = 0;
    for (; j + 16 <= n; j += 16) {
        G2_UNROLL
        for (int p = 0; p < NP; p++) {
            const VF v = SUF(ld)(s + j + p * VW);
            m[p] = SUF(sel)(v > m[p], v, m[p]);
        }
    }
    if (j < n) {
        float tail[16];
        G2_UNROLL
        for (int l = 0; l < 16; l++)
            tail[l] = j + l < n ? s[j + l] : -INFINITY;
        G2_UNROLL
        for (int p = 0; p < NP; p++) {
            const VF v = SUF(ld)(tail + p * VW);
            m[p] = SUF(sel)(v > m[p], v, m[p]);
        }
    }
    float ml[16];
    G2_UNROLL
    for (int p = 0; p < NP; p++)
        SUF(st)(ml + p * VW, m[p]);
    for (int w = 8; w > 0; w /= 2) {
        G2_UNROLL
        for (int l = 0; l < w; l++)
            ml[l] = ml[l + w] > ml[l] ? ml[l + w] : ml[l];
    }
    const VF mx = SUF(splat)(ml[0]);
    /* e_j = exp(s_j - max), summed in double: position j into lane j mod 16 */
    VD sum[2 * NP];
    G2_UNROLL
    for (int p = 0; p < 2 * NP; p++)
        sum[p] = (VD){0};
    for (j = 0; j + 16 <= n; j += 16) {
        G2_UNROLL
        for (int p = 0; p < NP; p++)
            SUF(st)(s + j + p * VW, SUF(vexp)(SUF(ld)(s + j + p * VW) - mx));
        G2_UNROLL
        for (int p = 0; p < 2 * NP; p++) {
            VFH h;
            memcpy(&h, s + j + p * (VW / 2), sizeof h);
            sum[p] += __builtin_convertvector(h, VD);
        }
    }
    if (j < n) { /* padded with e = +0, which leaves the sums as they are */
        float tail[16] = {0};
        memcpy(tail, s + j, (n - j) * sizeof *tail);
        G2_UNROLL
        for (int p = 0; p < NP; p++)
            SUF(st)(tail + p * VW, SUF(vexp)(SUF(ld)(tail + p * VW) - mx));
        for (uint32_t l = n - j; l < 16; l++)
            tail[l] = 0.0f;
        memcpy(s + j, tail, (n - j) * sizeof *tail);
        G2_UNROLL
        for (int p = 0; p < 2 * NP; p++) {
            VFH h;
            memcpy(&h, tail + p * (VW / 2), sizeof h);
            sum[p] += __builtin_convertvector(h, VD);
        }
    }
    double dl[16];
    memcpy(dl, sum, sizeof dl);
    for (int w = 8; w > 0; w /= 2) {
        G2_UNROLL
        for (int l = 0; l < w; l++)
            dl[l] += dl[l + w];
    }
    const VF inv = SUF(splat)((float)(1.0 / dl[0]));
    /* weights below FLT_MIN are 0: they cannot change a sum that holds the largest one,
     * and each product with a subnormal weight costs a slow assist on x86 */
    for (j = 0; j + VW <= n; j += VW) {
        const VF p = SUF(ld)(s + j) * inv;
        SUF(st)(s + j, SUF(sel)(p < FLT_MIN, SUF(splat)(0.0f), p));
    }
    for (; j < n; j++) {
        s[j] *= inv[0];
        if (s[j] < FLT_MIN)
            s[j] = 0.0f;
    }
}

/* Accumulators of the weighted sums of values: as many vectors as stay in registers. */
#define AV_ACC (VW >= 16 ? 16 : 8)

/* o_r[i + c VW + l] = acc + sum over j < n of w_r[j] v[j vs + i + c VW + l], adding in
 * order of j, for nr rows (a constant) and nc vectors; acc starts at o_r (from_out)
 * or at +0. Each V vector read serves all nr rows; the same part of the value
 * G2_ATTEND_AHEAD_BYTES ahead is prefetched. */
G2_VFN void SUF(av_tile)(const uint32_t nr, const uint32_t nc, const float *const *w, const float *v,
                         size_t vs, uint32_t n, float *const *o, uint32_t i, int from_out) {
    const size_t ahead_rows = G2_ATTEND_AHEAD_BYTES / sizeof(float) / (vs ? vs : 1) + 1;
    VF acc[AV_ACC];
    G2_UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        G2_UNROLL
        for (uint32_t c = 0; c < nc; c++)
            acc[r * nc + c] = from_out ? SUF(ld)(o[r] + i + c * VW) : SUF(splat)(0.0f);
    }
    for (uint32_t j = 0; j < n; j++) {
        const float *vj = v + j * vs + i;
        G2_UNROLL
        for (uint32_t c = 0; c < nc * VW; c += G2_FLOATS_PER_LINE)
            G2_PREFETCH_AHEAD(vj, ahead_rows * vs + c);
        G2_UNROLL
        for (uint32_t c = 0; c < nc; c++) {
            const VF y = SUF(ld)(vj + c * VW);
            G2_UNROLL
            for (uint32_t r = 0; r < nr; r++)
                acc[r * nc + c] += SUF(splat)(w[r][j]) * y;
        }
    }
    G2_UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        G2_UNROLL
        for (uint32_t c = 0; c < nc; c++)
            SUF(st)(o[r] + i + c * VW, acc[r * nc + c]);
    }
}

/* av_tile over all d outputs of nr rows (a constant): chunks of AV_ACC / nr vectors,
 * then single vectors, then the last d % VW elements one by one (same order). */
G2_VFN void SUF(av_rows)(const uint32_t nr, const float *const *w, const float *v, size_t vs, uint32_t n,
                         uint32_t d, float *const *o, int from_out) {
    const uint32_t nc = AV_ACC / nr;
    uint32_t i = 0;
    for (; i + nc * VW <= d; i += nc * VW)
        SUF(av_tile)(nr, nc, w, v, vs, n, o, i, from_out);
    for (; i + VW <= d; i += VW)
        SUF(av_tile)(nr, 1, w, v, vs, n, o, i, from_out);
    for (; i < d; i++)
        for (uint32_t r = 0; r < nr; r++) {
            float acc = from_out ? o[r][i] : 0.0f;
            for (uint32_t j = 0; j < n; j++)
                acc += w[r][j] * v[j * vs + i];
            o[r][i] = acc;
        }
}

/* Any number of rows: blocks of AV_ACC, 8, 4, 2, 1 rows (each a constant). */
G2_T static void SUF(av_any)(uint32_t nr, const float *const *w, const float *v, size_t vs, uint32_t n,
                             uint32_t d, float *const *o, int from_out) {
    for (uint32_t r = 0; r < nr;) {
        const uint32_t left = nr - r;
        if (left >= AV_ACC)
            SUF(av_rows)(AV_ACC, w + r, v, vs, n, d, o + r, from_out), r += AV_ACC;
        else if (AV_ACC > 8 && left >= 8)
            SUF(av_rows)(8, w + r, v, vs, n, d, o + r, from_out), r += 8;
        else if (left >= 4)
            SUF(av_rows)(4, w + r, v, vs, n, d, o + r, from_out), r += 4;
        else if (left >= 2)
            SUF(av_rows)(2, w + r, v, vs, n, d, o + r, from_out), r += 2;
        else
            SUF(av_rows)(1, w + r, v, vs, n, d, o + r, from_out), r += 1;
    }
}

/* av_any over the values of positions [lo, lo + n), position p being in slot
 * p % k_len: split where the slots wrap around, the second part continuing the first's
 * sums (the same additions in the same order, so the same bits as one pass). */
G2_T static void SUF(av_ring)(uint32_t nr, const float *const *w, const g2_attend_args *a, uint32_t lo, uint32_t n,
                              float *const *o, int from_out) {
    const uint32_t slot = lo % a->k_len, first = a->k_len - slot < n ? a->k_len - slot : n;
    SUF(av_any)(nr, w, a->v + (size_t)slot * a->v_stride, a->v_stride, first, a->d, o, from_out);
    if (first < n) {
        const float *rest[AV_ACC];
        for (uint32_t r = 0; r < nr; r++)
            rest[r] = w[r] + first;
        SUF(av_any)(nr, rest, a->v, a->v_stride, n - first, a->d, o, 1);
    }
}

/* g2_attend. Rows r = t * n_heads + h; the scores of row r are at scores + r * span,
 * indexed by position - jb, where jb (a multiple of 16) and jhi bound the positions of
 * every row. */
G2_T static void SUF(attend)(const g2_attend_args *a) {
    const uint32_t d = a->d, H = a->n_heads, T = a->n_tok, R = H * T;
    const uint32_t jb = g2_attend_lo(a, 0) / 16 * 16, jhi = a->first_pos + T - 1;
    const size_t span = (size_t)jhi - jb + 1;
#define ROW_Q(r) (a->q + ((r) / H) * a->tok_stride + ((r) % H) * d)
#define ROW_S(r) (a->scores + (size_t)(r)*span)
    /* scores, a block of 16 keys ([d][16] floats) at a time, read once for all rows */
    for (uint32_t j = jb; j <= jhi; j += 16) {
        const uint32_t nk = jhi - j + 1 < 16 ? jhi - j + 1 : 16;
        const uint32_t jr = j % a->k_len; /* a block of 16 slots: k_len is 16-aligned when it wraps */
        const float *kb = a->k + (size_t)jr * d;
        size_t ahead = (size_t)16 * d; /* the next block, prefetched by the first row only */
        for (uint32_t t = 0; t < T; t++) {
            if (j + nk - 1 < g2_attend_lo(a, t) || j > a->first_pos + t)
                continue; /* token t sees none of these keys */
            for (uint32_t h = 0; h < H; h++) {
                float *s = ROW_S(t * H + h) + (j - jb);
                if (jr + 16 > a->k_len) { /* the last block of the cache, narrower */
                    for (uint32_t l = 0; l < nk; l++)
                        s[l] = g2_dot_strided(ROW_Q(t * H + h), kb + l, a->k_len - jr, d);
                    continue;
                }
                for (uint32_t l0 = 0; l0 < nk; l0 += VW) {
                    const VF sc = SUF(qk_keys)(ROW_Q(t * H + h), kb + l0, 16, d, l0 == 0 ? ahead : 0);
                    if (l0 + VW <= nk)
                        SUF(st)(s + l0, sc);
                    else
                        for (uint32_t l = l0; l < nk; l++)
                            s[l] = sc[l - l0];
                }
                ahead = 0;
            }
        }
    }
    /* per row: soft-cap and softmax */
    for (uint32_t t = 0; t < T; t++) {
        const uint32_t lo = g2_attend_lo(a, t), n = a->first_pos + t - lo + 1;
        for (uint32_t h = 0; h < H; h++)
            SUF(softmax_row)(ROW_S(t * H + h) + (lo - jb), n, a->softcap);
    }
    /* values: positions [j0, j1] that every token sees are done for all rows at once,
     * those before (sliding window) and after (causal mask) token by token, in order */
    const uint32_t j0 = g2_attend_lo(a, T - 1), j1 = a->first_pos;
    const float *w[AV_ACC];
    float *o[AV_ACC];
    for (uint32_t t = 0; t < T; t++) { /* positions [lo_t, j0) or, with no common part, all */
        const uint32_t lo = g2_attend_lo(a, t), end = j0 <= j1 ? j0 : a->first_pos + t + 1;
        for (uint32_t h = 0; h < H; h += AV_ACC) {
            const uint32_t nr = H - h < AV_ACC ? H - h : AV_ACC;
            for (uint32_t r = 0; r < nr; r++) {
                w[r] = ROW_S(t * H + h + r) + (lo - jb);
                o[r] = a->out + t * a->tok_stride + (h + r) * d;
            }
            SUF(av_ring)(nr, w, a, lo, end - lo, o, 0);
        }
    }
    if (j0 <= j1) {
        for (uint32_t r0 = 0; r0 < R; r0 += AV_ACC) {
            const uint32_t nr = R - r0 < AV_ACC ? R - r0 : AV_ACC;
            for (uint32_t r = 0; r < nr; r++) {
                w[r] = ROW_S(r0 + r) + (j0 - jb);
                o[r] = a->out + ((r0 + r) / H) * a->tok_stride + ((r0 + r) % H) * d;
            }
            SUF(av_ring)(nr, w, a, j0, j1 - j0 + 1, o, 1);
        }
        for (uint32_t t = 1; t < T; t++) /* positions (j1, pos_t] */
            for (uint32_t h = 0; h < H; h += AV_ACC) {
                const uint32_t nr = H - h < AV_ACC ? H - h : AV_ACC;
                for (uint32_t r = 0; r < nr; r++) {
                    w[r] = ROW_S(t * H + h + r) + (j1 + 1 - jb);
                    o[r] = a->out + t * a->tok_stride + (h + r) * d;
                }
                SUF(av_ring)(nr, w, a, j1 + 1, t, o, 1);
            }
    }
#undef ROW_Q
#undef ROW_S
}

static const g2_float_kernels SUF(table) = {
    .name = G2_NAME,
    .exp = SUF(exp_n),
    .tanh = SUF(tanh_n),
    .softcap = SUF(softcap),
    .geglu = SUF(geglu),
    .dot = SUF(dot),
    .attend = SUF(attend),
};

#undef NP
#undef AV_ACC
#undef G2_VFN
#undef G2_UNROLL
/* the parameters of this instance too, so the next one can define its own */
#undef VW
#undef VF
#undef VI
#undef VFH
#undef VD
#undef SUF
#undef G2_T
#undef G2_NAME
