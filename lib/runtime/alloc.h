/* SPDX-License-Identifier: Apache-2.0 */
/* Every heap allocation, file open, read and mapping of the library goes through here,
 * so that tests can make the Nth one fail (fault injection, tests/fault) and check each
 * failure path: a clean status, nothing leaked, existing handles still usable. */
#ifndef G2_RUNTIME_ALLOC_H
#define G2_RUNTIME_ALLOC_H

#include <stddef.h>

typedef enum {
    G2_FAULT_ALLOC = 0,  /* malloc, calloc, realloc, anonymous mmap */
    G2_FAULT_IO = 1,     /* open, read, file mmap */
    G2_FAULT_THREAD = 2, /* pthread_create */
    G2_FAULT_KINDS
} g2_fault_kind;

/* 1 if this operation of the given kind must fail (a test asked for it), else 0.
 * Costs one relaxed atomic load when no test is injecting. */
int g2_fault(g2_fault_kind kind);

/* Test hook: the n-th operation of `kind` from now on fails (n = 1: the next one), and
 * only that one; n = 0 turns injection and counting off. Returns how many operations of
 * that kind were counted since the previous call: inject LONG_MAX to count the sites a
 * call passes. */
long g2_fault_inject(g2_fault_kind kind, long n);

void *g2_malloc(size_t size);
void *g2_calloc(size_t n, size_t size);
void *g2_realloc(void *p, size_t size);

#endif
