/* test_source.c — byte sources (libfcs/source.c): memory, mmap, pread, pipes,
 * gzip (multi-member, corrupt, truncated) and spilling to a temporary file. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "source.h"

enum { LEN = 300000 };

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 7919u) >> 3);
    return p;
}

static uint8_t *gz(const uint8_t *src, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n);
    uint8_t *o = malloc(cap);
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return o;
}

/* Check views over a source against the pattern: forward, with skips. */
static void check_forward(fcs_source *s, const uint8_t *want, size_t n)
{
    const uint8_t *p;
    size_t got;
    fcs_error e;
    assert_int_equal(fcs_source_view(s, 0, 58, &p, &got, &e), FCS_OK);
    assert_int_equal(got, 58);
    assert_memory_equal(p, want, 58);
    assert_int_equal(fcs_source_view(s, 10, 100, &p, &got, &e), FCS_OK);
    assert_memory_equal(p, want + 10, 100);
    assert_int_equal(fcs_source_view(s, 100000, 70000, &p, &got, &e), FCS_OK);
    assert_int_equal(got, 70000);
    assert_memory_equal(p, want + 100000, 70000);
    assert_int_equal(fcs_source_view(s, n - 5, 1000, &p, &got, &e), FCS_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(p, want + n - 5, 5);
    assert_int_equal(fcs_source_view(s, n + 10, 10, &p, &got, &e), FCS_OK);
    assert_int_equal(got, 0);
}

static void test_memory(void **state)
{
    (void)state;
    uint8_t *d = pattern(LEN);
    fcs_source *s;
    fcs_error e;
    assert_int_equal(fcs_source_open_mem(&s, d, LEN, 0, &e), FCS_OK);
    assert_true(fcs_source_seekable(s));
    assert_false(fcs_source_is_gzip(s));
    uint64_t size;
    assert_int_equal(fcs_source_size(s, &size), FCS_OK);
    assert_int_equal(size, LEN);
    const uint8_t *p;
    size_t got;
    assert_int_equal(fcs_source_view(s, 1234, 10, &p, &got, &e), FCS_OK);
    assert_ptr_equal(p, d + 1234); /* zero copy */
    check_forward(s, d, LEN);
    assert_int_equal(fcs_source_view(s, 3, 4, &p, &got, &e), FCS_OK); /* backwards is fine */
    assert_int_equal(fcs_source_spill(s, &e), FCS_OK);                /* no-op */
    fcs_source_close(s);
    fcs_source_close(NULL);
    free(d);
}

static void test_files(void **state)
{
    (void)state;
    uint8_t *d = pattern(LEN);
    size_t zl;
    uint8_t *z = gz(d, LEN, &zl);
    const char *plain = tu_tmp_path("src_plain.bin"), *gzp = tu_tmp_path("src_gz.bin");
    assert_int_equal(tu_write_file(plain, d, LEN), 0);
    assert_int_equal(tu_write_file(gzp, z, zl), 0);
    for (int no_mmap = 0; no_mmap < 2; no_mmap++) {
        fcs_source *s;
        fcs_error e;
        assert_int_equal(fcs_source_open_path(&s, plain, no_mmap, &e), FCS_OK);
        assert_true(fcs_source_seekable(s));
        check_forward(s, d, LEN);
        const uint8_t *p;
        size_t got;
        assert_int_equal(fcs_source_view(s, 7, 3, &p, &got, &e), FCS_OK);
        assert_memory_equal(p, d + 7, 3);
        fcs_source_close(s);
        /* gzip is detected by content, whatever the name */
        assert_int_equal(fcs_source_open_path(&s, gzp, no_mmap, &e), FCS_OK);
        assert_true(fcs_source_is_gzip(s));
        assert_false(fcs_source_seekable(s));
        uint64_t size;
        assert_int_equal(fcs_source_size(s, &size), -1);
        check_forward(s, d, LEN);
        assert_int_equal(fcs_source_view(s, 0, 1, &p, &got, &e), FCS_EUNSUPPORTED);
        fcs_source_close(s);
    }
    /* stdin redirected from a regular file is mapped: seekable */
    FILE *f = fopen(plain, "rb");
    int saved = dup(STDIN_FILENO);
    dup2(fileno(f), STDIN_FILENO);
    fcs_source *s;
    fcs_error e;
    assert_int_equal(fcs_source_open_path(&s, "-", 0, &e), FCS_OK);
    assert_true(fcs_source_seekable(s));
    check_forward(s, d, LEN);
    fcs_source_close(s);
    dup2(saved, STDIN_FILENO);
    close(saved);
    fclose(f);
    assert_int_equal(fcs_source_open_path(&s, "/nonexistent/file", 0, &e), FCS_EIO);
    assert_non_null(strstr(e.msg, "cannot open"));
    unlink(plain);
    unlink(gzp);
    free(d);
    free(z);
}

static void test_gzip_members_and_errors(void **state)
{
    (void)state;
    uint8_t *d = pattern(LEN);
    size_t l1, l2;
    uint8_t *z1 = gz(d, 1000, &l1), *z2 = gz(d + 1000, LEN - 1000, &l2);
    uint8_t *both = malloc(l1 + l2);
    memcpy(both, z1, l1);
    memcpy(both + l1, z2, l2);
    fcs_source *s;
    fcs_error e;
    assert_int_equal(fcs_source_open_mem(&s, both, l1 + l2, 0, &e), FCS_OK);
    check_forward(s, d, LEN); /* two members read as one stream */
    fcs_source_close(s);

    /* truncated: the error surfaces when the missing bytes are asked for */
    assert_int_equal(fcs_source_open_mem(&s, z2, l2 / 2, 0, &e), FCS_OK);
    const uint8_t *p;
    size_t got;
    int rc = fcs_source_view(s, 0, LEN, &p, &got, &e);
    assert_int_equal(rc, FCS_ETRUNCATED);
    assert_non_null(strstr(e.msg, "gzip"));
    fcs_source_close(s);

    /* corrupt deflate data */
    uint8_t *bad = malloc(l2);
    memcpy(bad, z2, l2);
    for (size_t i = 20; i < 60; i++) bad[i] ^= 0x5A;
    assert_int_equal(fcs_source_open_mem(&s, bad, l2, 0, &e), FCS_OK);
    rc = fcs_source_view(s, 0, LEN, &p, &got, &e);
    assert_true(rc == FCS_EFORMAT || rc == FCS_ETRUNCATED);
    fcs_source_close(s);
    free(bad);
    free(both);
    free(z1);
    free(z2);
    free(d);
}

static void test_spill(void **state)
{
    (void)state;
    uint8_t *d = pattern(LEN);
    size_t zl;
    uint8_t *z = gz(d, LEN, &zl);
    for (int no_mmap = 0; no_mmap < 2; no_mmap++) {
        fcs_source *s;
        fcs_error e;
        assert_int_equal(fcs_source_open_mem(&s, z, zl, no_mmap, &e), FCS_OK);
        const uint8_t *p;
        size_t got;
        assert_int_equal(fcs_source_view(s, 0, 600, &p, &got, &e), FCS_OK);
        assert_int_equal(fcs_source_spill(s, &e), FCS_OK);
        assert_true(fcs_source_seekable(s));
        uint64_t size;
        assert_int_equal(fcs_source_size(s, &size), FCS_OK);
        assert_int_equal(size, LEN);
        assert_int_equal(fcs_source_view(s, 250000, 100, &p, &got, &e), FCS_OK);
        assert_memory_equal(p, d + 250000, 100);
        check_forward(s, d, LEN);
        fcs_source_close(s);
    }
    /* a stream already advanced cannot be spilled (its start is gone) */
    fcs_source *s;
    fcs_error e;
    assert_int_equal(fcs_source_open_mem(&s, z, zl, 0, &e), FCS_OK);
    const uint8_t *p;
    size_t got;
    assert_int_equal(fcs_source_view(s, 1000, 10, &p, &got, &e), FCS_OK);
    assert_int_equal(fcs_source_spill(s, &e), FCS_EUNSUPPORTED);
    fcs_source_close(s);
    free(z);
    free(d);
}

static void test_pipe(void **state)
{
    (void)state;
    uint8_t *d = pattern(LEN);
    for (int compress = 0; compress < 2; compress++) {
        size_t n = LEN;
        uint8_t *src = d;
        if (compress) src = gz(d, LEN, &n);
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            size_t done = 0;
            while (done < n) {
                ssize_t k = write(fds[1], src + done, n - done);
                if (k <= 0) _exit(1);
                done += (size_t)k;
            }
            _exit(0);
        }
        close(fds[1]);
        int saved = dup(STDIN_FILENO);
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        fcs_source *s;
        fcs_error e;
        assert_int_equal(fcs_source_open_path(&s, "-", 0, &e), FCS_OK);
        assert_false(fcs_source_seekable(s));
        assert_int_equal(fcs_source_is_gzip(s), compress);
        /* a hostile length costs only what the input really holds */
        const uint8_t *p;
        size_t got;
        assert_int_equal(fcs_source_view(s, 0, (size_t)1 << 40, &p, &got, &e), FCS_OK);
        assert_int_equal(got, LEN);
        assert_memory_equal(p, d, LEN);
        fcs_source_close(s);
        dup2(saved, STDIN_FILENO);
        close(saved);
        waitpid(pid, NULL, 0);
        if (compress) free(src);
    }
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_gzip_members_and_errors),
        cmocka_unit_test(test_spill),
        cmocka_unit_test(test_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
