/* SPDX-License-Identifier: Apache-2.0 */
/* Version, status strings, last error and constants. */
#include "gemma2.h"
#include "tensor/ggml_blocks.h"
#include "runtime/error.h"

uint32_t gemma2_version(void) { return GEMMA2_VERSION_NUMBER; }
const char *gemma2_version_string(void) { return GEMMA2_VERSION_STRING; }
uint32_t gemma2_abi_version(void) { return GEMMA2_ABI_VERSION; }
uint32_t gemma2_digest_bytes(void) { return GEMMA2_DIGEST_BYTES; }

size_t gemma2_struct_size(int32_t which) {
    switch (which) {
    case GEMMA2_STRUCT_MODEL_OPTIONS: return sizeof(gemma2_model_options);
    case GEMMA2_STRUCT_SAMPLER_OPTIONS: return sizeof(gemma2_sampler_options);
    case GEMMA2_STRUCT_SESSION_OPTIONS: return sizeof(gemma2_session_options);
    case GEMMA2_STRUCT_MODEL_INFO: return sizeof(gemma2_model_info);
    case GEMMA2_STRUCT_TENSOR_INFO: return sizeof(gemma2_tensor_info);
    case GEMMA2_STRUCT_FEED_OUTPUTS: return sizeof(gemma2_feed_outputs);
    case GEMMA2_STRUCT_STEP_RESULT: return sizeof(gemma2_step_result);
    case GEMMA2_STRUCT_GENERATE_OPTIONS: return sizeof(gemma2_generate_options);
    case GEMMA2_STRUCT_GENERATE_RESULT: return sizeof(gemma2_generate_result);
    case GEMMA2_STRUCT_LOGIT_BIAS: return sizeof(gemma2_logit_bias);
    default: return 0;
    }
}

const char *gemma2_last_error(void) { return g2_error_message(); }

const char *gemma2_status_string(gemma2_status status) {
    switch (status) {
    case GEMMA2_OK: return "ok";
    case GEMMA2_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GEMMA2_ERR_UNSUPPORTED: return "unsupported";
    case GEMMA2_ERR_OUT_OF_MEMORY: return "out of memory";
    case GEMMA2_ERR_IO: return "input/output error";
    case GEMMA2_ERR_FORMAT: return "malformed model file";
    case GEMMA2_ERR_VERSION: return "unsupported file version";
    case GEMMA2_ERR_CHECKSUM: return "checksum mismatch";
    case GEMMA2_ERR_TOKEN_OUT_OF_RANGE: return "token id out of range";
    case GEMMA2_ERR_CONTEXT_FULL: return "context full";
    case GEMMA2_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case GEMMA2_ERR_STATE: return "invalid state for this call";
    case GEMMA2_ERR_CANCELLED: return "cancelled";
    case GEMMA2_ERR_SYSTEM: return "system error";
    case GEMMA2_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char *gemma2_type_name(int32_t type) {
    switch (type) {
    case GEMMA2_TYPE_F32: return "f32";
    case GEMMA2_TYPE_BF16: return "bf16";
    case GEMMA2_TYPE_Q8: return "q8";
    case GEMMA2_TYPE_Q4: return "q4";
    default:
        if (type >= GEMMA2_TYPE_GGUF_BASE && g2_ggml_type((uint32_t)(type - GEMMA2_TYPE_GGUF_BASE)))
            return g2_ggml_type_name((uint32_t)(type - GEMMA2_TYPE_GGUF_BASE));
        return "unknown";
    }
}
