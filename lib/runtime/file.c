/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/error.h"

/* Reads the whole of fd (size bytes) into fresh anonymous memory. */
static gemma2_status read_copy(int fd, const char *path, size_t size, void **out) {
    void *p = g2_fault(G2_FAULT_ALLOC)
                  ? MAP_FAILED
                  : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return g2_error(GEMMA2_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for '%s'", size, path);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: fewer TLB misses when granted */
#endif
    for (size_t done = 0; done < size;) {
        ssize_t n =
            g2_fault(G2_FAULT_IO) ? (errno = EIO, -1) : pread(fd, (char *)p + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int e = n < 0 ? errno : 0;
            munmap(p, size);
            return g2_error(GEMMA2_ERR_IO, "cannot read '%s': %s", path,
                            e ? strerror(e) : "the file shrank while being read");
        }
        done += (size_t)n;
    }
    (void)mprotect(p, size, PROT_READ); /* like the mapping: nobody writes the weights */
    *out = p;
    return GEMMA2_OK;
}

gemma2_status g2_file_map(const char *path, int copy, g2_mapped_file *out) {
    out->data = NULL;
    out->size = 0;
    int fd = g2_fault(G2_FAULT_IO) ? (errno = EIO, -1) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return g2_error(GEMMA2_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return g2_error(GEMMA2_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return g2_error(GEMMA2_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return g2_error(GEMMA2_ERR_IO, "'%s' is too large to map on this system", path);
    }
    if (st.st_size > 0 && copy) {
        void *p = NULL;
        gemma2_status status = read_copy(fd, path, (size_t)st.st_size, &p);
        close(fd);
        if (status != GEMMA2_OK)
            return status;
        out->data = p;
        out->size = (uint64_t)st.st_size;
        return GEMMA2_OK;
    }
    if (st.st_size > 0) {
        void *p = g2_fault(G2_FAULT_IO) ? (errno = ENOMEM, MAP_FAILED)
                                        : mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g2_error(e == ENOMEM ? GEMMA2_ERR_OUT_OF_MEMORY : GEMMA2_ERR_IO, "cannot map '%s': %s",
                            path, strerror(e));
        }
#ifdef MADV_HUGEPAGE
        /* A hint: pages not yet cached are then read in as 2 MB folios, which map with
         * one TLB entry each (decode 1.03x in the fast-memory minutes of the Zen 4 VM,
         * docs/performance.md section 5). Pages already cached keep their size. */
        (void)madvise(p, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
        out->data = p;
        out->size = (uint64_t)st.st_size;
    }
    close(fd); /* the mapping keeps the file alive */
    return GEMMA2_OK;
}

void g2_file_unmap(g2_mapped_file *file) {
    if (file->data)
        munmap((void *)file->data, (size_t)file->size);
    file->data = NULL;
    file->size = 0;
}
