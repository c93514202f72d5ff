/* testutil.h — small helpers shared by the cmocka unit tests. */
#ifndef FCS_TESTUTIL_H
#define FCS_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Path of a fresh file name inside the build's tmp dir (static buffer per call slot). */
const char *tu_tmp_path(const char *name);
/* Write bytes to a file; return 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Read a whole file (malloc'd, NUL-terminated); NULL on failure. */
char *tu_read_file(const char *path, size_t *len);
/* Corpus root, or NULL (and a printed skip note) when the folder is absent. */
const char *tu_corpus_dir(void);
/* |a-b| <= tol * max(1,|b|) */
#define assert_close(a, b, tol) \
    assert_true(tu_close((double)(a), (double)(b), (double)(tol)))
int tu_close(double a, double b, double tol);
#endif
