/* SPDX-License-Identifier: Apache-2.0 */
/* CPU feature detection and the choice of kernel table (STYLE.md rule 12).
 * Features are detected once per process (pthread_once): CPUID leaves 1 and 7 plus the
 * XGETBV/XCR0 check that the OS saves the wider registers (and, for AMX on Linux, the
 * process-wide arch_prctl permission to use tile data, requested there), or
 * getauxval(AT_HWCAP) on aarch64. Tables rank scalar < avx2 < avxvnni < avx512 <
 * avx512vbmi < amx (x86-64) and scalar < neon (aarch64). */
#ifndef G2_RUNTIME_CPU_H
#define G2_RUNTIME_CPU_H

#include <stddef.h>

#include "tensor/quant.h"

/* The table for an ISA name ("scalar", "avx2", "avx512", "amx", ...) if this build has it
 * and this CPU (and OS) can run it, else NULL. */
const g2_kernels *g2_kernels_find(const char *isa);

/* The best table this CPU runs, lowered by request if request names a table of this
 * build's family: then the best supported table ranked at or below it (an unsupported
 * request falls back downwards, never up). NULL, "" or an unknown name: the best. */
const g2_kernels *g2_kernels_select_isa(const char *request);

/* g2_kernels_select_isa(getenv("GEMMA2_ISA")): read at each call (at model open). */
const g2_kernels *g2_kernels_select(void);

/* Writes the features seen and the table chosen, one line each, NUL-terminated and
 * truncated to cap bytes (buf may be NULL when cap is 0); returns the full length
 * (without the NUL), like snprintf. */
size_t g2_cpu_describe(char *buf, size_t cap);

#endif
