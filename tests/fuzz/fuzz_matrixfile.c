/*
 * fuzz_matrixfile.c — libFuzzer harness for the matrix parsers: CSV/TSV
 * matrix files (fcs_matrix_parse_text) and $SPILLOVER values
 * (fcs_matrix_parse_spillover). Whatever parses is fed on to the
 * compensation / unmixing builders and applied to one event, so the whole
 * path from untrusted text to arithmetic runs under ASan/UBSan.
 *
 * Build: cmake -DFCS_FUZZ=ON with CC=clang; run e.g.
 *     ./fuzz_matrixfile -max_total_time=60 CORPUS_DIR
 * Seeds: any small CSV/TSV matrix (see tests/unit/test_matrixfile.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/comp.h"

/* Use the matrix on a data set whose parameters are its own column names. */
static void exercise(const fcs_matrix *m)
{
    size_t cols = fcs_matrix_cols(m), rows = fcs_matrix_rows(m);
    if (cols == 0 || cols > 256) return;
    const char **names = malloc(cols * sizeof *names);
    double *ev = calloc(cols, sizeof *ev), *out = calloc(rows ? rows : 1, sizeof *out);
    if (!names || !ev || !out) goto done;
    for (size_t j = 0; j < cols; j++) {
        names[j] = fcs_matrix_name(m, j);
        ev[j] = (double)j;
    }
    fcs_comp *c = NULL;
    fcs_comp_opts o;
    fcs_comp_opts_init(&o);
    o.force = 1;
    if (rows == cols && fcs_comp_new(&c, m, names, NULL, cols, &o, NULL) == FCS_OK) {
        fcs_comp_apply(c, ev, 1);
        fcs_comp_decompensate_columns(c, ev, 1, 1);
        char *kw = fcs_matrix_to_spillover(fcs_comp_matrix(c));
        free(kw);
        fcs_comp_free(c);
    }
    if (rows <= cols && fcs_comp_new_spectral(&c, m, names, NULL, cols, &o, NULL) == FCS_OK) {
        fcs_comp_unmix(c, ev, 1, out);
        fcs_comp_free(c);
    }
done:
    free(names);
    free(ev);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcs_matrix *m = NULL;
    fcs_error err;
    if (fcs_matrix_parse_text((const char *)data, size, "fuzz", &m, &err) == FCS_OK) {
        exercise(m);
        fcs_matrix_free(m);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    static const char *const params[] = {"FSC-A", NULL, "FL1-A", "FL2-A", "3"};
    if (fcs_matrix_parse_spillover(s, params, 5, &m, &err) == FCS_OK) {
        char *kw = fcs_matrix_to_spillover(m);
        if (kw) {
            fcs_matrix *back = NULL;
            /* what we write must read back */
            if (fcs_matrix_parse_spillover(kw, NULL, 0, &back, NULL) != FCS_OK) abort();
            fcs_matrix_free(back);
            free(kw);
        }
        exercise(m);
        fcs_matrix_free(m);
    }
    free(s);
    return 0;
}
