/* SPDX-License-Identifier: Apache-2.0 */
/* API misuse returns the documented status with a message, never a crash: NULL
 * handles and pointers, bad struct sizes, token ids out of range, feeding past the
 * context, stepping before feeding, model closed before its sessions.
 * usage: test_misuse MODEL */
#include <stdlib.h>
#include <string.h>

#include "gemma2.h"
#include "testutil.h"

#define EXPECT(call, status)                                                \
    do {                                                                    \
        CHECK_STATUS(call, status);                                         \
        if ((status) != GEMMA2_OK)                                          \
            CHECK(gemma2_last_error()[0] != '\0', "%s: no message", #call); \
    } while (0)

static void test_null_handles(void) {
    gemma2_model *m = (gemma2_model *)1;
    EXPECT(gemma2_model_open(NULL, NULL, &m), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL, "*out not cleared");
    EXPECT(gemma2_model_open("x", NULL, NULL), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_model_open("/nonexistent/model.g2", NULL, &m), GEMMA2_ERR_IO);
    EXPECT(gemma2_model_open("/", NULL, &m), GEMMA2_ERR_IO);
    gemma2_model_close(NULL);
    gemma2_session_free(NULL);
    gemma2_model_info mi;
    gemma2_model_info_init(&mi, sizeof mi);
    EXPECT(gemma2_model_get_info(NULL, &mi), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK(gemma2_model_vocab_size(NULL) == 0 && gemma2_model_context_length(NULL) == 0, "NULL getters");
    int32_t kind;
    EXPECT(gemma2_model_layer_kind(NULL, 0, &kind), GEMMA2_ERR_INVALID_ARGUMENT);
    uint8_t d[32];
    EXPECT(gemma2_model_digest(NULL, d, sizeof d), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_model_verify(NULL, 0), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_model_verify_tensor(NULL, 0), GEMMA2_ERR_INVALID_ARGUMENT);
    gemma2_session *s = (gemma2_session *)1;
    EXPECT(gemma2_session_new(NULL, NULL, &s), GEMMA2_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL, "*out not cleared");
    int32_t tok = 2;
    EXPECT(gemma2_session_feed(NULL, &tok, 1), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_session_feed_outputs(NULL, &tok, 1, NULL), GEMMA2_ERR_INVALID_ARGUMENT);
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    EXPECT(gemma2_session_step(NULL, &r), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_session_reset(NULL), GEMMA2_ERR_INVALID_ARGUMENT);
    const float *logits;
    size_t nv;
    EXPECT(gemma2_session_logits(NULL, &logits, &nv), GEMMA2_ERR_INVALID_ARGUMENT);
    uint32_t pos;
    EXPECT(gemma2_session_position(NULL, &pos), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_model_options_init(NULL, 16), GEMMA2_ERR_INVALID_ARGUMENT);
}

static void test_strings(void) {
    for (int32_t st = -5; st < 40; st++)
        CHECK(gemma2_status_string(st) != NULL && gemma2_status_string(st)[0], "status %d", (int)st);
    CHECK(strcmp(gemma2_status_string(GEMMA2_ERR_CHECKSUM), gemma2_status_string(GEMMA2_OK)) != 0, "names");
    CHECK(gemma2_version() == GEMMA2_VERSION_NUMBER, "header/library version mismatch");
    CHECK(strcmp(gemma2_version_string(), GEMMA2_VERSION_STRING) == 0, "version string");
    CHECK(gemma2_abi_version() == GEMMA2_ABI_VERSION, "abi version");
    CHECK(gemma2_digest_bytes() == GEMMA2_DIGEST_BYTES, "digest bytes");
    CHECK(strcmp(gemma2_type_name(GEMMA2_TYPE_BF16), "bf16") == 0, "type name");
    CHECK(strcmp(gemma2_type_name(99), "unknown") == 0, "unknown type name");
    /* a successful call clears the message */
    gemma2_model_options o;
    CHECK_STATUS(gemma2_model_options_init(&o, sizeof o), GEMMA2_OK);
    CHECK(gemma2_last_error()[0] == '\0', "message after success: %s", gemma2_last_error());
}

static void test_struct_sizes(const char *path) {
    /* init with a larger size (a newer caller) zero-fills the tail */
    unsigned char big[sizeof(gemma2_model_options) + 16];
    memset(big, 0xEE, sizeof big);
    CHECK_STATUS(gemma2_model_options_init((gemma2_model_options *)big, sizeof big), GEMMA2_OK);
    for (size_t i = sizeof(gemma2_model_options); i < sizeof big; i++)
        CHECK(big[i] == 0, "tail byte %zu not zeroed", i);
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(path, (gemma2_model_options *)big, &m), GEMMA2_OK);
    gemma2_model_close(m);
    /* a newer caller that sets a field this library lacks is refused */
    big[sizeof big - 1] = 1;
    m = NULL;
    EXPECT(gemma2_model_open(path, (gemma2_model_options *)big, &m), GEMMA2_ERR_UNSUPPORTED);
    /* struct_size never set (zero) or garbage */
    gemma2_model_options zero;
    memset(&zero, 0, sizeof zero);
    EXPECT(gemma2_model_open(path, &zero, &m), GEMMA2_ERR_INVALID_ARGUMENT);
    zero.struct_size = 0x7FFFFFFF;
    EXPECT(gemma2_model_open(path, &zero, &m), GEMMA2_ERR_INVALID_ARGUMENT);
    /* an older, shorter caller struct: only struct_size and n_threads */
    gemma2_model_options old;
    gemma2_model_options_init(&old, 8);
    CHECK(old.struct_size == 8, "struct_size %u", (unsigned)old.struct_size);
    CHECK_STATUS(gemma2_model_open(path, &old, &m), GEMMA2_OK);
    gemma2_model_info small;
    gemma2_model_info_init(&small, 12); /* struct_size, format_version, vocab_size */
    small.hidden_size = 12345;          /* beyond the caller's size: must stay untouched */
    CHECK_STATUS(gemma2_model_get_info(m, &small), GEMMA2_OK);
    CHECK(small.vocab_size == gemma2_model_vocab_size(m) && small.hidden_size == 12345, "partial info write");
    gemma2_model_options bad;
    gemma2_model_options_init(&bad, sizeof bad);
    bad.flags = 0x80;
    gemma2_model *m2 = NULL;
    EXPECT(gemma2_model_open(path, &bad, &m2), GEMMA2_ERR_UNSUPPORTED);
    bad.flags = 0;
    bad.n_threads = -1;
    EXPECT(gemma2_model_open(path, &bad, &m2), GEMMA2_ERR_INVALID_ARGUMENT);
    gemma2_model_close(m);
}

static void test_sessions(const char *path) {
    gemma2_model *m = NULL;
    CHECK_STATUS(gemma2_model_open(path, NULL, &m), GEMMA2_OK);
    if (!m)
        return;
    const uint32_t vocab = gemma2_model_vocab_size(m);
    gemma2_session_options o;
    gemma2_session_options_init(&o, sizeof o);
    gemma2_session *s = NULL;
    o.n_ctx = gemma2_model_context_length(m) + 1;
    EXPECT(gemma2_session_new(m, &o, &s), GEMMA2_ERR_INVALID_ARGUMENT);
    o.n_ctx = 8;
    o.n_threads = 2;
    CHECK_STATUS(gemma2_session_new(m, &o, &s), GEMMA2_OK);
    if (!s) {
        gemma2_model_close(m);
        return;
    }
    gemma2_step_result r;
    gemma2_step_result_init(&r, sizeof r);
    EXPECT(gemma2_session_step(s, &r), GEMMA2_ERR_STATE);
    const float *logits;
    size_t nv;
    EXPECT(gemma2_session_logits(s, &logits, &nv), GEMMA2_ERR_STATE);
    CHECK(logits == NULL && nv == 0, "outputs not cleared");
    int32_t bad_ids[3][2] = {{2, -1}, {2, (int32_t)vocab}, {2, INT32_MAX}};
    for (int i = 0; i < 3; i++)
        EXPECT(gemma2_session_feed(s, bad_ids[i], 2), GEMMA2_ERR_TOKEN_OUT_OF_RANGE);
    int32_t ok[9] = {2, 5, 6, 7, 8, 9, 10, 11, 12};
    EXPECT(gemma2_session_feed(s, ok, 0), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_session_feed(s, NULL, 3), GEMMA2_ERR_INVALID_ARGUMENT);
    EXPECT(gemma2_session_feed(s, ok, 9), GEMMA2_ERR_CONTEXT_FULL);
    uint32_t pos = 99;
    CHECK_STATUS(gemma2_session_position(s, &pos), GEMMA2_OK);
    CHECK(pos == 0, "a refused feed moved the session to %u", (unsigned)pos);
    CHECK_STATUS(gemma2_session_feed(s, ok, 6), GEMMA2_OK);
    float saved[8];
    CHECK_STATUS(gemma2_session_logits(s, &logits, &nv), GEMMA2_OK);
    CHECK(nv == vocab, "n_vocab %zu", nv);
    memcpy(saved, logits, sizeof saved);
    EXPECT(gemma2_session_feed(s, ok, 3), GEMMA2_ERR_CONTEXT_FULL);
    CHECK_STATUS(gemma2_session_logits(s, &logits, &nv), GEMMA2_OK);
    CHECK(memcmp(saved, logits, sizeof saved) == 0, "a refused feed changed the logits");
    /* feed outputs with too small buffers are refused before anything runs */
    float small[4];
    gemma2_feed_outputs out;
    gemma2_feed_outputs_init(&out, sizeof out);
    out.logits = small;
    out.logits_cap = 4;
    EXPECT(gemma2_session_feed_outputs(s, ok, 1, &out), GEMMA2_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(gemma2_session_position(s, &pos), GEMMA2_OK);
    CHECK(pos == 6, "position %u", (unsigned)pos);
    /* two steps fill the context; the third is refused and changes nothing */
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    CHECK(r.token >= 0 && (uint32_t)r.token < vocab, "token %d", (int)r.token);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    EXPECT(gemma2_session_step(s, &r), GEMMA2_ERR_CONTEXT_FULL);
    CHECK_STATUS(gemma2_session_position(s, &pos), GEMMA2_OK);
    CHECK(pos == 8, "position %u", (unsigned)pos);
    CHECK_STATUS(gemma2_session_reset(s), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_position(s, &pos), GEMMA2_OK);
    CHECK(pos == 0, "reset left position %u", (unsigned)pos);
    EXPECT(gemma2_session_step(s, &r), GEMMA2_ERR_STATE);
    /* the model may be closed before its sessions: they keep it alive */
    gemma2_model_close(m);
    CHECK_STATUS(gemma2_session_feed(s, ok, 4), GEMMA2_OK);
    CHECK_STATUS(gemma2_session_step(s, &r), GEMMA2_OK);
    gemma2_session_free(s);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    test_null_handles();
    test_strings();
    test_struct_sizes(argv[1]);
    test_sessions(argv[1]);
    return tu_finish("test_misuse");
}
