/*
 * read_events.c — the smallest complete libfcs program: open an FCS file, list its
 * parameters, stream every event and print the mean of each channel.
 *
 * Build against an installed libfcs:
 *     cc read_events.c $(pkg-config --cflags --libs libfcs) -o read_events
 * or, in CMake:
 *     find_package(libfcs REQUIRED)
 *     target_link_libraries(read_events PRIVATE libfcs::fcs)
 *
 * Run:
 *     ./read_events sample.fcs          (a path, a .fcs.gz, or - for stdin)
 *
 * Output: a tab-separated table, one line per parameter, preceded by two comment lines:
 *     # file	sample.fcs
 *     # events	2000
 *     index	name	label	bits	range	mean
 *     1	FSC-A	NA	32	262144	51234.5
 * Means are of the channel values (FCS_VALUES_SCALED: $PnE/$PnG applied). Exit status
 * 0 on success, 1 when the file cannot be read, 2 on a usage error.
 *
 * Only the public API (<fcs/fcs.h>) is used: this file is also the test that the installed
 * headers and library are enough to write a program.
 */
#include <stdio.h>
#include <stdlib.h>

#include <fcs/fcs.h>

/* Events per chunk: the reader fills a caller buffer, so memory stays constant whatever
 * the file size. */
#define CHUNK_EVENTS 4096

static void print_params(const fcs_reader *r, const double *sums, int64_t n_events)
{
    size_t np = fcs_n_params(r);
    printf("index\tname\tlabel\tbits\trange\tmean\n");
    for (size_t j = 0; j < np; j++) {
        const fcs_param *p = fcs_param_info(r, j);
        printf("%zu\t%s\t%s\t%d\t%.17g\t", j + 1, p->name ? p->name : "NA",
               p->label ? p->label : "NA", p->bits, p->range);
        if (n_events > 0)
            printf("%.17g\n", sums[j] / (double)n_events);
        else
            printf("NA\n");
    }
}

/* Stream all events of the selected data set, adding each channel into sums[].
 * Returns the number of events read, or a negative status. */
static int64_t sum_channels(fcs_reader *r, double *sums)
{
    size_t np = fcs_n_params(r);
    double *buf = malloc((size_t)CHUNK_EVENTS * (np ? np : 1) * sizeof *buf);
    if (!buf) return FCS_ENOMEM;
    int64_t total = 0, n;
    while ((n = fcs_read_events(r, buf, CHUNK_EVENTS, FCS_VALUES_SCALED)) > 0) {
        for (int64_t i = 0; i < n; i++)
            for (size_t j = 0; j < np; j++) sums[j] += buf[(size_t)i * np + j];
        total += n;
    }
    free(buf);
    return n < 0 ? n : total;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.fcs|-\n", argv[0]);
        return 2;
    }
    fcs_reader *r;
    fcs_error err;
    if (fcs_open(&r, argv[1], NULL, &err) != FCS_OK) {
        fprintf(stderr, "read_events: %s\n", err.msg); /* the message names the file */
        return 1;
    }
    size_t np = fcs_n_params(r);
    double *sums = calloc(np ? np : 1, sizeof *sums);
    if (!sums) {
        fprintf(stderr, "read_events: %s: %s\n", argv[1], fcs_strerror(FCS_ENOMEM));
        fcs_close(r);
        return 1;
    }
    int64_t n = sum_channels(r, sums);
    if (n < 0) {
        fprintf(stderr, "read_events: %s\n", *fcs_errmsg(r) ? fcs_errmsg(r) : fcs_strerror((int)n));
        free(sums);
        fcs_close(r);
        return 1;
    }
    printf("# file\t%s\n# events\t%lld\n", fcs_name(r), (long long)n);
    print_params(r, sums, n);
    free(sums);
    fcs_close(r);
    return fflush(stdout) == 0 ? 0 : 1;
}
