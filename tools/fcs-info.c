/*
 * fcs-info — describe FCS files: version, data sets, parameters, keywords,
 * spillover matrix and the reader's warnings, as text or as JSON Lines
 * (one compact object per input file; the layout is fixed in docs/cli.md
 * and relied upon by the corpus tests).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"

static const fcs_cli_tool TOOL = {
    "fcs-info", "[--json] [--metadata-only] [--strict] [-o FILE] FILE...|-",
    "Describe FCS files (2.0-3.2, plain or gzip, '-' = stdin).\n"
    "  -j, --json           one JSON object per file, one per line (JSON Lines)\n"
    "  -m, --metadata-only  read HEADER and TEXT only (DATA may be missing)\n"
    "      --strict         refuse files that need a repair (exit 1)\n"
    "  -o, --output FILE    write to FILE (via a temporary file) instead of stdout\n"
    "  -h, --help           this help\n"
    "      --version        versions of the tool and its libraries\n"
    "Exit status: 0 all files described, 1 some file unreadable, 2 usage error.\n"};

struct info_opts {
    int json;
    int metadata_only;
    int strict;
    const char *output;
    char **files;
    int n_files;
};

static char *stdin_only[] = {"-", NULL};

static int parse(struct info_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        {"json", no_argument, NULL, 'j'},
        {"metadata-only", no_argument, NULL, 'm'},
        {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c;
    memset(o, 0, sizeof *o);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hjmo:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case 'm': o->metadata_only = 1; break;
        case FCS_CLI_OPT_STRICT: o->strict = 1; break;
        case 'o': o->output = optarg; break;
        default: return fcs_cli_common_option(c);
        }
    }
    o->files = argv + optind;
    o->n_files = argc - optind;
    if (o->n_files == 0) {
        /* As samtools: no file and a terminal on stdin is a usage mistake. */
        if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
        o->files = stdin_only;
        o->n_files = 1;
    }
    return FCS_CLI_CONTINUE;
}

/* The data set to describe. One already selected stays so: a sequential
 * input whose events were read (verify_data) cannot select it again. */
static int select_dataset(fcs_reader *r, size_t d)
{
    return fcs_dataset_index(r) == d ? FCS_OK : fcs_select_dataset(r, d);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_char(fcs_json *j, char c)
{
    if (c) fcs_json_string_n(j, &c, 1);
    else fcs_json_null(j);
}

static void json_param(fcs_json *j, const fcs_param *p, size_t i)
{
    fcs_json_begin_object(j);
    fcs_json_key(j, "index");
    fcs_json_uint(j, i + 1);
    fcs_json_key(j, "name");
    fcs_json_string(j, p->name);
    fcs_json_key(j, "label");
    fcs_json_string(j, p->label);
    fcs_json_key(j, "bits");
    fcs_json_int(j, p->bits);
    fcs_json_key(j, "range");
    fcs_json_number(j, p->range);
    fcs_json_key(j, "gain");
    fcs_json_number(j, p->gain);
    fcs_json_key(j, "log_decades");
    fcs_json_number(j, p->log_decades);
    fcs_json_key(j, "log_offset");
    fcs_json_number(j, p->log_offset);
    fcs_json_key(j, "datatype");
    json_char(j, p->datatype);
    fcs_json_key(j, "mask");
    /* The reader's "no mask" is all 64 bits; 0 is a real mask ($PnR 1). */
    if (p->datatype == 'I' && p->mask != UINT64_MAX) fcs_json_uint(j, p->mask);
    else fcs_json_null(j);
    fcs_json_end_object(j);
}

static void json_spillover(fcs_json *j, const fcs_reader *r)
{
    const char *kw = NULL;
    const fcs_matrix *m = fcs_spillover(r, &kw);
    if (!m) {
        fcs_json_null(j);
        return;
    }
    size_t rows = fcs_matrix_rows(m), cols = fcs_matrix_cols(m);
    fcs_json_begin_object(j);
    fcs_json_key(j, "keyword");
    fcs_json_string(j, kw);
    fcs_json_key(j, "names");
    fcs_json_begin_array(j);
    for (size_t c = 0; c < cols; c++) fcs_json_string(j, fcs_matrix_name(m, c));
    fcs_json_end_array(j);
    fcs_json_key(j, "matrix");
    fcs_json_begin_array(j);
    for (size_t i = 0; i < rows; i++) {
        fcs_json_begin_array(j);
        for (size_t c = 0; c < cols; c++) fcs_json_number(j, fcs_matrix_get(m, i, c));
        fcs_json_end_array(j);
    }
    fcs_json_end_array(j);
    fcs_json_end_object(j);
}

static void json_dataset_header(fcs_json *j, const fcs_reader *r)
{
    uint64_t begin, end;
    const char *from = NULL;
    fcs_json_key(j, "index");
    fcs_json_uint(j, fcs_dataset_index(r));
    fcs_json_key(j, "offset");
    fcs_json_uint(j, fcs_dataset_offset(r));
    fcs_json_key(j, "tot");
    fcs_json_int(j, fcs_n_events(r));
    fcs_json_key(j, "par");
    fcs_json_uint(j, fcs_n_params(r));
    fcs_json_key(j, "datatype");
    json_char(j, fcs_datatype(r));
    fcs_json_key(j, "byteord");
    fcs_json_string(j, fcs_byteord(r));
    fcs_json_key(j, "mode");
    json_char(j, fcs_mode(r));
    fcs_data_segment(r, &begin, &end, &from);
    fcs_json_key(j, "data_segment");
    fcs_json_begin_object(j);
    fcs_json_key(j, "begin");
    fcs_json_uint(j, begin);
    fcs_json_key(j, "end");
    fcs_json_uint(j, end);
    fcs_json_key(j, "from");
    fcs_json_string(j, from);
    fcs_json_end_object(j);
    fcs_json_key(j, "timestep");
    if (fcs_timestep(r) != 0) fcs_json_number(j, fcs_timestep(r));
    else fcs_json_null(j);
}

static void json_dataset(fcs_json *j, const fcs_reader *r)
{
    fcs_json_begin_object(j);
    json_dataset_header(j, r);
    fcs_json_key(j, "parameters");
    fcs_json_begin_array(j);
    for (size_t i = 0; i < fcs_n_params(r); i++) json_param(j, fcs_param_info(r, i), i);
    fcs_json_end_array(j);
    fcs_json_key(j, "keywords");
    fcs_json_begin_object(j);
    for (size_t i = 0; i < fcs_n_keywords(r); i++) {
        fcs_json_key(j, fcs_keyword_name(r, i));
        fcs_json_string(j, fcs_keyword_value(r, i));
    }
    fcs_json_end_object(j);
    fcs_json_key(j, "spillover");
    json_spillover(j, r);
    fcs_json_key(j, "warnings");
    fcs_json_begin_array(j);
    for (size_t i = 0; i < fcs_n_warnings(r); i++) fcs_json_string(j, fcs_warning(r, i));
    fcs_json_end_array(j);
    fcs_json_end_object(j);
}

/* The whole file as one line. Returns 0, or a libfcs status (message in r). */
static int json_file(FILE *f, fcs_reader *r, const char *path)
{
    fcs_json j;
    fcs_json_init(&j, f);
    fcs_json_begin_object(&j);
    fcs_json_key(&j, "file");
    fcs_json_string(&j, path);
    fcs_json_key(&j, "fcs_version");
    fcs_json_string(&j, fcs_version(r));
    fcs_json_key(&j, "n_datasets");
    fcs_json_uint(&j, fcs_n_datasets(r));
    fcs_json_key(&j, "datasets");
    fcs_json_begin_array(&j);
    for (size_t d = 0; d < fcs_n_datasets(r); d++) {
        int rc = select_dataset(r, d);
        if (rc != FCS_OK) return rc;
        json_dataset(&j, r);
    }
    fcs_json_end_array(&j);
    fcs_json_end_object(&j);
    putc('\n', f);
    return fcs_json_ok(&j) ? FCS_OK : FCS_EINVAL;
}

/* ---- text --------------------------------------------------------------------------- */

/* Bytes from the file, with control bytes shown as \xHH so that a keyword
 * value cannot move the cursor or ring the terminal's bell. */
static void text_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("-", f);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else putc(*p, f);
    }
}

static void text_number(FILE *f, double v)
{
    char buf[FCS_CLI_NUM_MAX];
    fcs_cli_format_double(buf, v);
    fputs(buf, f);
}

static void text_amplification(FILE *f, const fcs_param *p)
{
    if (p->log_decades > 0) {
        fputs("log ", f);
        text_number(f, p->log_decades);
        fputs(" decades, offset ", f);
        text_number(f, p->log_offset);
    } else {
        fputs("linear", f);
    }
}

static void text_params(FILE *f, const fcs_reader *r)
{
    fprintf(f, "  parameters:\n    #\tname\tlabel\tbits\trange\tgain\ttype\tamplification\n");
    for (size_t i = 0; i < fcs_n_params(r); i++) {
        const fcs_param *p = fcs_param_info(r, i);
        fprintf(f, "    %zu\t", i + 1);
        text_string(f, p->name);
        putc('\t', f);
        text_string(f, p->label);
        fprintf(f, "\t%d\t", p->bits);
        text_number(f, p->range);
        putc('\t', f);
        text_number(f, p->gain);
        fprintf(f, "\t%c\t", p->datatype ? p->datatype : '?');
        text_amplification(f, p);
        if (p->is_time) fputs(" (time)", f);
        putc('\n', f);
    }
}

static void text_spillover(FILE *f, const fcs_reader *r)
{
    const char *kw = NULL;
    const fcs_matrix *m = fcs_spillover(r, &kw);
    if (!m) {
        fputs("  spillover: none\n", f);
        return;
    }
    size_t rows = fcs_matrix_rows(m), cols = fcs_matrix_cols(m);
    fprintf(f, "  spillover (%s): %zu x %zu\n   ", kw ? kw : "?", rows, cols);
    for (size_t c = 0; c < cols; c++) {
        putc('\t', f);
        text_string(f, fcs_matrix_name(m, c));
    }
    putc('\n', f);
    for (size_t i = 0; i < rows; i++) {
        fputs("    ", f);
        text_string(f, i < cols ? fcs_matrix_name(m, i) : "");
        for (size_t c = 0; c < cols; c++) {
            putc('\t', f);
            text_number(f, fcs_matrix_get(m, i, c));
        }
        putc('\n', f);
    }
}

static void text_dataset(FILE *f, const fcs_reader *r)
{
    uint64_t begin, end;
    const char *from = NULL;
    fcs_data_segment(r, &begin, &end, &from);
    fprintf(f, "data set %zu (HEADER at byte %llu): %lld events x %zu parameters\n",
            fcs_dataset_index(r), (unsigned long long)fcs_dataset_offset(r),
            (long long)fcs_n_events(r), fcs_n_params(r));
    fprintf(f, "  $DATATYPE %c  $BYTEORD %s  $MODE %c  DATA bytes %llu-%llu (from %s)\n",
            fcs_datatype(r) ? fcs_datatype(r) : '?', fcs_byteord(r),
            fcs_mode(r) ? fcs_mode(r) : '?', (unsigned long long)begin,
            (unsigned long long)end, from ? from : "?");
    if (fcs_timestep(r) != 0) {
        fputs("  $TIMESTEP ", f);
        text_number(f, fcs_timestep(r));
        putc('\n', f);
    }
    text_params(f, r);
    text_spillover(f, r);
    fprintf(f, "  keywords (%zu):\n", fcs_n_keywords(r));
    for (size_t i = 0; i < fcs_n_keywords(r); i++) {
        fputs("    ", f);
        text_string(f, fcs_keyword_name(r, i));
        fputs(" = ", f);
        text_string(f, fcs_keyword_value(r, i));
        putc('\n', f);
    }
    fprintf(f, "  warnings (%zu):\n", fcs_n_warnings(r));
    for (size_t i = 0; i < fcs_n_warnings(r); i++) {
        fputs("    ", f);
        text_string(f, fcs_warning(r, i));
        putc('\n', f);
    }
}

static int text_file(FILE *f, fcs_reader *r, const char *path)
{
    fputs("file: ", f);
    text_string(f, path);
    fprintf(f, "\nversion: %s\ndata sets: %zu\n", fcs_version(r), fcs_n_datasets(r));
    for (size_t d = 0; d < fcs_n_datasets(r); d++) {
        int rc = select_dataset(r, d);
        if (rc != FCS_OK) return rc;
        text_dataset(f, r);
    }
    return FCS_OK;
}

/* ---- run ------------------------------------------------------------------------- */

#define VERIFY_VALUES (64 * 1024) /* 256 KiB of float32 per read */

/*
 * A file's sizes are checked when it is opened: a DATA segment past its end
 * is an error there. A pipe or gzip stream has no size to check, so its
 * events are read through (and dropped, in constant memory) to find out
 * whether the DATA segment is complete: the same bytes give the same verdict
 * whichever way they come. (A sequential input with several data sets is
 * spilled to a temporary file by the reader, and then checked like a file.)
 */
static int verify_data(fcs_reader *r, const char *path)
{
    if (fcs_is_seekable(r)) return 0;
    size_t np = fcs_n_params(r) ? fcs_n_params(r) : 1;
    size_t chunk = VERIFY_VALUES / np ? VERIFY_VALUES / np : 1;
    float *buf = malloc(chunk * np * sizeof *buf);
    if (!buf) return fcs_cli_error(path, "out of memory");
    int64_t n, done = 0;
    while ((n = fcs_read_events_f32(r, buf, chunk, FCS_VALUES_RAW)) > 0) done += n;
    free(buf);
    if (n < 0) return fcs_cli_error_lib(path, fcs_errmsg(r));
    if (done < fcs_n_events(r))
        return fcs_cli_error(path, "DATA ends after %lld of %lld events", (long long)done,
                             (long long)fcs_n_events(r));
    return 0;
}

/* Describe one file into out. The description is built in memory first so
 * that a file failing halfway (a broken second data set) prints nothing on
 * stdout: every JSON line is complete or absent. */
static int info_file(const struct info_opts *o, FILE *out, const char *path)
{
    fcs_read_opts ro;
    fcs_reader *r = NULL;
    char *buf = NULL;
    size_t len = 0;
    fcs_read_opts_init(&ro);
    ro.strict = o->strict;
    ro.metadata_only = o->metadata_only;
    if (fcs_cli_open(&r, path, &ro)) return FCS_CLI_EXIT_INPUT;
    /* first, so that what reading the data finds (a missing CRC) is described */
    if (!o->metadata_only && verify_data(r, path)) {
        fcs_close(r);
        return FCS_CLI_EXIT_INPUT;
    }
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        fcs_close(r);
        return fcs_cli_error(path, "out of memory");
    }
    int rc = o->json ? json_file(mem, r, path) : text_file(mem, r, path);
    int mem_failed = fclose(mem) != 0;
    if (rc != FCS_OK) {
        rc = fcs_cli_error_lib(path, *fcs_errmsg(r) ? fcs_errmsg(r) : fcs_strerror(rc));
    } else if (mem_failed) {
        rc = fcs_cli_error(path, "out of memory");
    } else {
        fwrite(buf, 1, len, out);
    }
    free(buf);
    fcs_close(r);
    return rc;
}

static int run(const struct info_opts *o)
{
    fcs_cli_out out;
    int status = FCS_CLI_EXIT_OK;
    /* -o onto one of the inputs is refused before any is read */
    for (int i = 0; i < o->n_files; i++) fcs_cli_note_input(o->files[i]);
    if (fcs_cli_out_open(&out, o->output) != 0) return FCS_CLI_EXIT_INPUT;
    for (int i = 0; i < o->n_files; i++) {
        if (info_file(o, out.f, o->files[i]) != 0) status = FCS_CLI_EXIT_INPUT;
        if (!o->json && i + 1 < o->n_files) putc('\n', out.f);
        if (fcs_cli_write_failed(out.f)) {
            /* stdout: `| head` ends quietly, other failures are reported by
             * fcs_cli_finish. A file: remove the partial temporary. */
            if (!out.path) return status;
            fcs_cli_out_abort(&out);
            return fcs_cli_error(o->output, "write error");
        }
    }
    if (fcs_cli_out_commit(&out) != 0) return FCS_CLI_EXIT_INPUT;
    return status;
}

int main(int argc, char **argv)
{
    struct info_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
