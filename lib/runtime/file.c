/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

gemma2_status g2_file_map(const char *path, g2_mapped_file *out) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g2_error(e == ENOMEM ? GEMMA2_ERR_OUT_OF_MEMORY : GEMMA2_ERR_IO, "cannot map '%s': %s",
                            path, strerror(e));
        }
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
