/*
 * source.c — mapped, pread and streaming byte sources (see source.h).
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

enum { SRC_MAPPED, SRC_PREAD, SRC_STREAM };

#define STREAM_MIN_BUF (64u * 1024u)
#define ZIN_LEN (256u * 1024u)

struct fcs_source {
    int kind;
    int is_gzip;
    int no_mmap;
    /* mapped */
    const uint8_t *base;
    uint64_t size;
    void *map;
    size_t map_len;
    /* pread / stream input */
    int fd;
    int own_fd;
    /* view buffer (pread and stream): bytes [buf_off, buf_off + buf_len) */
    uint8_t *buf;
    size_t buf_cap, buf_len;
    uint64_t buf_off;
    /* stream */
    int eof;
    int z_live;
    z_stream zs;
    uint8_t *zin;           /* compressed input buffer (fd input) */
    const uint8_t *zmem;    /* compressed input in memory */
    uint64_t zmem_len, zmem_pos;
    int in_eof;             /* no more compressed input */
};

/* ---- helpers -------------------------------------------------------------- */

static int sys_err(fcs_error *err, const char *what)
{
    return fcs_error_set(err, FCS_EIO, "%s: %s", what, strerror(errno));
}

static ssize_t read_full(int fd, void *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (uint8_t *)dst + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static ssize_t pread_full(int fd, void *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (uint8_t *)dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static int write_full(int fd, const void *src, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, (const uint8_t *)src + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        done += (size_t)k;
    }
    return 0;
}

static int is_gzip_magic(const uint8_t *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

static fcs_source *source_new(void)
{
    fcs_source *s = calloc(1, sizeof *s);
    if (s) s->fd = -1;
    return s;
}

void fcs_source_close(fcs_source *s)
{
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    if (s->z_live) inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0) close(s->fd);
    free(s->zin);
    free(s->buf);
    free(s);
}

/* Map or prepare pread access to a regular file of known size. */
static int setup_random(fcs_source *s, int fd, uint64_t size, fcs_error *err)
{
    s->fd = fd;
    s->size = size;
    if (s->no_mmap || size == 0) {
        s->kind = size == 0 ? SRC_MAPPED : SRC_PREAD;
        s->base = NULL;
        return FCS_OK;
    }
    if (size > (uint64_t)SIZE_MAX) return fcs_error_set(err, FCS_ENOMEM, "file too large to map");
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return sys_err(err, "cannot map file");
    madvise(m, (size_t)size, MADV_SEQUENTIAL);
    s->map = m;
    s->map_len = (size_t)size;
    s->base = m;
    s->kind = SRC_MAPPED;
    return FCS_OK;
}

static int setup_gzip(fcs_source *s, fcs_error *err)
{
    memset(&s->zs, 0, sizeof s->zs);
    if (inflateInit2(&s->zs, 15 + 16) != Z_OK)
        return fcs_error_set(err, FCS_ENOMEM, "cannot initialise zlib");
    s->z_live = 1;
    s->is_gzip = 1;
    if (!s->zmem) {
        s->zin = malloc(ZIN_LEN);
        if (!s->zin) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    }
    s->kind = SRC_STREAM;
    return FCS_OK;
}

/* ---- opening ------------------------------------------------------------------ */

static int open_fd(fcs_source *s, int fd, fcs_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return sys_err(err, "cannot stat input");
    uint8_t magic[2];
    if (S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) <= 0) {
        ssize_t k = pread_full(fd, magic, 2, 0);
        if (k < 0) return sys_err(err, "cannot read input");
        if (!is_gzip_magic(magic, (size_t)k)) return setup_random(s, fd, (uint64_t)st.st_size, err);
        s->fd = fd;
        return setup_gzip(s, err);
    }
    /* A pipe or terminal: peek at the first bytes to detect gzip. */
    s->fd = fd;
    ssize_t k = read_full(fd, magic, 2);
    if (k < 0) return sys_err(err, "cannot read input");
    if (is_gzip_magic(magic, (size_t)k)) {
        int rc = setup_gzip(s, err);
        if (rc) return rc;
        memcpy(s->zin, magic, 2);
        s->zs.next_in = s->zin;
        s->zs.avail_in = 2;
        return FCS_OK;
    }
    s->kind = SRC_STREAM;
    s->buf = malloc(STREAM_MIN_BUF);
    if (!s->buf) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    s->buf_cap = STREAM_MIN_BUF;
    memcpy(s->buf, magic, (size_t)k);
    s->buf_len = (size_t)k;
    if (k < 2) s->eof = 1;
    return FCS_OK;
}

int fcs_source_open_path(fcs_source **out, const char *path, int no_mmap, fcs_error *err)
{
    *out = NULL;
    fcs_source *s = source_new();
    if (!s) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    s->no_mmap = no_mmap;
    int fd;
    if (strcmp(path, "-") == 0) {
        fd = STDIN_FILENO;
    } else {
        do fd = open(path, O_RDONLY | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            int rc = sys_err(err, "cannot open");
            free(s);
            return rc;
        }
        s->own_fd = 1;
    }
    s->fd = fd;
    int rc = open_fd(s, fd, err);
    if (rc) {
        fcs_source_close(s);
        return rc;
    }
    *out = s;
    return FCS_OK;
}

int fcs_source_open_mem(fcs_source **out, const void *data, size_t len, int no_mmap,
                        fcs_error *err)
{
    *out = NULL;
    fcs_source *s = source_new();
    if (!s) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    s->no_mmap = no_mmap;
    if (is_gzip_magic(data, len)) {
        s->zmem = data;
        s->zmem_len = len;
        int rc = setup_gzip(s, err);
        if (rc) {
            fcs_source_close(s);
            return rc;
        }
    } else {
        s->kind = SRC_MAPPED;
        s->base = data;
        s->size = len;
    }
    *out = s;
    return FCS_OK;
}

int fcs_source_seekable(const fcs_source *s) { return s->kind != SRC_STREAM; }
int fcs_source_is_gzip(const fcs_source *s) { return s->is_gzip; }

int fcs_source_size(const fcs_source *s, uint64_t *size)
{
    if (s->kind == SRC_STREAM) return -1;
    *size = s->size;
    return FCS_OK;
}

/* ---- producing stream bytes ------------------------------------------------------- */

/* Refill the compressed input; sets in_eof when there is none left. */
static int gz_refill(fcs_source *s, fcs_error *err)
{
    if (s->zmem) {
        uint64_t left = s->zmem_len - s->zmem_pos;
        uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
        s->zs.next_in = (Bytef *)(s->zmem + s->zmem_pos);
        s->zs.avail_in = n;
        s->zmem_pos += n;
        if (n == 0) s->in_eof = 1;
        return FCS_OK;
    }
    ssize_t k;
    do k = read(s->fd, s->zin, ZIN_LEN);
    while (k < 0 && errno == EINTR);
    if (k < 0) return sys_err(err, "cannot read input");
    s->zs.next_in = s->zin;
    s->zs.avail_in = (uInt)k;
    if (k == 0) s->in_eof = 1;
    return FCS_OK;
}

/* After one gzip member: continue with the next member, or stop at the end
 * (bytes after the last member that are not gzip are ignored). */
static int gz_member_end(fcs_source *s, fcs_error *err)
{
    if (s->zs.avail_in == 0 && !s->in_eof) {
        int rc = gz_refill(s, err);
        if (rc) return rc;
    }
    if (s->zs.avail_in > 0 && s->zs.next_in[0] == 0x1f) {
        inflateReset(&s->zs);
        return FCS_OK;
    }
    s->eof = 1;
    return FCS_OK;
}

static int gz_produce(fcs_source *s, uint8_t *dst, size_t cap, size_t *n, fcs_error *err)
{
    *n = 0;
    if (cap > (1u << 30)) cap = 1u << 30;
    s->zs.next_out = dst;
    s->zs.avail_out = (uInt)cap;
    while (s->zs.avail_out > 0 && !s->eof) {
        if (s->zs.avail_in == 0 && !s->in_eof) {
            int rc = gz_refill(s, err);
            if (rc) return rc;
        }
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            int rc = gz_member_end(s, err);
            if (rc) return rc;
            continue;
        }
        if (zr == Z_BUF_ERROR && s->in_eof)
            return fcs_error_set(err, FCS_ETRUNCATED, "gzip stream ends early (truncated)");
        if (zr == Z_MEM_ERROR) return fcs_error_set(err, FCS_ENOMEM, "out of memory in zlib");
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return fcs_error_set(err, FCS_EFORMAT, "corrupt gzip data (%s)",
                                 s->zs.msg ? s->zs.msg : "inflate failed");
        if (s->zs.avail_out < cap) break; /* deliver what we have */
    }
    *n = cap - s->zs.avail_out;
    return FCS_OK;
}

static int produce(fcs_source *s, uint8_t *dst, size_t cap, size_t *n, fcs_error *err)
{
    if (s->eof) {
        *n = 0;
        return FCS_OK;
    }
    if (s->is_gzip) return gz_produce(s, dst, cap, n, err);
    ssize_t k;
    do k = read(s->fd, dst, cap);
    while (k < 0 && errno == EINTR);
    if (k < 0) return sys_err(err, "cannot read input");
    if (k == 0) s->eof = 1;
    *n = (size_t)k;
    return FCS_OK;
}

static int buf_reserve(fcs_source *s, size_t want, fcs_error *err)
{
    if (s->buf_cap >= want) return FCS_OK;
    size_t cap = s->buf_cap ? s->buf_cap : STREAM_MIN_BUF;
    while (cap < want) cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    uint8_t *b = realloc(s->buf, cap);
    if (!b) return fcs_error_set(err, FCS_ENOMEM, "out of memory buffering input");
    s->buf = b;
    s->buf_cap = cap;
    return FCS_OK;
}

/* Move the stream's view start forward to off, discarding bytes before it. */
static int stream_advance(fcs_source *s, uint64_t off, fcs_error *err)
{
    uint64_t have_end = s->buf_off + s->buf_len;
    if (off <= have_end) {
        size_t drop = (size_t)(off - s->buf_off);
        if (drop && s->buf_len > drop) memmove(s->buf, s->buf + drop, s->buf_len - drop);
        s->buf_len -= drop;
        s->buf_off = off;
        return FCS_OK;
    }
    s->buf_off = have_end;
    s->buf_len = 0;
    int rc = buf_reserve(s, STREAM_MIN_BUF, err);
    while (rc == FCS_OK && s->buf_off < off && !s->eof) {
        uint64_t skip = off - s->buf_off;
        size_t n;
        rc = produce(s, s->buf, skip < s->buf_cap ? (size_t)skip : s->buf_cap, &n, err);
        s->buf_off += n;
    }
    return rc;
}

static int stream_view(fcs_source *s, uint64_t off, size_t len, const uint8_t **p, size_t *got,
                       fcs_error *err)
{
    if (off < s->buf_off)
        return fcs_error_set(err, FCS_EUNSUPPORTED,
                             "cannot go back to byte %llu in a sequential input (pipe or gzip)",
                             (unsigned long long)off);
    int rc = stream_advance(s, off, err);
    /* Grow only as data arrives, so a hostile length costs nothing. */
    while (rc == FCS_OK && s->buf_len < len && !s->eof) {
        if (s->buf_len == s->buf_cap) {
            size_t want = s->buf_cap * 2 < len ? s->buf_cap * 2 : len;
            rc = buf_reserve(s, want < STREAM_MIN_BUF ? STREAM_MIN_BUF : want, err);
            if (rc) break;
        }
        size_t n;
        rc = produce(s, s->buf + s->buf_len, s->buf_cap - s->buf_len, &n, err);
        s->buf_len += n;
    }
    if (rc) return rc;
    *p = s->buf;
    *got = s->buf_len < len ? s->buf_len : len;
    return FCS_OK;
}

static int pread_view(fcs_source *s, uint64_t off, size_t len, const uint8_t **p, size_t *got,
                      fcs_error *err)
{
    if (off >= s->size) {
        *p = s->buf;
        *got = 0;
        return FCS_OK;
    }
    if (len > s->size - off) len = (size_t)(s->size - off);
    if (off >= s->buf_off && off + len <= s->buf_off + s->buf_len) {
        *p = s->buf + (off - s->buf_off);
        *got = len;
        return FCS_OK;
    }
    int rc = buf_reserve(s, len, err);
    if (rc) return rc;
    ssize_t k = pread_full(s->fd, s->buf, len, off);
    if (k < 0) return sys_err(err, "cannot read input");
    s->buf_off = off;
    s->buf_len = (size_t)k;
    *p = s->buf;
    *got = (size_t)k;
    return FCS_OK;
}

int fcs_source_view(fcs_source *s, uint64_t off, size_t len, const uint8_t **p, size_t *got,
                    fcs_error *err)
{
    switch (s->kind) {
    case SRC_MAPPED:
        if (off >= s->size) {
            *p = s->base;
            *got = 0;
        } else {
            *p = s->base + off;
            *got = s->size - off < len ? (size_t)(s->size - off) : len;
        }
        return FCS_OK;
    case SRC_PREAD: return pread_view(s, off, len, p, got, err);
    default: return stream_view(s, off, len, p, got, err);
    }
}

/* ---- spilling a stream to a temporary file ---------------------------------------- */

static int make_temp(fcs_error *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    if (!path) return fcs_error_set(err, FCS_ENOMEM, "out of memory");
    snprintf(path, n, "%s/libfcs-spill-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        int rc = fcs_error_set(err, FCS_EIO, "cannot create temporary file in %s: %s", dir,
                               strerror(errno));
        free(path);
        return rc;
    }
    unlink(path); /* gone when closed, even after a crash */
    free(path);
    return fd;
}

int fcs_source_spill(fcs_source *s, fcs_error *err)
{
    if (s->kind != SRC_STREAM) return FCS_OK;
    if (s->buf_off != 0)
        return fcs_error_set(err, FCS_EUNSUPPORTED,
                             "sequential input already consumed; cannot copy it for random access");
    int fd = make_temp(err);
    if (fd < 0) return fd;
    int rc = FCS_OK;
    if (write_full(fd, s->buf, s->buf_len) != 0) rc = sys_err(err, "cannot write temporary file");
    uint64_t total = s->buf_len;
    s->buf_len = 0;
    if (rc == FCS_OK) rc = buf_reserve(s, 1u << 20, err);
    while (rc == FCS_OK && !s->eof) {
        size_t n;
        rc = produce(s, s->buf, s->buf_cap, &n, err);
        if (rc == FCS_OK && n && write_full(fd, s->buf, n) != 0)
            rc = sys_err(err, "cannot write temporary file");
        total += n;
    }
    if (rc) {
        close(fd);
        return rc;
    }
    /* The input is no longer needed: release zlib and our own descriptor. */
    if (s->z_live) inflateEnd(&s->zs);
    s->z_live = 0;
    if (s->own_fd && s->fd >= 0) close(s->fd);
    s->own_fd = 1;
    s->buf_off = 0;
    s->buf_len = 0;
    rc = setup_random(s, fd, total, err);
    if (rc) return rc;
    return FCS_OK;
}
