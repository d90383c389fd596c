/* SPDX-License-Identifier: Apache-2.0 */
/* ggml block formats → float (lib/tensor/ggml_blocks.h).
 *
 * Every multi-byte field is assembled from its little-endian bytes, which is both
 * unaligned-safe and host-endian independent. Each output value is computed with the
 * same float operations, in the same order, as ggml's reference dequantizers, so the
 * results match them (and gguf-py) bit for bit (the header says why the order of the
 * exact products would not even matter). */
#include <stdio.h>
#include <string.h>

#include "tensor/ggml_blocks.h"
#include "tensor/quant.h"

/* Elements per block of the 32-element ("legacy") formats. */
#define SMALL_BLOCK 32
#define QK_K G2_GGML_QK_K

/* The non-uniform 4-bit levels shared by IQ4_NL and IQ4_XS. */
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float load_f16(const uint8_t *p) { return g2_f16_to_f32(load_u16(p)); }

static float bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element i (0..31) of a 32-element block packs its 4 low bits in byte i % 16: the
 * first 16 elements in the low nibbles, the next 16 in the high nibbles. */
static unsigned split_nibble(const uint8_t *qs, unsigned i) { return (qs[i % 16] >> (4 * (i / 16))) & 0xFu; }

/* --- 32-element formats --- */

static void q4_0_block(const uint8_t *b, float *y) { /* d, qs[16]: d * (q - 8) */
    const float d = load_f16(b);
    for (unsigned i = 0; i < SMALL_BLOCK; i++)
        y[i] = d * (float)((int)split_nibble(b + 2, i) - 8);
}

static void q4_1_block(const uint8_t *b, float *y) { /* d, m, qs[16]: d * q + m */
    const float d = load_f16(b), m = load_f16(b + 2);
    for (unsigned i = 0; i < SMALL_BLOCK; i++) {
        const float scaled = d * (float)split_nibble(b + 4, i); /* rounded before the add */
        y[i] = scaled + m;
    }
}

static void q5_0_block(const uint8_t *b, float *y) { /* d, qh (bit i = element i's bit 4), qs[16] */
    const float d = load_f16(b);
    const uint32_t high = load_u32(b + 2);
    for (unsigned i = 0; i < SMALL_BLOCK; i++) {
        const int q = (int)(split_nibble(b + 6, i) | ((high >> i) & 1u) << 4);
        y[i] = d * (float)(q - 16);
    }
}

static void q5_1_block(const uint8_t *b, float *y) { /* d, m, qh, qs[16]: d * q + m */
    const float d = load_f16(b), m = load_f16(b + 2);
    const uint32_t high = load_u32(b + 4);
    for (unsigned i = 0; i < SMALL_BLOCK; i++) {
        const unsigned q = split_nibble(b + 8, i) | ((high >> i) & 1u) << 4;
        const float scaled = d * (float)q;
        y[i] = scaled + m;
    }
}

static void q8_0_block(const uint8_t *b, float *y) { /* d, int8 qs[32] */
    const float d = load_f16(b);
    for (unsigned i = 0; i < SMALL_BLOCK; i++)
        y[i] = d * (float)(int8_t)b[2 + i];
}

static void iq4_nl_block(const uint8_t *b, float *y) { /* d, qs[16]: d * level[q] */
    const float d = load_f16(b);
    for (unsigned i = 0; i < SMALL_BLOCK; i++)
        y[i] = d * (float)iq4_levels[split_nibble(b + 2, i)];
}

/* --- 256-element "K" formats --- */

/* Q2_K: scales[16] (low nibble: scale, high nibble: min, per 16 elements), qs[64],
 * d, dmin. Element e takes 2 bits of byte 32 * (e / 128) + e % 32 at shift
 * 2 * (e % 128 / 32): the 128-element halves each cycle four times through 32 bytes. */
static void q2_k_block(const uint8_t *b, float *y) {
    const uint8_t *scales = b, *qs = b + 16;
    const float d = load_f16(b + 80), dmin = load_f16(b + 82);
    for (unsigned e = 0; e < QK_K; e += 16) {
        const float scale = d * (float)(scales[e / 16] & 0xF), min = dmin * (float)(scales[e / 16] >> 4);
        const uint8_t *src = qs + 32 * (e / 128) + e % 32;
        const unsigned shift = 2 * (e % 128 / 32);
        for (unsigned l = 0; l < 16; l++) {
            const float scaled = scale * (float)((src[l] >> shift) & 3u);
            y[e + l] = scaled - min;
        }
    }
}

/* Q3_K's and Q4_K/Q5_K's 12-byte scale fields hold 6-bit values in different packings. */

/* Q3_K: sixteen 6-bit signed scales (stored + 32). Bytes 0..7 hold the low 4 bits
 * (scale i < 8 in byte i's low nibble, scale i >= 8 in byte i - 8's high nibble);
 * bytes 8..11 hold the top 2 bits of scale i in byte 8 + i % 4 at shift 2 * (i / 4). */
static int q3_k_scale(const uint8_t *packed, unsigned i) {
    const unsigned low = (packed[i % 8] >> (4 * (i / 8))) & 0xFu;
    const unsigned high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3u;
    return (int)(low | high << 4) - 32;
}

/* Q3_K: hmask[32], qs[64], scales[12], d. Low 2 bits as in Q2_K; element e's third bit
 * is bit (e / 32) of hmask[e % 32], and a CLEAR bit subtracts 4: q in [-4, 3]. */
static void q3_k_block(const uint8_t *b, float *y) {
    const uint8_t *hmask = b, *qs = b + 32, *scales = b + 96;
    const float d = load_f16(b + 108);
    for (unsigned e = 0; e < QK_K; e += 16) {
        const float scale = d * (float)q3_k_scale(scales, e / 16);
        const uint8_t *src = qs + 32 * (e / 128) + e % 32, *hsrc = hmask + e % 32;
        const unsigned shift = 2 * (e % 128 / 32), hbit = e / 32;
        for (unsigned l = 0; l < 16; l++) {
            const int q = (int)((src[l] >> shift) & 3u) - (((hsrc[l] >> hbit) & 1u) ? 0 : 4);
            y[e + l] = scale * (float)q;
        }
    }
}

/* Q4_K/Q5_K: eight 6-bit (scale, min) pairs, one per 32 elements. Pairs 0..3: the low
 * 6 bits of bytes j (scale) and j + 4 (min). Pairs 4..7: low 4 bits from byte j + 4's
 * nibbles (scale low, min high), top 2 bits from bits 6..7 of bytes j - 4 (scale) and
 * j (min). */
static void k4_scale_min(const uint8_t *packed, unsigned j, unsigned *scale, unsigned *min) {
    if (j < 4) {
        *scale = packed[j] & 63u;
        *min = packed[j + 4] & 63u;
    } else {
        *scale = (packed[j + 4] & 0xFu) | (unsigned)(packed[j - 4] >> 6) << 4;
        *min = (unsigned)(packed[j + 4] >> 4) | (unsigned)(packed[j] >> 6) << 4;
    }
}

/* Q4_K: d, dmin, scales[12], qs[128]. Each 64 elements share 32 bytes: the first 32
 * elements in the low nibbles, the next 32 in the high nibbles. Q5_K: d, dmin,
 * scales[12], qh[32], qs[128]: the same plus a fifth bit, bit j of qh[l] for element
 * 32 * j + l (qh is NULL for Q4_K). */
static void k_block_4_or_5(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *y) {
    const float d = load_f16(b), dmin = load_f16(b + 2);
    const uint8_t *scales = b + 4;
    for (unsigned j = 0; j < 8; j++) {
        unsigned sc, m;
        k4_scale_min(scales, j, &sc, &m);
        const float scale = d * (float)sc, min = dmin * (float)m;
        const uint8_t *src = qs + 32 * (j / 2);
        const unsigned shift = 4 * (j % 2);
        for (unsigned l = 0; l < 32; l++) {
            const unsigned q = ((src[l] >> shift) & 0xFu) | (qh ? ((qh[l] >> j) & 1u) << 4 : 0u);
            const float scaled = scale * (float)q;
            y[32 * j + l] = scaled - min;
        }
    }
}

static void q4_k_block(const uint8_t *b, float *y) { k_block_4_or_5(b, NULL, b + 16, y); }
static void q5_k_block(const uint8_t *b, float *y) { k_block_4_or_5(b, b + 16, b + 48, y); }

/* Q6_K: ql[128], qh[64], int8 scales[16], d; q = 6 bits - 32. In each 128-element half
 * h, quarter k (32 elements) takes nibble k / 2 of ql[64h + 32(k % 2) + l] and bits
 * 2k..2k+1 of qh[32h + l]. */
static void q6_k_block(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128, *scales = b + 192;
    const float d = load_f16(b + 208);
    for (unsigned e = 0; e < QK_K; e += 16) {
        const float scale = d * (float)(int8_t)scales[e / 16];
        const unsigned half = e / 128, quarter = e % 128 / 32, l0 = e % 32;
        const uint8_t *low = ql + 64 * half + 32 * (quarter % 2) + l0, *high = qh + 32 * half + l0;
        for (unsigned l = 0; l < 16; l++) {
            const int q =
                (int)(((low[l] >> (4 * (quarter / 2))) & 0xFu) | ((high[l] >> (2 * quarter)) & 3u) << 4);
            y[e + l] = scale * (float)(q - 32);
        }
    }
}

/* IQ4_XS: d, scales_h (u16: 2 bits per 32 elements), scales_l[4] (a nibble per 32
 * elements, low nibble first), qs[128] (16 bytes per 32 elements, packed as IQ4_NL).
 * The 6-bit scale is stored + 32. */
static void iq4_xs_block(const uint8_t *b, float *y) {
    const float d = load_f16(b);
    const uint16_t scales_high = load_u16(b + 2);
    const uint8_t *scales_low = b + 4, *qs = b + 8;
    for (unsigned j = 0; j < 8; j++) {
        const unsigned bits = ((scales_low[j / 2] >> (4 * (j % 2))) & 0xFu) | ((scales_high >> (2 * j)) & 3u)
                                                                                  << 4;
        const float scale = d * (float)((int)bits - 32);
        for (unsigned i = 0; i < 32; i++)
            y[32 * j + i] = scale * (float)iq4_levels[split_nibble(qs + 16 * j, i)];
    }
}

/* --- the type table --- */

typedef void (*block_fn)(const uint8_t *block, float *out);

typedef struct type_entry {
    uint32_t type;
    g2_ggml_type_info info;
    block_fn dequantize_block; /* NULL for the per-element float formats */
} type_entry;

static const type_entry supported[] = {
    {G2_GGML_F32, {"F32", 1, 4}, NULL},
    {G2_GGML_F16, {"F16", 1, 2}, NULL},
    {G2_GGML_BF16, {"BF16", 1, 2}, NULL},
    {G2_GGML_Q4_0, {"Q4_0", 32, 18}, q4_0_block},
    {G2_GGML_Q4_1, {"Q4_1", 32, 20}, q4_1_block},
    {G2_GGML_Q5_0, {"Q5_0", 32, 22}, q5_0_block},
    {G2_GGML_Q5_1, {"Q5_1", 32, 24}, q5_1_block},
    {G2_GGML_Q8_0, {"Q8_0", 32, 34}, q8_0_block},
    {G2_GGML_Q2_K, {"Q2_K", QK_K, 84}, q2_k_block},
    {G2_GGML_Q3_K, {"Q3_K", QK_K, 110}, q3_k_block},
    {G2_GGML_Q4_K, {"Q4_K", QK_K, 144}, q4_k_block},
    {G2_GGML_Q5_K, {"Q5_K", QK_K, 176}, q5_k_block},
    {G2_GGML_Q6_K, {"Q6_K", QK_K, 210}, q6_k_block},
    {G2_GGML_IQ4_NL, {"IQ4_NL", 32, 18}, iq4_nl_block},
    {G2_GGML_IQ4_XS, {"IQ4_XS", QK_K, 136}, iq4_xs_block},
};

/* Names of every id in ggml.h, supported or not, for messages. */
static const char *const all_names[] = {
    "F32",      "F16",      "Q4_0",    "Q4_1",  "Q4_2",       "Q4_3",       "Q5_0",       "Q5_1",
    "Q8_0",     "Q8_1",     "Q2_K",    "Q3_K",  "Q4_K",       "Q5_K",       "Q6_K",       "Q8_K",
    "IQ2_XXS",  "IQ2_XS",   "IQ3_XXS", "IQ1_S", "IQ4_NL",     "IQ3_S",      "IQ2_S",      "IQ4_XS",
    "I8",       "I16",      "I32",     "I64",   "F64",        "IQ1_M",      "BF16",       "Q4_0_4_4",
    "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",   "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",
    "NVFP4",    "Q1_0",     "Q2_0",
};

static const type_entry *find_entry(uint32_t type) {
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (supported[i].type == type)
            return &supported[i];
    return NULL;
}

const g2_ggml_type_info *g2_ggml_type(uint32_t type) {
    const type_entry *entry = find_entry(type);
    return entry ? &entry->info : NULL;
}

const char *g2_ggml_type_name(uint32_t type) {
    if (type < sizeof all_names / sizeof all_names[0])
        return all_names[type];
    static _Thread_local char unknown[24]; /* per thread, like the library's last error */
    snprintf(unknown, sizeof unknown, "type %u", (unsigned)type);
    return unknown;
}

uint64_t g2_ggml_row_bytes(uint32_t type, uint64_t n) {
    const g2_ggml_type_info *info = g2_ggml_type(type);
    if (!info || n % info->block_elems)
        return 0;
    const uint64_t blocks = n / info->block_elems;
    if (blocks > UINT64_MAX / info->block_bytes)
        return 0;
    return blocks * info->block_bytes;
}

/* 1 if x is NaN or infinite, tested on the bits so no compiler flag can drop it. */
static unsigned not_finite(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (bits & 0x7F800000u) == 0x7F800000u;
}

int g2_ggml_dequantize(uint32_t type, const void *src, uint64_t n, float *dst) {
    const type_entry *entry = find_entry(type);
    if (!entry || n % entry->info.block_elems)
        return -1;
    const uint8_t *in = src;
    unsigned bad = 0;
    switch (type) {
    case G2_GGML_F32:
        for (uint64_t i = 0; i < n; i++) {
            dst[i] = bits_to_f32(load_u32(in + 4 * i));
            bad |= not_finite(dst[i]);
        }
        break;
    case G2_GGML_F16:
        for (uint64_t i = 0; i < n; i++) {
            dst[i] = load_f16(in + 2 * i);
            bad |= not_finite(dst[i]);
        }
        break;
    case G2_GGML_BF16: /* bf16 is the top half of a float */
        for (uint64_t i = 0; i < n; i++) {
            dst[i] = bits_to_f32((uint32_t)load_u16(in + 2 * i) << 16);
            bad |= not_finite(dst[i]);
        }
        break;
    default: {
        const uint64_t elems = entry->info.block_elems, bytes = entry->info.block_bytes;
        for (uint64_t block = 0; block < n / elems; block++) {
            float *out = dst + block * elems;
            entry->dequantize_block(in + block * bytes, out);
            /* a non-finite scale always shows in the outputs: x * inf and x * NaN are
             * never finite, 0 * inf is NaN */
            for (uint64_t i = 0; i < elems; i++)
                bad |= not_finite(out[i]);
        }
    }
    }
    return bad ? -1 : 0;
}

int g2_ggml_to_q8(uint32_t type, const void *src, uint64_t n, int8_t *qs, uint16_t *d) {
    /* Q4_1 and Q5_1 add a min, which is not d * int; the K formats scale sub-blocks */
    if ((type != G2_GGML_Q8_0 && type != G2_GGML_Q4_0 && type != G2_GGML_Q5_0 && type != G2_GGML_IQ4_NL) ||
        n % SMALL_BLOCK)
        return 0;
    const type_entry *entry = find_entry(type);
    const uint8_t *in = src;
    const uint64_t bytes = entry->info.block_bytes;
    for (uint64_t block = 0; block < n / SMALL_BLOCK; block++) {
        const uint8_t *b = in + block * bytes;
        int8_t *q = qs + block * SMALL_BLOCK;
        const uint16_t scale = load_u16(b); /* every exact format starts with d */
        if ((scale & 0x7C00u) == 0x7C00u)
            return 0;
        d[block] = scale;
        switch (type) {
        case G2_GGML_Q8_0:
            for (unsigned i = 0; i < SMALL_BLOCK; i++) {
                if (b[2 + i] == 0x80u) /* -128: the q8 layout is symmetric */
                    return 0;
                q[i] = (int8_t)b[2 + i];
            }
            break;
        case G2_GGML_Q4_0:
            for (unsigned i = 0; i < SMALL_BLOCK; i++)
                q[i] = (int8_t)((int)split_nibble(b + 2, i) - 8);
            break;
        case G2_GGML_Q5_0: {
            const uint32_t high = load_u32(b + 2);
            for (unsigned i = 0; i < SMALL_BLOCK; i++)
                q[i] = (int8_t)((int)(split_nibble(b + 6, i) | ((high >> i) & 1u) << 4) - 16);
            break;
        }
        case G2_GGML_IQ4_NL:
            for (unsigned i = 0; i < SMALL_BLOCK; i++)
                q[i] = iq4_levels[split_nibble(b + 2, i)];
            break;
        default: return 0;
        }
    }
    return 1;
}
