/*
 * fuzz_gatefile.c — libFuzzer harness for the libfcs gate file parser
 * (fcs/gatefile.h), the canonical writer and the conversions with
 * Gating-ML. Inputs are detected as fcs_gatefile_read_mem does, so XML
 * inputs exercise the Gating-ML reader followed by the text writer.
 *
 * For any input the reader returns FCS_OK or an error with a one-line
 * message; it never crashes, leaks or prints. For every accepted input the
 * harness checks the contracts, and aborts when one is broken:
 *   - the canonical text is written, reads back, and is then identical;
 *   - the re-read strategy has the same populations and, on a fixed set of
 *     events (boundary values, NaN, infinities), the same membership;
 *   - when Gating-ML can hold the strategy (FCS_EUNSUPPORTED is the only
 *     accepted refusal), text -> Gating-ML -> strategy -> text is the same
 *     canonical text;
 *   - fcs_strategy_population_tree lists every population exactly once.
 *
 * Build: cmake -DFCS_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 ... (or
 * FUZZER=fuzz_gatefile tests/fuzz/run.sh). Seeds: the gate files of
 * docs/gate-file.md and the compliance set converted to text, e.g.
 *   mkdir -p /tmp/gf-corpus /tmp/gf-seeds
 *   for f in ../shared/fcs-corpus/gatingml2/gml/g*.xml; do
 *       build/fcs-gate --convert text -g "$f" -o /tmp/gf-seeds/$(basename "$f" .xml).txt; done
 *   ./fuzz_gatefile -max_total_time=300 /tmp/gf-corpus /tmp/gf-seeds
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/gatefile.h"

#define NCH 10
#define NEV 64

/* Channels of the compliance data and of sample_data/, plus short names a
 * mutated file may use. */
static const char *const CHANNELS[NCH] = {"FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H",
                                          "FL4-H", "FSC-A", "SSC-A", "X",     "Y"};

static void fill_events(double cols[NCH][NEV])
{
    static const double special[] = {0,    -0.0,  1,      -1,     0.5, 5,        10,        100,
                                     1000, 1e300, -1e300, 5e-324, NAN, INFINITY, -INFINITY, 262144};
    uint64_t seed = 11;
    for (int j = 0; j < NCH; j++)
        for (int i = 0; i < NEV; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (i < 16)
                cols[j][i] = special[(i + 3 * j) % 16];
            else
                cols[j][i] = (double)(seed >> 11) / 9007199254740992.0 * 1200 - 100;
        }
}

/* Membership of every population on the fixed events, in population
 * order (NULL when the strategy does not bind to them). */
static uint8_t *gate(const fcs_strategy *s)
{
    static double cols[NCH][NEV];
    static int filled;
    if (!filled) fill_events(cols), filled = 1;
    size_t np = fcs_strategy_n_populations(s);
    fcs_gating *g;
    if (fcs_gating_new(&g, s, CHANNELS, NCH, NULL, NULL) != FCS_OK) return NULL;
    uint8_t *all = calloc(np ? np : 1, NEV);
    uint8_t **mem = calloc(np ? np : 1, sizeof *mem);
    const double *cp[NCH];
    for (int j = 0; j < NCH; j++) cp[j] = cols[j];
    for (size_t p = 0; p < np; p++) mem[p] = all + p * NEV;
    if (fcs_gating_run(g, cp, NEV, mem) != FCS_OK) {
        free(all);
        all = NULL;
    }
    free(mem);
    fcs_gating_free(g);
    return all;
}

static void check_tree(const fcs_strategy *s)
{
    size_t np = fcs_strategy_n_populations(s);
    size_t *order = calloc(np ? np : 1, sizeof *order), *depth = calloc(np ? np : 1, sizeof *depth);
    unsigned char *seen = calloc(np ? np : 1, 1);
    if (fcs_strategy_population_tree(s, order, depth) != FCS_OK) abort();
    for (size_t k = 0; k < np; k++) {
        if (order[k] >= np || seen[order[k]]++) abort();
        if (k == 0 ? depth[k] != 0 : depth[k] > depth[k - 1] + 1) abort();
    }
    free(order), free(depth), free(seen);
}

/* Same populations (by id) and the same membership. */
static void same_gating(const fcs_strategy *a, const fcs_strategy *b)
{
    size_t np = fcs_strategy_n_populations(a);
    if (fcs_strategy_n_populations(b) != np) abort();
    uint8_t *ma = gate(a), *mb = gate(b);
    if (!!ma != !!mb) abort();
    for (size_t p = 0; ma && p < np; p++) {
        long q = fcs_strategy_population_index(b, fcs_strategy_population_id(a, p));
        if (q < 0 || memcmp(ma + p * NEV, mb + (size_t)q * NEV, NEV) != 0) abort();
    }
    free(ma), free(mb);
}

static char *canonical(const fcs_strategy *s)
{
    char *t;
    size_t len;
    fcs_error err;
    if (fcs_gatefile_write_mem(s, FCS_GATEFILE_TEXT, &t, &len, &err) != FCS_OK) abort();
    if (strlen(t) != len) abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcs_strategy *s, *b, *c;
    fcs_error err;
    if (fcs_gatefile_read_mem(&s, data, size, "fuzz", FCS_GATEFILE_AUTO, &err) != FCS_OK) {
        if (err.msg[0] == '\0' || strchr(err.msg, '\n')) abort(); /* one line, saying why */
        return 0;
    }
    char *t1 = canonical(s);
    if (fcs_gatefile_read_mem(&b, t1, strlen(t1), "canonical", FCS_GATEFILE_TEXT, &err) != FCS_OK) {
        fprintf(stderr, "canonical text refused: %s\n%s", err.msg, t1);
        abort();
    }
    char *t2 = canonical(b);
    if (strcmp(t1, t2) != 0) abort();
    same_gating(s, b);
    check_tree(s);
    char *xml;
    size_t len;
    int rc = fcs_gatefile_write_mem(b, FCS_GATEFILE_GATINGML, &xml, &len, &err);
    if (rc == FCS_OK) {
        if (fcs_gatefile_read_mem(&c, xml, len, "xml", FCS_GATEFILE_AUTO, &err) != FCS_OK) {
            fprintf(stderr, "exported Gating-ML refused: %s\n", err.msg);
            abort();
        }
        char *t3 = canonical(c);
        if (strcmp(t1, t3) != 0) abort();
        same_gating(b, c);
        free(t3), free(xml);
        fcs_strategy_free(c);
    } else if (rc != FCS_EUNSUPPORTED) {
        abort();
    }
    free(t1), free(t2);
    fcs_strategy_free(s);
    fcs_strategy_free(b);
    return 0;
}
