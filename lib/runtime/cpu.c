/* SPDX-License-Identifier: Apache-2.0 */
/* CPU features and kernel choice (lib/runtime/cpu.h). An instruction set counts only if
 * the CPU has it *and* the OS saves its registers on context switches (XCR0): a VM may
 * expose AVX-512 in CPUID while disabling its state, and using it then is SIGILL. */
#include "runtime/cpu.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#    include <cpuid.h>
#    define G2_CPU_X86 1
#    if defined(__linux__)
#        include <sys/syscall.h>
#        include <unistd.h>
#    endif
#elif defined(__aarch64__) && defined(__linux__)
#    include <sys/auxv.h>
#    define G2_CPU_ARM64 1
#endif

typedef struct cpu_features {
    const char *arch;
    char vendor[13];
    /* x86-64 */
    int sse42, avx, avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512vbmi, avx512bf16, avxvnni;
    int amx_tile, amx_int8;
    int os_ymm, os_zmm; /* XCR0: the OS saves YMM (bits 1-2), and opmask + ZMM (5-7) */
    int os_amx;         /* XCR0 bits 17-18 (tile config and data) and, on Linux, the
                         * process's permission to use tile data (arch_prctl) */
    /* aarch64 */
    int asimd, asimddp;
} cpu_features;

static cpu_features g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

#ifdef G2_CPU_X86
static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

/* Linux enables AMX tile data lazily: a process must ask for it once (for all its
 * threads, present and future), else the first tile instruction is SIGILL. The request
 * fails on kernels without AMX support (or when a sigaltstack is too small for the
 * tile state), and then AMX is not used. */
static int request_amx(void) {
#    if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#    else
    return 0;
#    endif
}
#endif

static void detect(void) {
    cpu_features *f = &g_cpu;
#if defined(G2_CPU_X86)
    f->arch = "x86_64";
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    const unsigned max_leaf = a;
    memcpy(f->vendor, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    f->sse42 = (c >> 20) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    uint64_t xcr0 = 0;
    if (osxsave) {
        xcr0 = xgetbv0();
        f->os_ymm = (xcr0 & 0x6) == 0x6;
        f->os_zmm = f->os_ymm && (xcr0 & 0xE0) == 0xE0;
    }
    f->avx = avx && f->os_ymm;
    if (!f->avx) /* without YMM state, nothing below can run */
        f->fma = f->f16c = 0;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = f->avx && ((b >> 5) & 1);
        if (f->os_zmm) {
            f->avx512f = (b >> 16) & 1;
            f->avx512bw = f->avx512f && ((b >> 30) & 1);
            f->avx512vl = f->avx512f && ((b >> 31) & 1);
            f->avx512vnni = f->avx512f && ((c >> 11) & 1);
            f->avx512vbmi = f->avx512f && ((c >> 1) & 1);
        }
        f->amx_tile = (d >> 24) & 1;
        f->amx_int8 = f->amx_tile && ((d >> 25) & 1);
        if (f->amx_int8 && (xcr0 & 0x60000) == 0x60000)
            f->os_amx = request_amx();
        const unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avxvnni = f->avx && ((a >> 4) & 1);
            f->avx512bf16 = f->avx512f && ((a >> 5) & 1);
        }
    }
#elif defined(G2_CPU_ARM64)
    f->arch = "aarch64";
    const unsigned long hw = getauxval(AT_HWCAP);
    f->asimd = (hw >> 1) & 1;    /* HWCAP_ASIMD */
    f->asimddp = (hw >> 20) & 1; /* HWCAP_ASIMDDP: sdot/udot */
#else
    f->arch = "other";
#endif
}

static const cpu_features *features(void) {
    pthread_once(&g_cpu_once, detect);
    return &g_cpu;
}

/* This build's tables, lowest rank first, with what each needs. */
typedef struct table_entry {
    const g2_kernels *k;
    int (*supported)(const cpu_features *f);
} table_entry;

static int sup_scalar(const cpu_features *f) { return (void)f, 1; }
#if defined(__x86_64__)
static int sup_avx2(const cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
static int sup_avxvnni(const cpu_features *f) { return sup_avx2(f) && f->avxvnni; }
static int sup_avx512(const cpu_features *f) {
    return sup_avx2(f) && f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni;
}
static int sup_avx512vbmi(const cpu_features *f) { return sup_avx512(f) && f->avx512vbmi; }
/* The amx table runs small products on the avx512vbmi one (every AMX CPU has VBMI). */
static int sup_amx(const cpu_features *f) { return sup_avx512vbmi(f) && f->amx_int8 && f->os_amx; }
#endif
#if defined(__aarch64__)
static int sup_neon(const cpu_features *f) { return f->asimd && f->asimddp; }
#endif

static const table_entry g_tables[] = {
    {&g2_kernels_scalar, sup_scalar},
#if defined(__x86_64__)
    {&g2_kernels_avx2, sup_avx2},             /* AVX2, FMA, F16C */
    {&g2_kernels_avxvnni, sup_avxvnni},       /* the same with AVX-VNNI */
    {&g2_kernels_avx512, sup_avx512},         /* AVX-512 F/BW/VL/VNNI */
    {&g2_kernels_avx512vbmi, sup_avx512vbmi}, /* the same with VBMI */
    {&g2_kernels_amx, sup_amx},               /* AMX-TILE/INT8, then avx512vbmi for few tokens */
#endif
#if defined(__aarch64__)
    {&g2_kernels_neon, sup_neon},
#endif
};
#define N_TABLES (sizeof g_tables / sizeof g_tables[0])

static int rank_of(const char *isa) {
    if (isa)
        for (size_t i = 0; i < N_TABLES; i++)
            if (!strcmp(isa, g_tables[i].k->name))
                return (int)i;
    return -1;
}

const g2_kernels *g2_kernels_find(const char *isa) {
    const int i = rank_of(isa);
    return i >= 0 && g_tables[i].supported(features()) ? g_tables[i].k : NULL;
}

const g2_kernels *g2_kernels_select_isa(const char *request) {
    const cpu_features *f = features();
    int top = rank_of(request);
    if (top < 0)
        top = (int)N_TABLES - 1;
    for (int i = top; i > 0; i--)
        if (g_tables[i].supported(f))
            return g_tables[i].k;
    return &g2_kernels_scalar;
}

const g2_kernels *g2_kernels_select(void) { return g2_kernels_select_isa(getenv("GEMMA2_ISA")); }

/* snprintf-style append: keeps counting past cap. */
typedef struct out_buf {
    char *buf;
    size_t cap, len;
} out_buf;

static void put(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_buf *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *at = o->len < o->cap ? o->buf + o->len : NULL;
    int n = vsnprintf(at, at ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

size_t g2_cpu_describe(char *buf, size_t cap) {
    const cpu_features *f = features();
    out_buf o = {buf, cap, 0};
    if (cap)
        buf[0] = '\0';
    put(&o, "cpu: %s%s%s\n", f->arch, f->vendor[0] ? " " : "", f->vendor);
    put(&o, "features:");
    const struct {
        const char *name;
        int on;
    } flags[] = {
        {"sse4.2", f->sse42},
        {"avx", f->avx},
        {"avx2", f->avx2},
        {"fma", f->fma},
        {"f16c", f->f16c},
        {"avx512f", f->avx512f},
        {"avx512bw", f->avx512bw},
        {"avx512vl", f->avx512vl},
        {"avx512vnni", f->avx512vnni},
        {"avx512vbmi", f->avx512vbmi},
        {"avx512bf16", f->avx512bf16},
        {"avx-vnni", f->avxvnni},
        {"amx-tile", f->amx_tile},
        {"amx-int8", f->amx_int8},
        {"os-ymm", f->os_ymm},
        {"os-zmm", f->os_zmm},
        {"os-amx", f->os_amx},
        {"asimd", f->asimd},
        {"asimddp", f->asimddp},
    };
    int any = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].on) {
            put(&o, " %s", flags[i].name);
            any = 1;
        }
    put(&o, "%s\nkernels available:", any ? "" : " (none)");
    for (size_t i = 0; i < N_TABLES; i++)
        if (g_tables[i].supported(f))
            put(&o, " %s", g_tables[i].k->name);
    const char *req = getenv("GEMMA2_ISA");
    put(&o, "\nkernels: %s", g2_kernels_select_isa(req)->name);
    if (req && *req)
        put(&o, " (GEMMA2_ISA=%s)", req);
    put(&o, "\n");
    return o.len;
}
