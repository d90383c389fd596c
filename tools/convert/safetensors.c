/* SPDX-License-Identifier: Apache-2.0 */
/* safetensors reader. Layout: u64 LE header length N, N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {...}}
 * then the data section, to which data_offsets are relative. */
#include "safetensors.h"
#include "runtime/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every dtype of the safetensors spec, so sizes are checked even for tensors we
 * will not convert. Unknown names get size 0 and skip only the size check. */
static const struct {
    const char *name;
    uint32_t dtype;
    uint32_t size;
} dtype_table[] = {
    {"F32", G2_ST_F32, 4},    {"F16", G2_ST_F16, 2},       {"BF16", G2_ST_BF16, 2},
    {"F64", G2_ST_OTHER, 8},  {"I64", G2_ST_OTHER, 8},     {"I32", G2_ST_OTHER, 4},
    {"I16", G2_ST_OTHER, 2},  {"I8", G2_ST_OTHER, 1},      {"U64", G2_ST_OTHER, 8},
    {"U32", G2_ST_OTHER, 4},  {"U16", G2_ST_OTHER, 2},     {"U8", G2_ST_OTHER, 1},
    {"BOOL", G2_ST_OTHER, 1}, {"F8_E4M3", G2_ST_OTHER, 1}, {"F8_E5M2", G2_ST_OTHER, 1},
};

size_t g2_st_dtype_size(uint32_t dtype) {
    switch (dtype) {
    case G2_ST_F32: return 4;
    case G2_ST_F16:
    case G2_ST_BF16: return 2;
    default: return 0;
    }
}

/* Reads a non-negative JSON integer. */
static int get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_tensor(g2_st_file *f, g2_st_tensor *t, const char *name, const json_t *desc,
                        uint64_t data_size, const uint8_t *data, char *err, size_t cap) {
    const char *path = f->path;
    t->file = f->path;
    t->name = strdup(name);
    if (!t->name)
        return g2_fail(err, cap, "out of memory");
    if (!json_is_object(desc))
        return g2_fail(err, cap, "%s: tensor '%s': entry is not a JSON object", path, name);

    const json_t *jdtype = json_object_get(desc, "dtype");
    if (!json_is_string(jdtype))
        return g2_fail(err, cap, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    const char *dname = json_string_value(jdtype);
    uint64_t elsize = 0;
    t->dtype = G2_ST_OTHER;
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++) {
        if (strcmp(dname, dtype_table[i].name) == 0) {
            t->dtype = dtype_table[i].dtype;
            elsize = dtype_table[i].size;
            break;
        }
    }
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dname);

    const json_t *jshape = json_object_get(desc, "shape");
    if (!json_is_array(jshape))
        return g2_fail(err, cap, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    size_t rank = json_array_size(jshape);
    if (rank > G2_MAX_DIMS)
        return g2_fail(err, cap, "%s: tensor '%s': rank %zu exceeds the maximum of %d", path, name, rank,
                       G2_MAX_DIMS);
    t->n_dims = (uint32_t)rank;
    uint64_t count = 1;
    for (size_t i = 0; i < rank; i++) {
        uint64_t d;
        if (get_u64(json_array_get(jshape, i), &d) != 0)
            return g2_fail(err, cap, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name,
                           i);
        t->dims[i] = d;
        if (d != 0 && count > UINT64_MAX / d)
            return g2_fail(err, cap, "%s: tensor '%s': element count overflows", path, name);
        count *= d;
    }

    const json_t *joff = json_object_get(desc, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(joff) || json_array_size(joff) != 2 || get_u64(json_array_get(joff, 0), &begin) != 0 ||
        get_u64(json_array_get(joff, 1), &end) != 0)
        return g2_fail(err, cap, "%s: tensor '%s': \"data_offsets\" must be [begin, end] integers", path,
                       name);
    if (begin > end)
        return g2_fail(err, cap, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                       name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return g2_fail(err, cap,
                       "%s: tensor '%s': data_offsets [%llu, %llu] lie outside the data section "
                       "(%llu bytes); is the file truncated?",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);
    if (elsize != 0) {
        if (count > UINT64_MAX / elsize)
            return g2_fail(err, cap, "%s: tensor '%s': byte size overflows", path, name);
        if (end - begin != count * elsize)
            return g2_fail(err, cap, "%s: tensor '%s': %llu data bytes, but shape and dtype %s need %llu",
                           path, name, (unsigned long long)(end - begin), dname,
                           (unsigned long long)(count * elsize));
    }
    t->data = data + begin;
    t->size = end - begin;
    return 0;
}

static int parse_header(g2_st_file *f, char *err, size_t cap) {
    uint64_t header_len;
    memcpy(&header_len, f->map, 8); /* little-endian host: checked by the build */
    if (header_len > G2_ST_MAX_HEADER)
        return g2_fail(err, cap, "%s: header length %llu exceeds the %llu MB limit (not a safetensors file?)",
                       f->path, (unsigned long long)header_len, (unsigned long long)(G2_ST_MAX_HEADER >> 20));
    if (header_len > f->map_size - 8)
        return g2_fail(err, cap,
                       "%s: header length %llu runs past the end of the file (%zu bytes); "
                       "is the file truncated?",
                       f->path, (unsigned long long)header_len, f->map_size);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return g2_fail(err, cap, "%s: invalid JSON header: %s (at byte %d)", f->path, jerr.text,
                       jerr.position);
    int rc = -1;
    if (!json_is_object(root)) {
        g2_fail(err, cap, "%s: JSON header is not an object", f->path);
        goto out;
    }
    size_t n = json_object_size(root);
    if (json_object_get(root, "__metadata__"))
        n--;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        g2_fail(err, cap, "out of memory");
        goto out;
    }
    const uint8_t *data = f->map + 8 + header_len;
    uint64_t data_size = f->map_size - 8 - header_len;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        /* count first so g2_st_close frees a partly parsed entry */
        g2_st_tensor *t = &f->tensors[f->n_tensors++];
        if (parse_tensor(f, t, key, value, data_size, data, err, cap) != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int g2_st_open(g2_st_file **out, const char *path, char *err, size_t cap) {
    *out = NULL;
    g2_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return g2_fail(err, cap, "out of memory");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g2_fail(err, cap, "%s: cannot open: %s", path, strerror(errno));
        goto error;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g2_fail(err, cap, "%s: not a regular file", path);
        close(fd);
        goto error;
    }
    if (st.st_size < 8) {
        g2_fail(err, cap, "%s: %lld bytes is too short for a safetensors file", path, (long long)st.st_size);
        close(fd);
        goto error;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        g2_fail(err, cap, "%s: file too large to map", path);
        close(fd);
        goto error;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        g2_fail(err, cap, "%s: cannot map: %s", path, strerror(errno));
        goto error;
    }
    f->map = map;
    f->map_size = (size_t)st.st_size;
    madvise(f->map, f->map_size, MADV_SEQUENTIAL); /* a hint; failure is harmless */
    if (parse_header(f, err, cap) != 0)
        goto error;
    *out = f;
    return 0;
error:
    g2_st_close(f);
    return -1;
}

void g2_st_close(g2_st_file *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}
