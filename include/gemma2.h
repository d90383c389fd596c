/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gemma2.h: the whole public API of libgemma2, Gemma 2 inference on CPUs.
 *
 * Conventions (see docs/api.md):
 *  - Every fallible call returns a gemma2_status (0 = GEMMA2_OK) and writes its
 *    results through out-parameters; on failure *out is set to NULL or zero.
 *  - A message for the last failure on the calling thread is available from
 *    gemma2_last_error(); it stays valid until the next gemma2 call on that thread.
 *  - Options are structs whose first field is their size, filled by an _init
 *    function; they are always passed by pointer. No struct is passed or returned by
 *    value, and the library keeps no caller pointer past a call.
 *  - A gemma2_model is immutable once open and may be shared by any number of
 *    threads and sessions ("Thread-safe" below). A gemma2_session must be used by
 *    one thread at a time: session calls without that note need that.
 *  - No call aborts, exits or prints.
 */
#ifndef GEMMA2_H
#define GEMMA2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macros --------------------------------------------------------- */
#if defined(GEMMA2_STATIC)
#  define GEMMA2_API
#elif defined(_WIN32)
#  ifdef GEMMA2_BUILD
#    define GEMMA2_API __declspec(dllexport)
#  else
#    define GEMMA2_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && defined(GEMMA2_BUILD)
#  define GEMMA2_API __attribute__((visibility("default")))
#else
#  define GEMMA2_API
#endif

#if defined(GEMMA2_DISABLE_DEPRECATE_WARNINGS)
#  define GEMMA2_DEPRECATED(msg)
#elif defined(__GNUC__)
#  define GEMMA2_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#  define GEMMA2_DEPRECATED(msg)
#endif

/* ---- versions -------------------------------------------------------------- */
#define GEMMA2_VERSION_MAJOR 0
#define GEMMA2_VERSION_MINOR 1
#define GEMMA2_VERSION_PATCH 0
#define GEMMA2_VERSION_NUMBER \
    (GEMMA2_VERSION_MAJOR * 10000 + GEMMA2_VERSION_MINOR * 100 + GEMMA2_VERSION_PATCH)
#define GEMMA2_VERSION_STRING "0.1.0"
/* The ABI major: equals the SONAME number (libgemma2.so.1). */
#define GEMMA2_ABI_VERSION 1

/* Version of the library actually loaded, as GEMMA2_VERSION_NUMBER. Compare it with
 * the header's macro to detect a header/library mismatch. Since 1.0. */
GEMMA2_API uint32_t gemma2_version(void);
/* The same as a static string, e.g. "0.1.0". Since 1.0. */
GEMMA2_API const char *gemma2_version_string(void);
/* ABI major of the loaded library; bindings refuse to load a different one. Since 1.0. */
GEMMA2_API uint32_t gemma2_abi_version(void);

/* ---- handles --------------------------------------------------------------- */
typedef struct gemma2_model gemma2_model;     /* an open model file, immutable */
typedef struct gemma2_session gemma2_session; /* one conversation: KV cache, logits */

/* ---- status codes: numbers are never reused or renumbered ------------------ */
typedef int32_t gemma2_status;
#define GEMMA2_OK                      0
#define GEMMA2_ERR_INVALID_ARGUMENT    1  /* NULL handle or pointer, value out of range */
#define GEMMA2_ERR_UNSUPPORTED         2  /* unknown option bytes, feature not available */
#define GEMMA2_ERR_OUT_OF_MEMORY       3
#define GEMMA2_ERR_IO                  4  /* open, read, stat or mmap failed */
#define GEMMA2_ERR_FORMAT              5  /* not a gemma2 model file, or malformed */
#define GEMMA2_ERR_VERSION             6  /* file format version not supported */
#define GEMMA2_ERR_CHECKSUM            7  /* a BLAKE2b digest does not match */
#define GEMMA2_ERR_TOKEN_OUT_OF_RANGE  8  /* token id < 0 or >= vocabulary size */
#define GEMMA2_ERR_CONTEXT_FULL        9  /* the session's context cannot take more tokens */
#define GEMMA2_ERR_BUFFER_TOO_SMALL   10  /* a caller buffer is too small; nothing written */
#define GEMMA2_ERR_STATE              11  /* call not valid now (e.g. step with no logits) */
#define GEMMA2_ERR_CANCELLED          12  /* the call was cancelled (gemma2_session_cancel) */
#define GEMMA2_ERR_SYSTEM             13  /* the OS refused (e.g. thread creation) */
#define GEMMA2_ERR_INTERNAL           14  /* a bug in gemma2: please report it */

/* Static English name of a status code; never NULL (unknown codes get a generic
 * string). Thread-safe. Since 1.0. */
GEMMA2_API const char *gemma2_status_string(gemma2_status status);

/* Message describing the last failure on the calling thread, or "" if the last
 * call succeeded. Owned by the library; valid until the next gemma2 call on this
 * thread. Never NULL. Since 1.0. */
GEMMA2_API const char *gemma2_last_error(void);

/* ---- constants ------------------------------------------------------------- */
#define GEMMA2_DIGEST_BYTES 32 /* BLAKE2b-256 */
GEMMA2_API uint32_t gemma2_digest_bytes(void);

/* Weight / tensor element types (int32_t values; new values may be added). */
#define GEMMA2_TYPE_F32  0
#define GEMMA2_TYPE_BF16 1
#define GEMMA2_TYPE_Q8   2 /* int8 blocks of 32 with an f16 scale: 8.5 bits per weight */
#define GEMMA2_TYPE_Q4   3 /* int4 blocks of 32 with an f16 scale: 4.5 bits per weight */
/* gemma2_tensor_info.file_type of a tensor read from a GGUF file: this base plus its
 * ggml type id (GGUF's own numbering, e.g. 12 for Q4_K). Since 1.1. */
#define GEMMA2_TYPE_GGUF_BASE 1000
/* Static name of a type ("f32", "bf16", "q8", "q4"; for GEMMA2_TYPE_GGUF_BASE + t,
 * GGUF's name of t, such as "Q4_K"), or "unknown". Since 1.0; GGUF names since 1.1. */
GEMMA2_API const char *gemma2_type_name(int32_t type);

/* What kind of file a model was opened from (gemma2_model_info.source). */
#define GEMMA2_SOURCE_GEMMA2 0 /* this library's format: BLAKE2b digests in the file */
#define GEMMA2_SOURCE_GGUF   1 /* GGUF (llama.cpp's format): no checksums; see docs/gguf.md */

/* Where query_pre_attn_scalar came from (gemma2_model_info.qpas_source). */
#define GEMMA2_QPAS_CONFIG          0 /* the file's config */
#define GEMMA2_QPAS_HEAD_DIM        1 /* not in the file (GGUF): head_dim, as llama.cpp does */
#define GEMMA2_QPAS_HIDDEN_PER_HEAD 2 /* not in the file (GGUF), 46 layers (27B): hidden / heads */

/* Attention kinds of a layer. */
#define GEMMA2_LAYER_GLOBAL 0 /* attends to every earlier position */
#define GEMMA2_LAYER_LOCAL  1 /* sliding window: attends to the last `sliding_window` */

/* ---- layout self-check ------------------------------------------------------
 * The size in bytes this build of the library gives each public struct, so that
 * bindings declaring the structs again (Python ctypes, Rust) can check their
 * declarations when they load the library instead of corrupting memory. */
#define GEMMA2_STRUCT_MODEL_OPTIONS    1
#define GEMMA2_STRUCT_SAMPLER_OPTIONS  2
#define GEMMA2_STRUCT_SESSION_OPTIONS  3
#define GEMMA2_STRUCT_MODEL_INFO       4
#define GEMMA2_STRUCT_TENSOR_INFO      5
#define GEMMA2_STRUCT_FEED_OUTPUTS     6
#define GEMMA2_STRUCT_STEP_RESULT      7
#define GEMMA2_STRUCT_GENERATE_OPTIONS 8
#define GEMMA2_STRUCT_GENERATE_RESULT  9
#define GEMMA2_STRUCT_LOGIT_BIAS       10
/* sizeof the struct named by a GEMMA2_STRUCT_* value; 0 for any other value.
 * Thread-safe. Since 1.0. */
GEMMA2_API size_t gemma2_struct_size(int32_t which);


/* ---- options ----------------------------------------------------------------
 * Fill with the _init function, then change the fields you need. The library reads
 * min(struct_size, its own size) bytes and gives later fields their defaults; bytes
 * past its own size must be zero, else GEMMA2_ERR_UNSUPPORTED. */

/* Model open flags. */
#define GEMMA2_MODEL_SKIP_VERIFY 0x1u /* do not check tensor digests at open */
/* Read the file into private memory (transparent huge pages requested) instead of
 * mapping it: open costs a full read and the memory is not shared with other
 * processes; single-thread decode was about 10% faster on a VM (docs/performance.md). */
#define GEMMA2_MODEL_NO_MMAP 0x2u

typedef struct gemma2_model_options {
    uint32_t struct_size;
    int32_t n_threads;  /* threads for digest checks and decompression; 0 = all CPUs */
    uint32_t flags;     /* GEMMA2_MODEL_* */
    uint32_t reserved;  /* must be 0 */
    const uint8_t *expected_digest; /* NULL, or GEMMA2_DIGEST_BYTES the file's digest
                                       must equal (see gemma2_model_digest) */
} gemma2_model_options;

/* Zero-fills `size` bytes at opts, writes the defaults and sets struct_size = size.
 * Returns GEMMA2_ERR_INVALID_ARGUMENT if opts is NULL or size is smaller than the
 * struct_size field. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_options_init(gemma2_model_options *opts, size_t size);

/* ---- sampling ----------------------------------------------------------------
 * How gemma2_session_step chooses a token (docs/sampling.md). In this order:
 *   1. logit bias: logit[token] += bias (-INFINITY bans a token);
 *   2. penalties over the last penalty_last_n tokens of the session (prompt included):
 *      a token seen c > 0 times has its logit divided by repeat_penalty if positive,
 *      multiplied by it if not, then lowered by c * frequency_penalty +
 *      presence_penalty;
 *   3. temperature 0: greedy, the highest logit (lowest id on ties). Otherwise:
 *   4. top-k: the k highest logits (ties: lower ids first);
 *   5. top-p: the fewest highest-probability tokens whose probabilities (softmax at
 *      temperature 1) reach top_p;
 *   6. min-p: tokens whose probability is at least min_p times the highest one's;
 *   7. softmax of logit / temperature over what is left, one draw from the session's
 *      generator (xoshiro256**, seeded by seed).
 * The same seed and the same calls give the same tokens on every machine, SIMD path
 * and thread count. */
typedef struct gemma2_logit_bias {
    int32_t token;
    float bias;
} gemma2_logit_bias;

typedef struct gemma2_sampler_options {
    uint32_t struct_size;
    float temperature;       /* 0 = greedy (the default) */
    int32_t top_k;           /* 0 = off (default) */
    float top_p;             /* 1 = off (default) */
    float min_p;             /* 0 = off (default) */
    float repeat_penalty;    /* 1 = off (default) */
    float presence_penalty;  /* 0 = off (default) */
    float frequency_penalty; /* 0 = off (default) */
    uint32_t penalty_last_n; /* default 64 */
    uint32_t n_logit_bias;   /* entries at logit_bias */
    uint64_t seed;           /* default 0 */
    const gemma2_logit_bias *logit_bias; /* copied by the session; NULL if n_logit_bias 0 */
} gemma2_sampler_options;

/* As gemma2_model_options_init, for sampler options (greedy, penalties off).
 * Since 1.0. */
GEMMA2_API gemma2_status gemma2_sampler_options_init(gemma2_sampler_options *opts, size_t size);

typedef struct gemma2_session_options {
    uint32_t struct_size;
    int32_t n_threads; /* compute threads of this session; 0 = all CPUs */
    uint32_t n_ctx;    /* context length in tokens; 0 = the model's context length */
    uint32_t reserved; /* must be 0 */
    const gemma2_sampler_options *sampler; /* NULL = greedy */
} gemma2_session_options;

/* As gemma2_model_options_init, for session options. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_options_init(gemma2_session_options *opts, size_t size);

/* ---- model ----------------------------------------------------------------- */

/* Opens a gemma2 model file (docs/format.md). The file is mapped and its tensors are
 * used in place; compressed tensors are decompressed in parallel. Every size and
 * offset is validated, the header digest is always checked, and tensor digests are
 * checked unless GEMMA2_MODEL_SKIP_VERIFY is given.
 * Since 1.1 it also opens GGUF files (recognised by their magic) of architecture
 * "gemma2": hyperparameters and vocabulary from the metadata, tensors converted once
 * into memory (block types to q8); see docs/gguf.md. GGUF has no checksums.
 *   path: file name (NUL-terminated). opts: NULL for defaults. *out: the new model.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT; GEMMA2_ERR_IO; GEMMA2_ERR_FORMAT;
 *         GEMMA2_ERR_VERSION; GEMMA2_ERR_CHECKSUM (the message names the tensor);
 *         GEMMA2_ERR_OUT_OF_MEMORY; GEMMA2_ERR_SYSTEM; GEMMA2_ERR_UNSUPPORTED.
 * Thread-safe. Release with gemma2_model_close. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_open(const char *path, const gemma2_model_options *opts,
                                           gemma2_model **out);

/* Releases the caller's reference. Sessions hold their own reference, so the memory
 * is freed when the last session is freed too. NULL is a no-op. Since 1.0. */
GEMMA2_API void gemma2_model_close(gemma2_model *model);

/* Architecture and file facts. */
typedef struct gemma2_model_info {
    uint32_t struct_size;
    uint32_t format_version;
    uint32_t vocab_size;
    uint32_t hidden_size;
    uint32_t n_layers;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t head_dim;
    uint32_t ffn_size;       /* intermediate size of the GeGLU feed-forward */
    uint32_t context_length; /* max_position_embeddings */
    uint32_t sliding_window; /* window of GEMMA2_LAYER_LOCAL layers */
    int32_t weight_type;     /* GEMMA2_TYPE_* of the projection matrices */
    float rms_norm_eps;
    float rope_theta;
    float query_pre_attn_scalar;
    float attn_softcap;      /* 0 = no attention logit soft-cap */
    float final_softcap;     /* 0 = no final logit soft-cap */
    int32_t bos_id;
    int32_t eos_id;
    int32_t pad_id;
    uint32_t n_tensors;
    uint32_t compressed;     /* 1 if tensor data was zstd-compressed in the file */
    uint64_t file_size;      /* bytes */
    uint64_t weight_bytes;   /* bytes of tensor data in memory */
    /* Since 1.1: */
    uint32_t source;         /* GEMMA2_SOURCE_*; format_version is then that format's version */
    uint32_t has_checksums;  /* 1: the file carries digests, checked at open unless
                                GEMMA2_MODEL_SKIP_VERIFY; 0 (GGUF): digests were computed
                                at open from what was loaded */
    uint32_t qpas_source;    /* GEMMA2_QPAS_* */
    uint32_t reserved;
} gemma2_model_info;

/* Zero-fills size bytes at info and sets info->struct_size = size.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, size < 4). Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_info_init(gemma2_model_info *info, size_t size);
/* Fills *info up to its struct_size (set it with gemma2_model_info_init first);
 * fields beyond the caller's size are not written.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, struct_size unset).
 * Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_get_info(const gemma2_model *model, gemma2_model_info *info);

/* Shortcuts; 0 for a NULL model. Thread-safe. Since 1.0. */
GEMMA2_API uint32_t gemma2_model_vocab_size(const gemma2_model *model);
GEMMA2_API uint32_t gemma2_model_context_length(const gemma2_model *model);

/* Attention kind of a layer, GEMMA2_LAYER_LOCAL or GEMMA2_LAYER_GLOBAL, in *kind.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, layer >= n_layers).
 * Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_layer_kind(const gemma2_model *model, uint32_t layer,
                                                 int32_t *kind);

/* The file digest: BLAKE2b-256 of the header region, which holds the config, the
 * metadata and every tensor's digest, so it identifies the whole model. A GGUF file
 * has no digests: its digest is computed at open over the config, the tokenizer and
 * every converted tensor's digest (the same file always gives the same digest). Writes
 * GEMMA2_DIGEST_BYTES bytes to out (owned by the caller).
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL (cap < GEMMA2_DIGEST_BYTES, nothing
 *         written); GEMMA2_ERR_INVALID_ARGUMENT. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_digest(const gemma2_model *model, uint8_t *out, size_t cap);

/* One tensor of the file. */
typedef struct gemma2_tensor_info {
    uint32_t struct_size;
    int32_t type;            /* GEMMA2_TYPE_* */
    uint32_t n_dims;         /* 1..4 */
    uint32_t compressed;     /* 1 if stored zstd-compressed */
    uint64_t dims[4];        /* row-major; dims[0] outermost (rows of a matrix) */
    uint64_t n_bytes;        /* bytes in memory */
    uint64_t stored_bytes;   /* bytes in the file */
    const char *name;        /* owned by the model, valid while it is open */
    uint8_t digest[GEMMA2_DIGEST_BYTES]; /* BLAKE2b-256 of the n_bytes in memory */
    /* Since 1.1: */
    int32_t file_type;       /* type in the file: type itself for gemma2 files, or
                                GEMMA2_TYPE_GGUF_BASE + the GGUF type, converted at open */
    uint32_t reserved;
} gemma2_tensor_info;

/* As gemma2_model_info_init, for tensor info. Since 1.0. */
GEMMA2_API gemma2_status gemma2_tensor_info_init(gemma2_tensor_info *info, size_t size);
/* Describes tensor `index` (0..n_tensors-1) in *info; info->name stays owned by the
 * model. @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, index out of range).
 * Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_tensor_info(const gemma2_model *model, uint32_t index,
                                                  gemma2_tensor_info *info);

/* Recomputes the digest of one tensor and compares it with the file's.
 * @return GEMMA2_OK, GEMMA2_ERR_CHECKSUM (message names the tensor),
 *         GEMMA2_ERR_INVALID_ARGUMENT. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_verify_tensor(const gemma2_model *model, uint32_t index);

/* Checks every tensor digest with n_threads threads (0 = all CPUs); the message of
 * a GEMMA2_ERR_CHECKSUM names the first failing tensor.
 * @return GEMMA2_OK; GEMMA2_ERR_CHECKSUM; GEMMA2_ERR_INVALID_ARGUMENT;
 *         GEMMA2_ERR_OUT_OF_MEMORY; GEMMA2_ERR_SYSTEM. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_verify(const gemma2_model *model, int32_t n_threads);

/* gemma2_model_save flags */
#define GEMMA2_SAVE_COMPRESS 0x1u /* store each tensor as a zstd frame */

/* Writes the model, as loaded, to path as a gemma2 model file (docs/format.md) with
 * fresh digests: the tensors in their in-memory types, the config, the tokenizer. For
 * a model opened from GGUF this is the conversion to this library's format. The file
 * is written to a temporary name beside path and renamed when complete.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, unknown flags); GEMMA2_ERR_IO;
 *         GEMMA2_ERR_OUT_OF_MEMORY. Thread-safe. Since 1.1. */
GEMMA2_API gemma2_status gemma2_model_save(const gemma2_model *model, const char *path, uint32_t flags);

/* ---- session ----------------------------------------------------------------- */

/* Creates a session on model (which it keeps a reference on) with its own KV cache
 * of opts->n_ctx positions and its own compute threads. opts: NULL for defaults.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (n_ctx above the model's context);
 *         GEMMA2_ERR_OUT_OF_MEMORY; GEMMA2_ERR_SYSTEM; GEMMA2_ERR_UNSUPPORTED.
 * Thread-safe with respect to the model. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_new(gemma2_model *model, const gemma2_session_options *opts,
                                            gemma2_session **out);

/* Frees the session and its threads and drops its model reference (freeing the
 * model if it was closed already). NULL is a no-op. Must not run concurrently with
 * another call on the same session. Since 1.0. */
GEMMA2_API void gemma2_session_free(gemma2_session *session);

/* Forgets every token: position 0, no logits. Keeps the buffers.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_reset(gemma2_session *session);

/* Number of tokens in the session's KV cache (its next position) in *n.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_position(const gemma2_session *session, uint32_t *n);

/* Feeds n tokens (a prompt, or any continuation) in one batched prefill and keeps
 * the logits of the last one. All or nothing: on failure the session is unchanged.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, n == 0);
 *         GEMMA2_ERR_TOKEN_OUT_OF_RANGE; GEMMA2_ERR_CONTEXT_FULL (position + n > n_ctx);
 *         GEMMA2_ERR_CANCELLED (gemma2_session_cancel; the session is unchanged).
 * Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_feed(gemma2_session *session, const int32_t *tokens,
                                             size_t n);

/* Bytes the session allocated: its KV cache (float32 keys and values of n_ctx
 * positions for every global layer, of a ring of window + 63 positions rounded up to
 * 16 for every sliding-window layer), scratch buffers, token history and sampler. The cache is
 * allocated zeroed, so positions never used cost address space, not memory. 0 for
 * NULL. Since 1.0. */
GEMMA2_API uint64_t gemma2_session_memory_bytes(const gemma2_session *session);

/* Copies the session's first min(cap, position) tokens to ids and their count to *n;
 * with ids NULL and cap 0, *n is the position (how many there are).
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_tokens(const gemma2_session *session, int32_t *ids, size_t cap,
                                               size_t *n);

/* Drops every token after the first n (n <= the position): the session goes on from
 * position n as if only those had been fed. Its logits are gone until the next feed
 * (a step needs a feed first). Exact: sliding-window layers keep a ring of the last
 * window + 63 positions, and if the window behind n was overwritten, the next feed
 * first recomputes the positions before n from the tokens (the same bits).
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (NULL, n past the position).
 * Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_rewind(gemma2_session *session, uint32_t n);

/* Makes the session hold exactly tokens[0..n) and their last logits, computing only
 * what it does not hold yet: the longest common prefix of tokens and the session's
 * tokens is kept (at most n - 1 of them, so that the last token is fed and its logits
 * computed), the rest of the session is dropped and the rest of tokens fed. For a
 * chat, that re-feeds only the new turn. *reused (may be NULL) gets the number of
 * tokens kept. All ids and the room are checked first (nothing changes on those
 * errors); if the feed is cancelled, the session holds the common prefix and no
 * logits. @return as gemma2_session_feed. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_feed_prompt(gemma2_session *session, const int32_t *tokens, size_t n,
                                                    size_t *reused);

/* Extra outputs of a feed, for every fed position. NULL pointers are not written. */
typedef struct gemma2_feed_outputs {
    uint32_t struct_size;
    uint32_t reserved;       /* must be 0 */
    float *logits;           /* [n, vocab_size] final (soft-capped) logits */
    uint64_t logits_cap;     /* floats available at logits */
    float *hidden;           /* [n, hidden_size] output of the final RMSNorm */
    uint64_t hidden_cap;     /* floats available at hidden */
} gemma2_feed_outputs;

/* As gemma2_model_info_init, for feed outputs (all pointers NULL). Since 1.0. */
GEMMA2_API gemma2_status gemma2_feed_outputs_init(gemma2_feed_outputs *out, size_t size);

/* gemma2_session_feed that also writes per-position outputs into the caller's
 * buffers (not kept after the call). outputs may be NULL. Capacities are checked
 * before anything runs. @return as gemma2_session_feed, and
 * GEMMA2_ERR_BUFFER_TOO_SMALL (nothing computed). Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_feed_outputs(gemma2_session *session, const int32_t *tokens,
                                                     size_t n, const gemma2_feed_outputs *outputs);

/* Result of one step. */
#define GEMMA2_STEP_END_OF_TURN 0x1u /* the token ends the model's turn: <end_of_turn> or
                                        <eos> (the config's eos without a tokenizer) */
typedef struct gemma2_step_result {
    uint32_t struct_size;
    int32_t token;  /* the chosen token id */
    uint32_t flags; /* GEMMA2_STEP_* */
    uint32_t reserved;
    /* The text this token completes, valid UTF-8 (special pieces such as <end_of_turn>,
     * and ids past the tokenizer's pieces when the model's vocabulary is larger, give
     * none; bytes of a character split across tokens come with the token that
     * completes it), owned by the session and valid until its next call. NULL if the
     * model has no tokenizer. Since 1.0. */
    const char *text;
    uint64_t text_len;
} gemma2_step_result;

/* As gemma2_model_info_init, for a step result (token -1). Since 1.0. */
GEMMA2_API gemma2_status gemma2_step_result_init(gemma2_step_result *result, size_t size);

/* Decodes one token: chooses the next token from the current logits with the
 * session's sampler (greedy by default: the highest logit, lowest id on ties), feeds
 * it, and reports it in *result.
 * @return GEMMA2_OK; GEMMA2_ERR_STATE (nothing fed yet, or the logit bias bans every
 *         token); GEMMA2_ERR_CONTEXT_FULL (session unchanged); GEMMA2_ERR_CANCELLED
 *         (session and sampler unchanged: a retry gives the same token);
 *         GEMMA2_ERR_INVALID_ARGUMENT. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_step(gemma2_session *session, gemma2_step_result *result);

/* ---- generation with a callback ------------------------------------------------------
 * gemma2_session_generate steps until the model's turn ends, max_tokens are made, a
 * stop string appears in the text, the callback says stop, or the context is full,
 * passing the text on as it becomes final. */

/* Called once per generated token, with the text that became final with it (len may
 * be 0: a special piece, a character not yet whole, or text held back because it may
 * be the start of a stop string), and once more at the end with token -1 if text was
 * still held back (or a character was left unfinished: U+FFFD). text is valid only
 * during the call. Return 0 to go on, anything else to stop after this token. */
typedef int (*gemma2_text_callback)(void *user, int32_t token, const char *text, size_t len);

typedef struct gemma2_generate_options {
    uint32_t struct_size;
    uint32_t max_tokens;     /* 0 = no limit but the context */
    const char *const *stop; /* n_stop non-empty NUL-terminated strings, or NULL */
    uint32_t n_stop;
    uint32_t reserved;       /* must be 0 */
} gemma2_generate_options;

/* Why gemma2_session_generate stopped. */
#define GEMMA2_STOP_END_OF_TURN  1 /* the token ended the model's turn (it is fed) */
#define GEMMA2_STOP_MAX_TOKENS   2
#define GEMMA2_STOP_STRING       3 /* a stop string: it and what follows are not passed on */
#define GEMMA2_STOP_CALLBACK     4
#define GEMMA2_STOP_CONTEXT_FULL 5
#define GEMMA2_STOP_ERROR        6 /* a step failed: the status says why */

typedef struct gemma2_generate_result {
    uint32_t struct_size;
    uint32_t stop_reason; /* GEMMA2_STOP_* */
    uint64_t n_tokens;    /* tokens generated, each fed to the session */
} gemma2_generate_result;

/* As gemma2_model_options_init, for generate options (no limit, no stop strings) and
 * results. Since 1.0. */
GEMMA2_API gemma2_status gemma2_generate_options_init(gemma2_generate_options *opts, size_t size);
GEMMA2_API gemma2_status gemma2_generate_result_init(gemma2_generate_result *result, size_t size);

/* Generates from the session's current logits with its sampler (see above); opts NULL
 * = defaults, callback may be NULL, result may be NULL. Stop strings need a model with
 * a tokenizer. Every token generated stays in the session, including those of a stop
 * string. A context that fills up ends generation normally (GEMMA2_STOP_CONTEXT_FULL).
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT; GEMMA2_ERR_STATE (nothing fed
 *         yet); a failed step's status, e.g. GEMMA2_ERR_CANCELLED (the tokens before
 *         it stay); GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_generate(gemma2_session *session, const gemma2_generate_options *opts,
                                                 gemma2_text_callback callback, void *user,
                                                 gemma2_generate_result *result);

/* Asks the feed or step running on session (called from another thread) to stop: it
 * returns GEMMA2_ERR_CANCELLED with the session as before that call. The request is
 * checked before each layer, so it takes effect within one layer's time; one made
 * while no call runs is dropped when the next call starts. The only function that
 * may run concurrently with another call on the same session. NULL is a no-op.
 * Since 1.0. */
GEMMA2_API void gemma2_session_cancel(gemma2_session *session);

/* The n most likely next tokens by the model's own distribution after the last fed
 * position (log-softmax of its logits, before the sampler's bias, penalties and
 * temperature), most likely first, ties by lower id: ids[i] and logprobs[i] (natural
 * log) for i < *n_out = min(n, vocab_size). Either array may be NULL.
 * @return GEMMA2_OK; GEMMA2_ERR_STATE (nothing fed); GEMMA2_ERR_INVALID_ARGUMENT;
 *         GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_top_logprobs(const gemma2_session *session, size_t n, int32_t *ids,
                                                     float *logprobs, size_t *n_out);

/* Replaces the session's sampler (between steps; the tokens so far are kept) and
 * reseeds its generator from opts->seed. opts NULL = greedy.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (a value out of range: NaN, negative
 *         temperature, top_p or penalties, a bias token outside the vocabulary; the
 *         sampler is then unchanged); GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_set_sampler(gemma2_session *session,
                                                    const gemma2_sampler_options *opts);

/* ---- session state ----------------------------------------------------------------
 * A session's state: its tokens, the KV cache of those positions, its last logits and
 * its sampler with the generator's state, zstd-compressed, BLAKE2b-checksummed and
 * bound to the model's digest (docs/format.md, "Session state"). A state loaded into
 * a session of the same model continues with exactly the tokens the saved one would
 * have produced; the loading session may have another context length (as long as it
 * holds the tokens) and thread count. */

/* Serializes the session into a malloc'd buffer: *out, *size bytes; free it with
 * gemma2_state_free. @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT;
 * GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_save(const gemma2_session *session, void **out, size_t *size);

/* Replaces the session's tokens, cache, logits and sampler by a saved state's. Every
 * check comes first; on any failure the session is unchanged.
 * @return GEMMA2_OK; GEMMA2_ERR_FORMAT (not a state, truncated, inconsistent);
 *         GEMMA2_ERR_VERSION; GEMMA2_ERR_CHECKSUM (damaged);
 *         GEMMA2_ERR_INVALID_ARGUMENT (NULL, or saved from another model);
 *         GEMMA2_ERR_CONTEXT_FULL (more tokens than the session's context);
 *         GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_load(gemma2_session *session, const void *data, size_t size);

/* Frees a buffer from gemma2_session_save. NULL is a no-op. Since 1.0. */
GEMMA2_API void gemma2_state_free(void *state);

/* The same with a file: written to a new file beside it (mode 0600), then renamed over
 * path, so a failure leaves any earlier file whole. A path that exists and is not a
 * regular file (a device, a directory) is refused.
 * @return as above, and GEMMA2_ERR_IO. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_save_file(const gemma2_session *session, const char *path);
GEMMA2_API gemma2_status gemma2_session_load_file(gemma2_session *session, const char *path);

/* The logits of the last fed position: *logits points at vocab_size floats owned by
 * the session, valid until its next feed, step, reset or free.
 * @return GEMMA2_OK; GEMMA2_ERR_STATE if nothing was fed. Since 1.0. */
GEMMA2_API gemma2_status gemma2_session_logits(const gemma2_session *session, const float **logits,
                                               size_t *n_vocab);

/* ---- tokenizer ----------------------------------------------------------------
 * Gemma's SentencePiece-style BPE with byte fallback (docs/tokenizer.md). A tokenizer
 * is immutable: any number of threads may use one at once. */
typedef struct gemma2_tokenizer gemma2_tokenizer;

/* The model's tokenizer in *out, owned by the model (valid until the model is closed
 * and its last session freed; do not free it). @return GEMMA2_OK; GEMMA2_ERR_UNSUPPORTED if the file has none;
 * GEMMA2_ERR_INVALID_ARGUMENT. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_model_tokenizer(const gemma2_model *model, const gemma2_tokenizer **out);

/* Loads a tokenizer from its serialized form (the "tokenizer" metadata value of a
 * model file, docs/format.md), copying what it needs. Free with gemma2_tokenizer_free.
 * @return GEMMA2_OK; GEMMA2_ERR_FORMAT; GEMMA2_ERR_VERSION; GEMMA2_ERR_OUT_OF_MEMORY;
 *         GEMMA2_ERR_INVALID_ARGUMENT. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_tokenizer_load(const void *data, size_t size, gemma2_tokenizer **out);

/* Frees a tokenizer from gemma2_tokenizer_load. NULL, or a model's tokenizer, is a
 * no-op. Since 1.0. */
GEMMA2_API void gemma2_tokenizer_free(gemma2_tokenizer *tok);

/* Number of pieces (token ids 0..n-1); 0 for NULL. Thread-safe. Since 1.0. */
GEMMA2_API uint32_t gemma2_tokenizer_vocab_size(const gemma2_tokenizer *tok);

/* Encode flags */
#define GEMMA2_TOKENIZE_SPECIAL 0x1u /* the strings of the pieces the tokenizer marks
                                        special (for the Gemma tokenizer "<bos>",
                                        "<start_of_turn>", ...; which ones depends on the
                                        checkpoint) become their ids; without it every
                                        character is text: use that mode for untrusted
                                        input */

/* Encodes len bytes of text (any bytes: NULs are text, invalid UTF-8 goes through
 * byte fallback) into ids. No BOS is added. *n_ids is the number of ids; if it
 * exceeds cap, nothing is written and GEMMA2_ERR_BUFFER_TOO_SMALL is returned (ids
 * may then be NULL with cap 0 to ask for the size).
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL; GEMMA2_ERR_INVALID_ARGUMENT;
 *         GEMMA2_ERR_OUT_OF_MEMORY. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_tokenize(const gemma2_tokenizer *tok, const char *text, size_t len,
                                         uint32_t flags, int32_t *ids, size_t cap, size_t *n_ids);

/* Decode flags */
#define GEMMA2_DETOKENIZE_SKIP_SPECIAL 0x1u /* leave out special and control pieces */

/* Decodes ids into text bytes: '▁' becomes ' ', byte pieces become their bytes, so
 * the result is the encoded text exactly (it is raw bytes: invalid UTF-8 that was
 * encoded comes back as it was). *len is the byte count, not NUL-terminated; if it
 * exceeds cap, nothing is written and GEMMA2_ERR_BUFFER_TOO_SMALL is returned.
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL; GEMMA2_ERR_TOKEN_OUT_OF_RANGE;
 *         GEMMA2_ERR_INVALID_ARGUMENT. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_detokenize(const gemma2_tokenizer *tok, const int32_t *ids, size_t n,
                                           uint32_t flags, char *text, size_t cap, size_t *len);

/* The vocabulary text of a token (e.g. "▁the", "<0x0A>", "<bos>"): *piece points at
 * *len bytes owned by the tokenizer, NUL-terminated.
 * @return GEMMA2_OK; GEMMA2_ERR_TOKEN_OUT_OF_RANGE (id outside the tokenizer's
 *         pieces); GEMMA2_ERR_INVALID_ARGUMENT (NULL). Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_token_piece(const gemma2_tokenizer *tok, int32_t id, const char **piece,
                                            size_t *len);

/* The id of a vocabulary piece given by its exact text, in *id.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT (no such piece, or NULL).
 * Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_token_find(const gemma2_tokenizer *tok, const char *piece, size_t len,
                                           int32_t *id);

/* Special tokens, found through the vocabulary when the model was converted. */
#define GEMMA2_TOKEN_BOS 0
#define GEMMA2_TOKEN_EOS 1
#define GEMMA2_TOKEN_PAD 2
#define GEMMA2_TOKEN_UNK 3
#define GEMMA2_TOKEN_START_OF_TURN 4
#define GEMMA2_TOKEN_END_OF_TURN 5
/* Id of a special token (GEMMA2_TOKEN_*), or -1 if the vocabulary has none. Since 1.0. */
GEMMA2_API int32_t gemma2_token_special(const gemma2_tokenizer *tok, int32_t which);

/* 1 if id ends the model's turn (<end_of_turn> or <eos>), else 0. Since 1.0. */
GEMMA2_API int32_t gemma2_token_is_end_of_turn(const gemma2_tokenizer *tok, int32_t id);

/* ---- streaming text ---------------------------------------------------------------
 * Turns generated ids into text as they come, emitting only complete UTF-8: bytes of
 * a character split across byte-fallback tokens are held back until it is whole, and
 * bytes that can never form one become U+FFFD. One stream per generation; one thread
 * at a time per stream. */
typedef struct gemma2_text_stream gemma2_text_stream;

/* flags: GEMMA2_DETOKENIZE_SKIP_SPECIAL. The tokenizer must outlive the stream.
 * @return GEMMA2_OK; GEMMA2_ERR_INVALID_ARGUMENT; GEMMA2_ERR_OUT_OF_MEMORY. Since 1.0. */
GEMMA2_API gemma2_status gemma2_text_stream_new(const gemma2_tokenizer *tok, uint32_t flags,
                                                gemma2_text_stream **out);

/* Adds one token; writes the text that became final (possibly none) to text and its
 * byte count to *len. A buffer of gemma2_text_stream_max_bytes() bytes always suffices;
 * if cap is less than needed, GEMMA2_ERR_BUFFER_TOO_SMALL and the stream is unchanged.
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL; GEMMA2_ERR_TOKEN_OUT_OF_RANGE;
 *         GEMMA2_ERR_INVALID_ARGUMENT. Since 1.0. */
GEMMA2_API gemma2_status gemma2_text_stream_push(gemma2_text_stream *stream, int32_t id, char *text,
                                                 size_t cap, size_t *len);

/* Ends the text: an unfinished character becomes U+FFFD (at most 3 bytes). The stream
 * is then empty and may be reused. Since 1.0. */
GEMMA2_API gemma2_status gemma2_text_stream_flush(gemma2_text_stream *stream, char *text, size_t cap,
                                                  size_t *len);

/* Largest output of one push for this stream's tokenizer. Since 1.0. */
GEMMA2_API size_t gemma2_text_stream_max_bytes(const gemma2_text_stream *stream);

/* NULL is a no-op. Since 1.0. */
GEMMA2_API void gemma2_text_stream_free(gemma2_text_stream *stream);

/* ---- chat template ----------------------------------------------------------------
 * Gemma 2's format: <bos> then per turn <start_of_turn>ROLE\nTEXT<end_of_turn>\n, and
 * with GEMMA2_CHAT_ADD_GENERATION_PROMPT a final <start_of_turn>model\n. Markers are
 * inserted by id; the turns' text is encoded in plain mode, so it cannot inject one. */
#define GEMMA2_CHAT_ADD_GENERATION_PROMPT 0x1u /* end with the model's turn opened */
#define GEMMA2_CHAT_NO_BOS 0x2u                /* leave out <bos> (continuing a session) */

/* n turns given as parallel arrays: roles[i] is "user", "model" (or "assistant", the
 * same), or "system" (Gemma 2 has no system turn: as llama.cpp does, its text goes
 * before the next user turn's text, separated by a blank line); texts[i] holds
 * text_lens[i] bytes. Writes the ids like gemma2_tokenize.
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL; GEMMA2_ERR_INVALID_ARGUMENT (unknown
 *         role, NULL); GEMMA2_ERR_UNSUPPORTED (no turn markers in the vocabulary);
 *         GEMMA2_ERR_OUT_OF_MEMORY. Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_chat_tokenize(const gemma2_tokenizer *tok, const char *const *roles,
                                              const char *const *texts, const size_t *text_lens, size_t n,
                                              uint32_t flags, int32_t *ids, size_t cap, size_t *n_ids);

/* ---- CPU and kernels -----------------------------------------------------------
 * Matrix kernels exist per instruction set: "scalar" everywhere, "avx2" (AVX2 + FMA +
 * F16C), "avxvnni" (avx2 plus AVX-VNNI), "avx512" (F/BW/VL/VNNI), "avx512vbmi" (avx512
 * plus VBMI) and "amx" (avx512vbmi plus AMX-INT8 tiles for prompts) on x86-64, "neon"
 * (dotprod) on aarch64. Every table computes the same bits. The best one this CPU and
 * OS support is chosen when a model is opened; the environment variable
 * GEMMA2_ISA=scalar|avx2|avxvnni|avx512|avx512vbmi|amx|neon can only lower that choice
 * (naming a table the CPU lacks gives the best supported one below it; other values
 * are ignored). */

/* Static name of the table a model opened now would use, e.g. "avx512". Never NULL.
 * Thread-safe. Since 1.0. */
GEMMA2_API const char *gemma2_cpu_kernels(void);

/* Writes a description of the CPU features seen and the kernels chosen: a few lines
 * of text, each ending in '\n', then a NUL. *len is the length without the NUL; if
 * cap < *len + 1, nothing is written and GEMMA2_ERR_BUFFER_TOO_SMALL is returned (buf
 * may then be NULL with cap 0 to ask for the size).
 * @return GEMMA2_OK; GEMMA2_ERR_BUFFER_TOO_SMALL; GEMMA2_ERR_INVALID_ARGUMENT (len
 *         NULL, or buf NULL with cap > 0). Thread-safe. Since 1.0. */
GEMMA2_API gemma2_status gemma2_cpu_describe(char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* GEMMA2_H */
