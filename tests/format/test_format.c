/* SPDX-License-Identifier: Apache-2.0 */
/* Model file validation: every damaged or hostile variant of a good file gets the
 * right status and a message saying what is wrong, never a crash.
 * usage: test_format MODEL COMPRESSED_MODEL_OF_SAME_CHECKPOINT TMPDIR TOKENIZER_BLOB */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "gemma2.h"
#include "model/format.h"
#include "testutil.h"

static unsigned char *good;
static size_t good_size;
static const char *tmpdir;

static g2_file_header header_of(const unsigned char *file) {
    g2_file_header h;
    memcpy(&h, file, sizeof h);
    return h;
}

/* Recomputes the header digest, so a test reaches the checks behind it. */
static void rehash(unsigned char *file) {
    g2_file_header h = header_of(file);
    memset(h.header_digest, 0, sizeof h.header_digest);
    memcpy(file, &h, sizeof h);
    crypto_generichash(h.header_digest, G2_DIGEST_LEN, file, h.data_offset, NULL, 0);
    memcpy(file, &h, sizeof h);
}

static g2_file_tensor entry(const unsigned char *file, uint32_t i) {
    g2_file_header h = header_of(file);
    g2_file_tensor e;
    memcpy(&e, file + h.dir_offset + (size_t)i * sizeof e, sizeof e);
    return e;
}

static void set_entry(unsigned char *file, uint32_t i, const g2_file_tensor *e) {
    g2_file_header h = header_of(file);
    memcpy(file + h.dir_offset + (size_t)i * sizeof *e, e, sizeof *e);
}

/* Writes bytes to a temp file, opens it, and checks status and message. */
static void expect_open(const char *what, const unsigned char *bytes, size_t size, uint32_t flags,
                        gemma2_status expected, const char *message_part) {
    char path[4096];
    snprintf(path, sizeof path, "%s/format-case.g2", tmpdir);
    if (tu_write_file(path, bytes, size) != 0) {
        CHECK(0, "%s: cannot write %s", what, path);
        return;
    }
    gemma2_model_options o;
    gemma2_model_options_init(&o, sizeof o);
    o.flags = flags;
    gemma2_model *m = (gemma2_model *)1;
    gemma2_status st = gemma2_model_open(path, &o, &m);
    CHECK(st == expected, "%s: status %d (%s), expected %d", what, (int)st, gemma2_last_error(),
          (int)expected);
    CHECK(st != GEMMA2_OK || m != NULL, "%s: OK without a model", what);
    CHECK(st == GEMMA2_OK || m == NULL, "%s: *out not NULL on failure", what);
    if (message_part)
        CHECK(strstr(gemma2_last_error(), message_part) != NULL, "%s: message '%s' lacks '%s'", what,
              gemma2_last_error(), message_part);
    gemma2_model_close(m);
}

static unsigned char *copy_good(void) {
    unsigned char *b = malloc(good_size);
    memcpy(b, good, good_size);
    return b;
}

static void test_round_trip(const char *path) {
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(path, NULL, &m), GEMMA2_OK);
    if (!m)
        return;
    g2_file_header h = header_of(good);
    g2_file_config c;
    memcpy(&c, good + h.config_offset, sizeof c);
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    CHECK_STATUS(gemma2_model_get_info(m, &mi), GEMMA2_OK);
    CHECK(mi.vocab_size == c.vocab_size && mi.hidden_size == c.hidden_size && mi.n_layers == c.n_layers &&
              mi.head_dim == c.head_dim && mi.n_tensors == h.n_tensors && mi.file_size == good_size,
          "model info differs from the file's config");
    CHECK(mi.n_tensors == 2 + 11 * mi.n_layers, "%u tensors for %u layers", (unsigned)mi.n_tensors,
          (unsigned)mi.n_layers);
    uint8_t d[GEMMA2_DIGEST_BYTES];
    CHECK_STATUS(gemma2_model_digest(m, d, sizeof d), GEMMA2_OK);
    CHECK(memcmp(d, h.header_digest, sizeof d) == 0, "digest is not the header digest");
    CHECK_STATUS(gemma2_model_digest(m, d, sizeof d - 1), GEMMA2_ERR_BUFFER_TOO_SMALL);
    for (uint32_t i = 0; i < mi.n_tensors; i++) {
        gemma2_tensor_info ti;
        gemma2_tensor_info_init(&ti, sizeof ti);
        CHECK_STATUS(gemma2_model_tensor_info(m, i, &ti), GEMMA2_OK);
        g2_file_tensor e = entry(good, i);
        CHECK(ti.name && strcmp(ti.name, e.name) == 0 && ti.n_bytes == e.raw_size, "tensor %u info",
              (unsigned)i);
        CHECK_STATUS(gemma2_model_verify_tensor(m, i), GEMMA2_OK);
    }
    CHECK_STATUS(gemma2_model_verify(m, 2), GEMMA2_OK);
    /* pinning the digest: the right one opens, another is refused */
    gemma2_model_options o;
    gemma2_model_options_init(&o, sizeof o);
    o.expected_digest = d;
    gemma2_model *m2 = NULL;
    CHECK_STATUS(gemma2_model_open(path, &o, &m2), GEMMA2_OK);
    gemma2_model_close(m2);
    d[0] ^= 1;
    CHECK_STATUS(gemma2_model_open(path, &o, &m2), GEMMA2_ERR_CHECKSUM);
    gemma2_model_close(m);
}

static void test_tensor_corruption(void) {
    g2_file_header h = header_of(good);
    for (uint32_t i = 0; i < h.n_tensors; i += h.n_tensors / 5 + 1) {
        g2_file_tensor e = entry(good, i);
        unsigned char *b = copy_good();
        b[h.data_offset + e.offset + e.stored_size / 2] ^= 0x10;
        char what[256];
        snprintf(what, sizeof what, "flipped byte in tensor %s", e.name);
        expect_open(what, b, good_size, 0, GEMMA2_ERR_CHECKSUM, e.name);
        /* skipping verification opens it; checking that tensor finds it */
        expect_open("flipped byte, verification skipped", b, good_size, GEMMA2_MODEL_SKIP_VERIFY, GEMMA2_OK,
                    NULL);
        free(b);
    }
}

static void test_truncation(void) {
    g2_file_header h = header_of(good);
    const uint64_t cuts[] = {0,
                             7,
                             100,
                             sizeof h - 1,
                             sizeof h,
                             h.config_offset + 4,
                             h.meta_offset + 1,
                             h.dir_offset + 300,
                             h.data_offset,
                             h.data_offset + 1,
                             good_size / 2,
                             good_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %llu bytes", (unsigned long long)cuts[i]);
        expect_open(what, good, (size_t)cuts[i], 0, GEMMA2_ERR_FORMAT, NULL);
    }
    /* at every section boundary and every tensor's first and last byte, and one byte
     * either side: the file-size check names the sizes */
    uint64_t bounds[8 + 2 * 1024];
    size_t nb = 0;
    bounds[nb++] = h.config_offset;
    bounds[nb++] = h.config_offset + h.config_size;
    bounds[nb++] = h.meta_offset;
    bounds[nb++] = h.meta_offset + h.meta_size;
    bounds[nb++] = h.dir_offset;
    bounds[nb++] = h.dir_offset + h.dir_size;
    bounds[nb++] = h.data_offset;
    for (uint32_t i = 0; i < h.n_tensors && i < 1024; i++) {
        g2_file_tensor e = entry(good, i);
        bounds[nb++] = h.data_offset + e.offset;
        bounds[nb++] = h.data_offset + e.offset + e.stored_size;
    }
    for (size_t i = 0; i < nb; i++)
        for (int d = -1; d <= 1; d++) {
            const uint64_t cut = bounds[i] + (uint64_t)(int64_t)d;
            if (cut >= good_size)
                continue;
            char what[64];
            snprintf(what, sizeof what, "truncated to %llu bytes", (unsigned long long)cut);
            expect_open(what, good, (size_t)cut, 0, GEMMA2_ERR_FORMAT, "bytes");
        }
    /* appended garbage is refused as well: the header records the size */
    unsigned char *b = malloc(good_size + 10);
    memcpy(b, good, good_size);
    memset(b + good_size, 0xAB, 10);
    expect_open("appended bytes", b, good_size + 10, 0, GEMMA2_ERR_FORMAT, "size");
    free(b);
}

static void test_header(void) {
    unsigned char *b = copy_good();
    b[0] ^= 0xFF;
    expect_open("bad magic", b, good_size, 0, GEMMA2_ERR_FORMAT, "magic");
    free(b);

    b = copy_good();
    uint32_t v = G2_FORMAT_VERSION + 1;
    memcpy(b + offsetof(g2_file_header, version), &v, sizeof v);
    char future[32];
    snprintf(future, sizeof future, "version %u", (unsigned)v);
    expect_open("future version", b, good_size, 0, GEMMA2_ERR_VERSION, future);
    free(b);

    b = copy_good();
    v = 0;
    memcpy(b + offsetof(g2_file_header, version), &v, sizeof v);
    expect_open("version 0", b, good_size, 0, GEMMA2_ERR_VERSION, "version 0");
    free(b);

    g2_file_header h = header_of(good);
    b = copy_good();
    b[h.config_offset + 5] ^= 0x01;
    expect_open("flipped config byte", b, good_size, 0, GEMMA2_ERR_CHECKSUM, "header digest");
    free(b);

    b = copy_good();
    b[h.dir_offset + 3] ^= 0x01;
    expect_open("flipped directory byte", b, good_size, 0, GEMMA2_ERR_CHECKSUM, "header digest");
    free(b);
}

/* A bit flipped anywhere in the header region is caught (the header digest, or the
 * magic, version and sizes read before it), with a message. */
static void test_header_bit_flips(void) {
    g2_file_header h = header_of(good);
    unsigned char *b = copy_good();
    size_t flips = 0;
    for (uint64_t at = 0; at < h.data_offset; at += 5) {
        b[at] ^= (unsigned char)(1u << (at % 8));
        char path[4096];
        snprintf(path, sizeof path, "%s/format-flip.g2", tmpdir);
        gemma2_model *m = NULL;
        gemma2_status st = tu_write_file(path, b, good_size) == 0 ? gemma2_model_open(path, NULL, &m) : -1;
        CHECK((st == GEMMA2_ERR_CHECKSUM || st == GEMMA2_ERR_FORMAT || st == GEMMA2_ERR_VERSION) && !m &&
                  gemma2_last_error()[0],
              "bit %u of byte %llu flipped: status %d (%s)", (unsigned)(at % 8), (unsigned long long)at, (int)st,
              gemma2_last_error());
        gemma2_model_close(m);
        b[at] ^= (unsigned char)(1u << (at % 8));
        flips++;
    }
    CHECK(flips > 100, "only %zu flips", flips);
    free(b);
}

/* Mutates one config field (and rehashes), expecting a format error. */
static void config_case(const char *what, size_t field_offset, uint32_t value, const char *message_part) {
    g2_file_header h = header_of(good);
    unsigned char *b = copy_good();
    memcpy(b + h.config_offset + field_offset, &value, sizeof value);
    rehash(b);
    expect_open(what, b, good_size, 0, GEMMA2_ERR_FORMAT, message_part);
    free(b);
}

static void test_absurd_config(void) {
    config_case("hidden_size 2^32-1", offsetof(g2_file_config, hidden_size), 0xFFFFFFFFu, "hidden_size");
    config_case("vocab_size 0", offsetof(g2_file_config, vocab_size), 0, "vocab_size");
    config_case("n_layers 2^31", offsetof(g2_file_config, n_layers), 0x80000000u, "n_layers");
    config_case("heads not a multiple of kv heads", offsetof(g2_file_config, n_kv_heads), 3, "multiple");
    config_case("odd head_dim", offsetof(g2_file_config, head_dim), 33, "head_dim");
    config_case("eos outside the vocabulary", offsetof(g2_file_config, eos_id), 1u << 20, "special token");
    config_case("unknown activation", offsetof(g2_file_config, activation), 7, "activation");
    /* a consistent but different hidden size: tensors no longer fit the config */
    g2_file_header h = header_of(good);
    g2_file_config c;
    memcpy(&c, good + h.config_offset, sizeof c);
    config_case("hidden_size changed", offsetof(g2_file_config, hidden_size), c.hidden_size * 2, "shape");
    config_case("layer kind 9", sizeof(g2_file_config), 9, "kind");
}

/* Mutates tensor entry i with fn (and rehashes), expecting a format error. */
static void dir_case(const char *what, uint32_t i, void (*fn)(g2_file_tensor *, const g2_file_header *),
                     const char *message_part) {
    unsigned char *b = copy_good();
    g2_file_header h = header_of(b);
    g2_file_tensor e = entry(b, i);
    fn(&e, &h);
    set_entry(b, i, &e);
    rehash(b);
    expect_open(what, b, good_size, 0, GEMMA2_ERR_FORMAT, message_part);
    free(b);
}

static void dims_overflow(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    e->dims[0] = (uint64_t)1 << 40;
    e->dims[1] = (uint64_t)1 << 40;
}
static void size_mismatch(g2_file_tensor *e, const g2_file_header *h) { (void)h, e->raw_size += 4; }
static void beyond_end(g2_file_tensor *e, const g2_file_header *h) { e->offset = h->data_size - 64; }
static void offset_wraps(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    e->offset = UINT64_MAX - 63;
}
static void overlap_first(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    e->offset = 0; /* where tensor 0 lives */
}
static void bad_type(g2_file_tensor *e, const g2_file_header *h) { (void)h, e->type = 77; }
static void stale_name_bytes(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    e->name[sizeof e->name - 1] = 'x';
}
static void reserved_set(g2_file_tensor *e, const g2_file_header *h) { (void)h, e->reserved[3] = 1; }
static void claims_compressed(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    e->compression = 1; /* the header does not say the file is compressed */
}
static void unterminated(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    memset(e->name, 'x', sizeof e->name);
}
static void duplicate_name(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    memset(e->name, 0, sizeof e->name);
    snprintf(e->name, sizeof e->name, "model.embed_tokens.weight");
}
static void renamed(g2_file_tensor *e, const g2_file_header *h) {
    (void)h;
    memset(e->name, 0, sizeof e->name);
    snprintf(e->name, sizeof e->name, "model.something.else");
}

static void test_hostile_directory(void) {
    dir_case("dimensions overflow", 1, dims_overflow, NULL);
    dir_case("raw size does not match shape", 1, size_mismatch, "does not match its shape");
    dir_case("tensor beyond the data section", 1, beyond_end, "outside the data section");
    dir_case("offset wraps around", 1, offset_wraps, "outside the data section");
    dir_case("overlapping tensors", 1, overlap_first, "overlap");
    dir_case("unknown type", 1, bad_type, "unknown type");
    dir_case("unterminated name", 1, unterminated, "name");
    dir_case("duplicate name", 1, duplicate_name, "twice");
    dir_case("bytes after the name", 1, stale_name_bytes, "after its terminator");
    dir_case("reserved bytes set", 1, reserved_set, "reserved");
    dir_case("compressed tensor in a plain file", 1, claims_compressed, "compressed flag");
    dir_case("required tensor missing", 1, renamed, "missing");
    /* absurd tensor count */
    unsigned char *b = copy_good();
    g2_file_header h = header_of(b);
    h.n_tensors = 0xFFFFFFFFu;
    memcpy(b, &h, sizeof h);
    rehash(b);
    expect_open("absurd tensor count", b, good_size, 0, GEMMA2_ERR_FORMAT, "directory");
    free(b);
    /* metadata that claims more bytes than its frame holds */
    b = copy_good();
    h = header_of(b);
    h.meta_raw_size += 1;
    memcpy(b, &h, sizeof h);
    rehash(b);
    expect_open("metadata size lie", b, good_size, 0, GEMMA2_ERR_FORMAT, "metadata");
    free(b);
}

/* The compressed file of the same checkpoint opens to bit-identical logits. */
static void test_compressed(const char *plain, const char *compressed) {
    const char *paths[2] = {plain, compressed};
    float *logits[2] = {NULL, NULL};
    size_t vocab = 0;
    const int32_t prompt[] = {2, 5, 9, 14, 3, 7};
    for (int k = 0; k < 2; k++) {
        gemma2_model *m = NULL;
        gemma2_session *s = NULL;
        CHECK_STATUS(gemma2_model_open(paths[k], NULL, &m), GEMMA2_OK);
        if (!m)
            return;
        gemma2_model_info mi;
        gemma2_model_info_init(&mi, sizeof mi);
        gemma2_model_get_info(m, &mi);
        CHECK(mi.compressed == (uint32_t)k, "%s: compressed flag %u", paths[k], (unsigned)mi.compressed);
        CHECK_STATUS(gemma2_session_new(m, NULL, &s), GEMMA2_OK);
        vocab = gemma2_model_vocab_size(m);
        logits[k] = calloc(6 * vocab, sizeof(float));
        gemma2_feed_outputs out;
        gemma2_feed_outputs_init(&out, sizeof out);
        out.logits = logits[k];
        out.logits_cap = 6 * vocab;
        CHECK_STATUS(gemma2_session_feed_outputs(s, prompt, 6, &out), GEMMA2_OK);
        gemma2_session_free(s);
        gemma2_model_close(m);
    }
    CHECK(memcmp(logits[0], logits[1], 6 * vocab * sizeof(float)) == 0,
          "compressed file gives different logits");
    free(logits[0]);
    free(logits[1]);
}

/* A zstd frame put in place of compressed tensor i: content `content` bytes of zeros,
 * its frame header patched to declare `declared` bytes. Returns the file (malloc'd). */
static unsigned char *with_frame(const unsigned char *file, size_t size, uint32_t i, size_t content,
                                 uint64_t declared) {
    g2_file_header h = header_of(file);
    g2_file_tensor e = entry(file, i);
    unsigned char *zeros = calloc(content ? content : 1, 1);
    size_t cap = ZSTD_compressBound(content);
    unsigned char *frame = malloc(cap);
    size_t len = ZSTD_compress(frame, cap, zeros, content, 1);
    free(zeros);
    unsigned char *b = NULL;
    /* the frame content size field (RFC 8878 3.1.1.1): after the magic, the descriptor,
     * the window descriptor unless single-segment, and the dictionary id */
    const unsigned fhd = len >= 5 && !ZSTD_isError(len) ? frame[4] : 0;
    const unsigned fcs_bytes[4] = {(fhd >> 5) & 1 ? 1u : 0u, 2, 4, 8}, did_bytes[4] = {0, 1, 2, 4};
    const size_t fcs_at = 5 + ((fhd >> 5) & 1 ? 0 : 1) + did_bytes[fhd & 3], fcs_len = fcs_bytes[fhd >> 6];
    if (len < 5 || ZSTD_isError(len) || len > e.stored_size || fcs_len < 4 || fcs_at + fcs_len > len) {
        CHECK(0, "cannot build a frame for tensor %s (%zu bytes)", e.name, len);
        free(frame);
        return NULL;
    }
    memcpy(frame + fcs_at, &declared, fcs_len); /* little-endian, as the format */
    b = malloc(size);
    memcpy(b, file, size);
    memcpy(b + h.data_offset + e.offset, frame, len);
    e.stored_size = len;
    set_entry(b, i, &e);
    rehash(b);
    free(frame);
    return b;
}

/* zstd frames that do not decompress to the tensor's size are refused, naming the
 * tensor, whatever their header declares. */
static void test_zstd_frames(const char *compressed) {
    size_t size = 0;
    unsigned char *file = tu_read_file(compressed, &size);
    if (!file) {
        CHECK(0, "cannot read %s", compressed);
        return;
    }
    g2_file_header h = header_of(file);
    uint32_t i = 0;
    g2_file_tensor e;
    for (; i < h.n_tensors; i++)
        if ((e = entry(file, i)).compression && e.raw_size >= 4096 && e.stored_size >= 128)
            break;
    CHECK(i < h.n_tensors, "no compressed tensor in %s", compressed);
    if (i == h.n_tensors) {
        free(file);
        return;
    }
    const struct {
        const char *what;
        size_t content;
        uint64_t declared;
    } cases[] = {
        {"frame declaring its size but holding more", (size_t)e.raw_size + 4096, e.raw_size},
        {"frame declaring its size but holding less", (size_t)e.raw_size - 1024, e.raw_size},
        {"frame declaring more", (size_t)e.raw_size + 4096, e.raw_size + 4096},
        {"frame declaring an absurd size", (size_t)e.raw_size, UINT64_MAX / 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *b = with_frame(file, size, i, cases[k].content, cases[k].declared);
        if (!b)
            continue;
        expect_open(cases[k].what, b, size, GEMMA2_MODEL_SKIP_VERIFY, GEMMA2_ERR_FORMAT, e.name);
        free(b);
    }
    /* the same frame with its true size opens (tensor digests skipped: zeros) */
    unsigned char *b = with_frame(file, size, i, (size_t)e.raw_size, e.raw_size);
    if (b)
        expect_open("a frame of the right size", b, size, GEMMA2_MODEL_SKIP_VERIFY, GEMMA2_OK, NULL);
    free(b);
    free(file);
}

/* Damaged tokenizer data (a model file's "tokenizer" record, loaded by the same code
 * on open) is refused with a message naming the problem. */
static void expect_tokenizer(const char *what, const unsigned char *blob, size_t size, gemma2_status expected,
                             const char *message_part) {
    gemma2_tokenizer *tok = (gemma2_tokenizer *)1;
    gemma2_status st = gemma2_tokenizer_load(blob, size, &tok);
    CHECK(st == expected && (st == GEMMA2_OK) == (tok != NULL), "%s: status %d (%s), expected %d", what, (int)st,
          gemma2_last_error(), (int)expected);
    if (message_part)
        CHECK(strstr(gemma2_last_error(), message_part) != NULL, "%s: message '%s' lacks '%s'", what,
              gemma2_last_error(), message_part);
    gemma2_tokenizer_free(st == GEMMA2_OK ? tok : NULL);
}

static void test_hostile_tokenizer(const char *blob_path) {
    size_t size = 0;
    unsigned char *good_blob = tu_read_file(blob_path, &size);
    if (!good_blob || size < 64 + 8) {
        CHECK(0, "cannot read %s", blob_path);
        free(good_blob);
        return;
    }
    expect_tokenizer("the good blob", good_blob, size, GEMMA2_OK, NULL);
    unsigned char *b = malloc(size);
    /* the first piece record of a normal piece, at 64 + (type, flags, len) */
    size_t at = 64, normal = 0;
    for (uint32_t i = 0; at + 4 <= size && !normal && i < 100000; i++) {
        uint16_t len;
        memcpy(&len, good_blob + at + 2, 2);
        if (good_blob[at] == 1 && len >= 1)
            normal = at;
        else
            at += 4 + len;
    }
    CHECK(normal, "no normal piece in %s", blob_path);
    const struct {
        const char *what;
        size_t at;
        unsigned char value;
        const char *message;
    } edits[] = {
        {"piece with invalid UTF-8", normal + 4, 0xFF, "not valid UTF-8"},
        {"piece with an overlong UTF-8 form", normal + 4, 0xC0, "not valid UTF-8"},
        {"piece of absurd length", normal + 3, 0xFF, "bad length"},
        {"piece of length 0", normal + 2, 0, NULL},
        {"piece of unknown type", normal, 9, "unknown type"},
        {"piece count past the data", 8 + 3, 0x7F, NULL},
        {"merge count past the data", 12 + 3, 0x7F, NULL},
        {"unknown version", 4, 9, "version"},
    };
    for (size_t k = 0; normal && k < sizeof edits / sizeof edits[0]; k++) {
        memcpy(b, good_blob, size);
        b[edits[k].at] = edits[k].value;
        if (edits[k].at == normal + 2)
            b[normal + 3] = 0; /* both bytes of the length */
        expect_tokenizer(edits[k].what, b, size,
                         edits[k].at == 4 ? GEMMA2_ERR_VERSION : GEMMA2_ERR_FORMAT, edits[k].message);
    }
    /* a merge naming a piece out of range: the last 16 bytes are a merge record */
    memcpy(b, good_blob, size);
    uint32_t n_merges;
    memcpy(&n_merges, good_blob + 12, 4);
    if (n_merges) {
        memset(b + size - 16, 0x7F, 4);
        expect_tokenizer("merge out of range", b, size, GEMMA2_ERR_FORMAT, "out of range");
    }
    for (size_t cut = 0; cut < size; cut += size / 37 + 1)
        expect_tokenizer("truncated tokenizer data", good_blob, cut, GEMMA2_ERR_FORMAT, NULL);
    free(b);
    free(good_blob);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL COMPRESSED_MODEL TMPDIR TOKENIZER_BLOB\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0 || !(good = tu_read_file(argv[1], &good_size)))
        return 1;
    tmpdir = argv[3];
    test_round_trip(argv[1]);
    test_tensor_corruption();
    test_truncation();
    test_header();
    test_absurd_config();
    test_hostile_directory();
    test_compressed(argv[1], argv[2]);
    test_header_bit_flips();
    test_zstd_frames(argv[2]);
    test_hostile_tokenizer(argv[4]);
    free(good);
    return tu_finish("test_format");
}
