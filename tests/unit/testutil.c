#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_tmp_path(const char *name)
{
    static char buf[8][1024];
    static int slot;
    char *p = buf[slot++ & 7];
    mkdir(FCS_TEST_TMPDIR, 0777);
    snprintf(p, 1024, "%s/%ld-%s", FCS_TEST_TMPDIR, (long)getpid(), name);
    return p;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = 0;
        if (len) *len = (size_t)n;
    }
    return p;
}

const char *tu_corpus_dir(void)
{
    struct stat st;
    if (stat(FCS_CORPUS_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("# corpus folder %s absent: corpus checks skipped\n", FCS_CORPUS_DIR);
        return NULL;
    }
    return FCS_CORPUS_DIR;
}

int tu_close(double a, double b, double tol)
{
    if (isnan(a) && isnan(b)) return 1;
    double d = fabs(a - b), s = fabs(b) > 1 ? fabs(b) : 1;
    if (d <= tol * s) return 1;
    fprintf(stderr, "assert_close: %.17g vs %.17g (tol %g)\n", a, b, tol);
    return 0;
}
