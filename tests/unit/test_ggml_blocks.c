/* SPDX-License-Identifier: Apache-2.0 */
/* ggml block dequantizers (lib/tensor/ggml_blocks.h) against gguf-py's reference numpy
 * dequantizers, bit for bit, on the fixtures in tests/data/ggml_blocks (argv[1]; made by
 * tests/unit/make_ggml_fixtures.py, format in that directory's README.md). Also: the
 * type table, row sizes, the exact repack to q8, and rejection of non-finite scales. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ggml_blocks.h"
#include "tensor/quant.h"
#include "testutil.h"

/* What the test knows of each supported type, independently of the library's table. */
typedef struct expected_type {
    uint32_t id;
    const char *name, *file;
    uint32_t elems, bytes;
    int exact_q8;               /* g2_ggml_to_q8 must accept it */
    int f16_fields[2], nfields; /* byte offsets of a block's f16 scales and mins */
} expected_type;

static const expected_type types[] = {
    {G2_GGML_F32, "F32", "f32.bin", 1, 4, 0, {0}, 0},
    {G2_GGML_F16, "F16", "f16.bin", 1, 2, 0, {0}, 0},
    {G2_GGML_BF16, "BF16", "bf16.bin", 1, 2, 0, {0}, 0},
    {G2_GGML_Q4_0, "Q4_0", "q4_0.bin", 32, 18, 1, {0}, 1},
    {G2_GGML_Q4_1, "Q4_1", "q4_1.bin", 32, 20, 0, {0, 2}, 2},
    {G2_GGML_Q5_0, "Q5_0", "q5_0.bin", 32, 22, 1, {0}, 1},
    {G2_GGML_Q5_1, "Q5_1", "q5_1.bin", 32, 24, 0, {0, 2}, 2},
    {G2_GGML_Q8_0, "Q8_0", "q8_0.bin", 32, 34, 1, {0}, 1},
    {G2_GGML_Q2_K, "Q2_K", "q2_k.bin", 256, 84, 0, {80, 82}, 2},
    {G2_GGML_Q3_K, "Q3_K", "q3_k.bin", 256, 110, 0, {108}, 1},
    {G2_GGML_Q4_K, "Q4_K", "q4_k.bin", 256, 144, 0, {0, 2}, 2},
    {G2_GGML_Q5_K, "Q5_K", "q5_k.bin", 256, 176, 0, {0, 2}, 2},
    {G2_GGML_Q6_K, "Q6_K", "q6_k.bin", 256, 210, 0, {208}, 1},
    {G2_GGML_IQ4_NL, "IQ4_NL", "iq4_nl.bin", 32, 18, 1, {0}, 1},
    {G2_GGML_IQ4_XS, "IQ4_XS", "iq4_xs.bin", 256, 136, 0, {0}, 1},
};
#define N_TYPES (sizeof types / sizeof types[0])

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A fixture: raw blocks and the expected floats, each in a buffer of exactly its size
 * (so the sanitizers catch any read past the end). */
typedef struct fixture {
    uint32_t type, n, raw_bytes;
    unsigned char *raw;
    float *expected;
} fixture;

static int load_fixture(const char *dir, const char *file, fixture *fx) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t size;
    unsigned char *data = tu_read_file(path, &size);
    int ok = data && size >= 20 && memcmp(data, "G2GGMLF1", 8) == 0;
    if (ok) {
        fx->type = le32(data + 8);
        fx->n = le32(data + 12);
        fx->raw_bytes = le32(data + 16);
        ok = size == 20 + (uint64_t)fx->raw_bytes + 4 * (uint64_t)fx->n;
    }
    if (ok) {
        fx->raw = malloc(fx->raw_bytes ? fx->raw_bytes : 1);
        fx->expected = malloc((size_t)fx->n * sizeof(float) + 1);
        ok = fx->raw && fx->expected;
    }
    if (ok) {
        memcpy(fx->raw, data + 20, fx->raw_bytes);
        for (uint32_t i = 0; i < fx->n; i++) { /* stored little-endian */
            uint32_t bits = le32(data + 20 + fx->raw_bytes + 4 * (size_t)i);
            memcpy(&fx->expected[i], &bits, sizeof bits);
        }
    }
    free(data);
    return ok ? 0 : -1;
}

static void test_type_table(void) {
    for (size_t t = 0; t < N_TYPES; t++) {
        const g2_ggml_type_info *info = g2_ggml_type(types[t].id);
        CHECK(info != NULL, "%s is supported", types[t].name);
        if (!info)
            continue;
        CHECK(strcmp(info->name, types[t].name) == 0, "type %u is named %s", types[t].id, info->name);
        CHECK(info->block_elems == types[t].elems && info->block_bytes == types[t].bytes, "%s: block %u/%u",
               types[t].name, info->block_elems, info->block_bytes);
        CHECK(strcmp(g2_ggml_type_name(types[t].id), types[t].name) == 0, "%s name", types[t].name);
    }
    /* known to ggml but not dequantized here; and unknown ids */
    const uint32_t unsupported[] = {4,  5,  9,  15, 16, 19, 24, 25, 26,
                                    27, 28, 29, 31, 34, 39, 43, 99, UINT32_MAX};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        CHECK(g2_ggml_type(unsupported[i]) == NULL, "type %u is unsupported", unsupported[i]);
    CHECK(strcmp(g2_ggml_type_name(G2_GGML_Q8_1), "Q8_1") == 0, "Q8_1's name");
    CHECK(strcmp(g2_ggml_type_name(G2_GGML_Q8_K), "Q8_K") == 0, "Q8_K's name");
    CHECK(strcmp(g2_ggml_type_name(16), "IQ2_XXS") == 0, "IQ2_XXS's name");
    CHECK(strcmp(g2_ggml_type_name(G2_GGML_I64), "I64") == 0, "I64's name");
    CHECK(strcmp(g2_ggml_type_name(99), "type 99") == 0, "got %s", g2_ggml_type_name(99));
    CHECK(strcmp(g2_ggml_type_name(UINT32_MAX), "type 4294967295") == 0, "got %s",
           g2_ggml_type_name(UINT32_MAX));
}

static void test_row_bytes(void) {
    for (size_t t = 0; t < N_TYPES; t++) {
        const expected_type *e = &types[t];
        CHECK(g2_ggml_row_bytes(e->id, 0) == 0, "%s: 0 elements", e->name);
        CHECK(g2_ggml_row_bytes(e->id, e->elems) == e->bytes, "%s: one block", e->name);
        CHECK(g2_ggml_row_bytes(e->id, 3584u * e->elems) == 3584u * (uint64_t)e->bytes, "%s: a row",
               e->name);
        if (e->elems > 1) {
            CHECK(g2_ggml_row_bytes(e->id, e->elems + 1) == 0, "%s: ragged", e->name);
            CHECK(g2_ggml_row_bytes(e->id, e->elems - 1) == 0, "%s: ragged", e->name);
        }
        /* the largest counts whose size fits, and (where the size, not the count, is
         * the limit) the smallest that overflows */
        const uint64_t blocks_by_count = UINT64_MAX / e->elems, blocks_by_size = UINT64_MAX / e->bytes;
        if (blocks_by_size < blocks_by_count) {
            CHECK(g2_ggml_row_bytes(e->id, blocks_by_size * e->elems) == blocks_by_size * e->bytes,
                   "%s: largest size", e->name);
            CHECK(g2_ggml_row_bytes(e->id, (blocks_by_size + 1) * e->elems) == 0, "%s: size overflows",
                   e->name);
        } else {
            CHECK(g2_ggml_row_bytes(e->id, blocks_by_count * e->elems) == blocks_by_count * e->bytes,
                   "%s: largest count", e->name);
        }
    }
    CHECK(g2_ggml_row_bytes(G2_GGML_Q8_K, 256) == 0, "unsupported type");
    CHECK(g2_ggml_row_bytes(99, 32) == 0, "unknown type");
}

/* Dequantizes and compares bit for bit; src is copied to an exactly sized buffer at
 * the given misalignment. */
static void check_dequantize(const expected_type *e, const fixture *fx, size_t misalign) {
    unsigned char *src = malloc(fx->raw_bytes + misalign);
    float *out = malloc((size_t)fx->n * sizeof *out);
    memcpy(src + misalign, fx->raw, fx->raw_bytes);
    int rc = g2_ggml_dequantize(e->id, src + misalign, fx->n, out);
    CHECK(rc == 0, "%s: dequantize returned %d", e->name, rc);
    int bad = 0;
    for (uint32_t i = 0; i < fx->n; i++) {
        if (f32_bits(out[i]) != f32_bits(fx->expected[i]) && bad++ < 5)
            fprintf(stderr, "  %s[%u]: got %a (0x%08x), want %a (0x%08x)\n", e->name, i, (double)out[i],
                    f32_bits(out[i]), (double)fx->expected[i], f32_bits(fx->expected[i]));
    }
    CHECK(bad == 0, "%s: %d of %u values differ from gguf-py's (misalignment %zu)", e->name, bad, fx->n,
           misalign);
    free(src);
    free(out);
}

/* For the exact types: each block's repack to q8 reproduces the dequantized values;
 * only Q8_0 blocks with a -128 are refused. */
static void check_to_q8(const expected_type *e, const fixture *fx) {
    const uint32_t blocks = fx->n / e->elems;
    int refused = 0, whole_expected = 1;
    for (uint32_t b = 0; b < blocks; b++) {
        const unsigned char *block = fx->raw + (size_t)b * e->bytes;
        int has_min128 = 0;
        if (e->id == G2_GGML_Q8_0)
            for (int i = 0; i < 32; i++)
                has_min128 |= block[2 + i] == 0x80;
        int8_t qs[32];
        uint16_t d;
        const int rc = g2_ggml_to_q8(e->id, block, 32, qs, &d);
        CHECK(rc == !has_min128, "%s block %u: to_q8 returned %d", e->name, b, rc);
        if (!rc) {
            refused++;
            whole_expected = 0;
            continue;
        }
        CHECK(d == (uint16_t)(block[0] | block[1] << 8), "%s block %u: scale 0x%04x is not the block's",
               e->name, b, d);
        int bad = 0;
        for (int i = 0; i < 32; i++) {
            const float w = g2_f16_to_f32(d) * qs[i];
            bad += qs[i] < -127 || f32_bits(w) != f32_bits(fx->expected[(size_t)b * 32 + i]);
        }
        CHECK(bad == 0, "%s block %u: %d repacked values differ", e->name, b, bad);
    }
    if (e->id == G2_GGML_Q8_0)
        CHECK(refused > 0, "the Q8_0 fixture has a -128 block");
    int8_t *qs = malloc(fx->n);
    uint16_t *d = malloc(fx->n / 32 * sizeof *d);
    CHECK(g2_ggml_to_q8(e->id, fx->raw, fx->n, qs, d) == whole_expected, "%s: whole fixture to q8", e->name);
    CHECK(g2_ggml_to_q8(e->id, fx->raw, 16, qs, d) == 0, "%s: n not a multiple of 32", e->name);
    free(qs);
    free(d);
}

/* A NaN or infinite scale or min (or value, for the float formats) fails. */
static void check_non_finite(const expected_type *e, const fixture *fx) {
    static const uint16_t bad_halves[] = {0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF};
    unsigned char *block = malloc(e->bytes);
    float *out = malloc(e->elems * sizeof *out);
    for (size_t k = 0; k < sizeof bad_halves / sizeof bad_halves[0]; k++) {
        const uint16_t h = bad_halves[k];
        if (e->id == G2_GGML_F32) {
            const uint32_t bits = h == 0x7C00 ? 0x7F800000u : h == 0xFC00 ? 0xFF800000u : 0x7FC00000u + k;
            for (int i = 0; i < 4; i++)
                block[i] = (unsigned char)(bits >> (8 * i));
            CHECK(g2_ggml_dequantize(e->id, block, 1, out) == -1, "F32 0x%08x", bits);
        } else if (e->nfields == 0) { /* F16, BF16 */
            const uint16_t bits = e->id == G2_GGML_F16 ? h
                                                       : (uint16_t)(h == 0x7C00   ? 0x7F80
                                                                    : h == 0xFC00 ? 0xFF80
                                                                                  : 0x7FC1);
            block[0] = (unsigned char)bits;
            block[1] = (unsigned char)(bits >> 8);
            CHECK(g2_ggml_dequantize(e->id, block, 1, out) == -1, "%s 0x%04x", e->name, bits);
        } else {
            for (int f = 0; f < e->nfields; f++) {
                for (uint32_t b = 0; b < fx->n / e->elems; b++) { /* all kinds of blocks */
                    memcpy(block, fx->raw + (size_t)b * e->bytes, e->bytes);
                    block[e->f16_fields[f]] = (unsigned char)h;
                    block[e->f16_fields[f] + 1] = (unsigned char)(h >> 8);
                    CHECK(g2_ggml_dequantize(e->id, block, e->elems, out) == -1,
                           "%s block %u, field at %d = 0x%04x", e->name, b, e->f16_fields[f], h);
                    if (e->exact_q8) {
                        int8_t qs[32];
                        uint16_t d;
                        CHECK(g2_ggml_to_q8(e->id, block, 32, qs, &d) == 0, "%s: to_q8 of scale 0x%04x",
                               e->name, h);
                    }
                }
            }
        }
    }
    free(block);
    free(out);
}

static void test_fixtures(const char *dir) {
    for (size_t t = 0; t < N_TYPES; t++) {
        const expected_type *e = &types[t];
        fixture fx = {0};
        if (load_fixture(dir, e->file, &fx) != 0) {
            CHECK(0, "cannot read fixture %s/%s", dir, e->file);
            free(fx.raw);
            free(fx.expected);
            continue;
        }
        CHECK(fx.type == e->id, "%s holds type %u", e->file, fx.type);
        CHECK(fx.n > 0 && fx.n % e->elems == 0 && g2_ggml_row_bytes(e->id, fx.n) == fx.raw_bytes,
               "%s: %u elements in %u bytes", e->file, fx.n, fx.raw_bytes);
        if (fx.type == e->id && g2_ggml_row_bytes(e->id, fx.n) == fx.raw_bytes) {
            check_dequantize(e, &fx, 0);
            check_dequantize(e, &fx, 1); /* GGUF data is packed: any address */
            check_dequantize(e, &fx, 3);
            if (e->exact_q8)
                check_to_q8(e, &fx);
            else {
                int8_t *qs = malloc(fx.n);
                uint16_t *d = malloc(fx.n / 32 * sizeof *d + 2);
                CHECK(g2_ggml_to_q8(e->id, fx.raw, fx.n / 32 * 32, qs, d) == 0, "%s is not exact in q8",
                       e->name);
                free(qs);
                free(d);
            }
            check_non_finite(e, &fx);
        }
        free(fx.raw);
        free(fx.expected);
    }
}

static void test_misuse(void) {
    float out[256];
    unsigned char zeros[292] = {0};
    CHECK(g2_ggml_dequantize(G2_GGML_Q8_K, zeros, 256, out) == -1, "unsupported type");
    CHECK(g2_ggml_dequantize(99, zeros, 32, out) == -1, "unknown type");
    CHECK(g2_ggml_dequantize(G2_GGML_Q4_K, zeros, 255, out) == -1, "ragged n");
    CHECK(g2_ggml_dequantize(G2_GGML_Q4_0, NULL, 0, NULL) == 0, "zero elements");
    int8_t qs[256];
    uint16_t d[8];
    CHECK(g2_ggml_to_q8(G2_GGML_Q8_1, zeros, 32, qs, d) == 0, "Q8_1 is not repacked");
    CHECK(g2_ggml_to_q8(99, zeros, 32, qs, d) == 0, "unknown type");
    /* a zero block of each exact type is exact */
    CHECK(g2_ggml_to_q8(G2_GGML_Q8_0, zeros, 32, qs, d) == 1 && qs[5] == 0 && d[0] == 0, "zero Q8_0");
    CHECK(g2_ggml_to_q8(G2_GGML_Q4_0, zeros, 32, qs, d) == 1 && qs[5] == -8, "zero Q4_0 quants are -8");
    CHECK(g2_ggml_to_q8(G2_GGML_Q5_0, zeros, 32, qs, d) == 1 && qs[5] == -16, "zero Q5_0 quants are -16");
    CHECK(g2_ggml_to_q8(G2_GGML_IQ4_NL, zeros, 32, qs, d) == 1 && qs[5] == -127, "IQ4_NL level 0 is -127");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR (tests/data/ggml_blocks)\n", argv[0]);
        return 2;
    }
    test_type_table();
    test_row_bytes();
    test_fixtures(argv[1]);
    test_misuse();
    return tu_finish("test_ggml_blocks");
}
