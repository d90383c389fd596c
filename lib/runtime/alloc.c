/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Per kind: the operations counted since the last g2_fault_inject, and which one fails
 * (0 = none). Counting only happens while a test injects, so normal runs pay one load. */
static _Atomic long counted[G2_FAULT_KINDS];
static _Atomic long fail_at[G2_FAULT_KINDS];

int g2_fault(g2_fault_kind kind) {
    long at = atomic_load_explicit(&fail_at[kind], memory_order_relaxed);
    if (at == 0)
        return 0;
    return atomic_fetch_add_explicit(&counted[kind], 1, memory_order_relaxed) + 1 == at;
}

long g2_fault_inject(g2_fault_kind kind, long n) {
    long seen = atomic_exchange(&counted[kind], 0);
    atomic_store(&fail_at[kind], n);
    return seen;
}

void *g2_malloc(size_t size) { return g2_fault(G2_FAULT_ALLOC) ? NULL : malloc(size); }
void *g2_calloc(size_t n, size_t size) { return g2_fault(G2_FAULT_ALLOC) ? NULL : calloc(n, size); }
void *g2_realloc(void *p, size_t size) { return g2_fault(G2_FAULT_ALLOC) ? NULL : realloc(p, size); }
