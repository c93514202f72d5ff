/*
 * fuzz_gatingml.c — libFuzzer harness for the Gating-ML 2.0 reader, the
 * writer and gate evaluation.
 *
 * For any input: the reader returns FCS_OK or an error with a message, and
 * never crashes, leaks or prints. For every accepted document the harness
 * also checks the round trip: export must succeed, the export must read
 * back, and both strategies must give the same membership on a fixed set of
 * events (boundary values, NaN, infinities) — otherwise it aborts.
 *
 * Build: cmake -DFCS_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 ...; run with a
 * writable corpus directory first and seed documents after it, e.g.
 *   mkdir -p /tmp/gml-corpus
 *   ./fuzz_gatingml -max_total_time=60 /tmp/gml-corpus ../shared/fcs-corpus/gatingml2/gml
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcs/gate.h"

#define NCH 8
#define NEV 64

/* Channel names of the Gating-ML compliance data (so that seeds bind) plus
 * short names a mutated document may use. */
static const char *const CHANNELS[NCH] = {"FSC-H", "SSC-H", "FL1-H", "FL2-H",
                                          "FL3-H", "FL2-A", "FL4-H", "Time"};

static void fill_events(double cols[NCH][NEV])
{
    static const double special[] = {0, -0.0, 1, -1, 0.5, 5, 10, 100, 1000, 1e300, -1e300,
                                     5e-324, NAN, INFINITY, -INFINITY, 262144};
    uint64_t seed = 7;
    for (int j = 0; j < NCH; j++)
        for (int i = 0; i < NEV; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (i < 16)
                cols[j][i] = special[(i + j) % 16];
            else
                cols[j][i] = (double)(seed >> 11) / 9007199254740992.0 * 600 - 50;
        }
}

/* Gate the fixed events; NULL when the strategy does not bind to them. */
static uint8_t *gate(const fcs_strategy *s, size_t np)
{
    static double cols[NCH][NEV];
    static int filled;
    if (!filled) fill_events(cols), filled = 1;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fcs_strategy *s;
    fcs_error err;
    if (fcs_gatingml_read_mem(&s, data, size, "fuzz", &err) != FCS_OK) {
        if (err.msg[0] == '\0') abort(); /* every refusal says why */
        return 0;
    }
    char *doc;
    size_t len;
    int rc = fcs_gatingml_write_mem(s, &doc, &len, &err);
    if (rc == FCS_EUNSUPPORTED) { /* cannot happen for Gating-ML input */
        abort();
    }
    if (rc != FCS_OK) abort();
    fcs_strategy *b;
    if (fcs_gatingml_read_mem(&b, doc, len, "export", &err) != FCS_OK) abort();
    size_t np = fcs_strategy_n_populations(s);
    if (fcs_strategy_n_populations(b) != np) abort();
    uint8_t *ma = gate(s, np), *mb = gate(b, np);
    if (!!ma != !!mb) abort();
    if (ma && memcmp(ma, mb, np * NEV) != 0) abort();
    free(ma), free(mb), free(doc);
    fcs_strategy_free(s);
    fcs_strategy_free(b);
    return 0;
}
