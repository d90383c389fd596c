/* SPDX-License-Identifier: Apache-2.0 */
/* The public header compiled as C99, C11 and C++11 (header_check.cpp includes this
 * file) with -Wall -Wextra -Wpedantic -Werror: each build checks that the structs
 * have the sizes the library was built with (gemma2_struct_size), so C++ and every
 * C standard see one layout. */
#include <gemma2.h>

#include <stdio.h>

#define STRUCT(which, type) { which, sizeof(type), #type }
static const struct {
    int32_t which;
    size_t size;
    const char *name;
} structs[] = {
    STRUCT(GEMMA2_STRUCT_MODEL_OPTIONS, gemma2_model_options),
    STRUCT(GEMMA2_STRUCT_SAMPLER_OPTIONS, gemma2_sampler_options),
    STRUCT(GEMMA2_STRUCT_SESSION_OPTIONS, gemma2_session_options),
    STRUCT(GEMMA2_STRUCT_MODEL_INFO, gemma2_model_info),
    STRUCT(GEMMA2_STRUCT_TENSOR_INFO, gemma2_tensor_info),
    STRUCT(GEMMA2_STRUCT_FEED_OUTPUTS, gemma2_feed_outputs),
    STRUCT(GEMMA2_STRUCT_STEP_RESULT, gemma2_step_result),
    STRUCT(GEMMA2_STRUCT_GENERATE_OPTIONS, gemma2_generate_options),
    STRUCT(GEMMA2_STRUCT_GENERATE_RESULT, gemma2_generate_result),
    STRUCT(GEMMA2_STRUCT_LOGIT_BIAS, gemma2_logit_bias),
};

int main(void) {
    int failed = 0;
    size_t i;
    for (i = 0; i < sizeof structs / sizeof structs[0]; i++) {
        size_t lib = gemma2_struct_size(structs[i].which);
        if (lib != structs[i].size) {
            printf("FAIL: %s: %u bytes here, %u in the library\n", structs[i].name,
                   (unsigned)structs[i].size, (unsigned)lib);
            failed = 1;
        }
    }
    if (gemma2_struct_size(0) != 0 || gemma2_struct_size(11) != 0) {
        printf("FAIL: gemma2_struct_size of an unknown struct is not 0\n");
        failed = 1;
    }
    if (gemma2_abi_version() != GEMMA2_ABI_VERSION || gemma2_version() != GEMMA2_VERSION_NUMBER) {
        printf("FAIL: header and library versions differ\n");
        failed = 1;
    }
    printf("%u structs checked\n", (unsigned)(sizeof structs / sizeof structs[0]));
    return failed;
}
