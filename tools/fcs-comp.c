/*
 * fcs-comp — compensate (or decompensate, or spectrally unmix) an FCS
 * stream, chunk by chunk in constant memory.
 *
 *   default          the data set's own spillover (fcs_spillover: $SPILLOVER,
 *                    SPILL, $COMP or $DFCiTOj): t = o x S^-1
 *   -m MATRIX        a square spillover matrix from a CSV/TSV file instead
 *   --spectral SPEC  a spectrum matrix (fluorochromes x detectors): the
 *                    detector parameters are replaced by one parameter per
 *                    fluorochrome (least-squares abundances), placed where
 *                    the first detector was
 *   --decompensate   undo the last compensation recorded in LIBFCS_COMP
 *                    (o = t x S with the recorded S), or with -m apply S to
 *                    data that carry no LIBFCS_COMP (which then get S as
 *                    their $SPILLOVER)
 *
 * What was done is recorded in LIBFCS_COMP, one record per pass:
 *   compensate;source=SRC;[sha256=HEX;]channels=N1,N2,...;condition=K;spillover=S
 *   unmix;source=file:NAME;sha256=HEX;detectors=...;fluorochromes=...;condition=K
 * SRC is the keyword (e.g. "$SPILLOVER") or "file:NAME"; S is the matrix
 * actually used as a $SPILLOVER value named by $PnN, so --decompensate needs
 * nothing but the stream. Values escape '\', ';' and '|' (and ',' inside
 * lists) with '\'. A compensation over a stream that already carries
 * LIBFCS_COMP is refused unless --force, which appends a record after '|';
 * --decompensate removes the last record (and the keyword with the last one).
 * The SHA-256 is of the very bytes that were parsed (the file is read once).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const fcs_cli_tool TOOL = {
    "fcs-comp",
    "[-m MATRIX | --spectral MATRIX] [--by-label] [--force] [--decompensate] [-d N] "
    "[--max-condition K] [--strict] [--no-version] [-o FILE] FILE|-",
    "Compensate an FCS file into an FCS 3.1 float32 stream (stdout or -o).\n"
    "  -m, --matrix FILE     spillover matrix from a CSV/TSV file (FlowJo or plain\n"
    "                        layout) instead of the file's own $SPILLOVER/SPILL/$COMP\n"
    "      --spectral FILE   unmix by least squares with a spectrum matrix\n"
    "                        (rows fluorochromes, columns detectors): the detector\n"
    "                        parameters are replaced by the fluorochromes\n"
    "      --by-label        match matrix channels against $PnS too\n"
    "      --force           compensate a stream that already carries LIBFCS_COMP\n"
    "      --decompensate    undo the compensation recorded in LIBFCS_COMP; with -m,\n"
    "                        apply the spillover of MATRIX to uncompensated data\n"
    "      --max-condition K refuse matrices whose condition number exceeds K [1e6]\n"
    "  -d, --dataset N       use data set N (0-based) [0]\n"
    "      --strict          refuse inputs that need a repair (exit 1)\n"
    "      --no-version      omit the LIBFCS_TOOL and LIBFCS_COMMAND keywords\n"
    "  -o, --output FILE     write FILE (via a temporary file, renamed when complete)\n"
    "  -h, --help            this help\n"
    "      --version         versions of the tool and its libraries\n"
    "A matrix file may be '-' (standard input) when FILE is not. What was done is\n"
    "recorded in the keyword LIBFCS_COMP; see fcs-comp(1).\n"};

enum {
    OPT_SPECTRAL = FCS_CLI_OPT_FIRST_TOOL,
    OPT_BY_LABEL,
    OPT_FORCE,
    OPT_DECOMP,
    OPT_MAX_COND
};

#define MATRIX_FILE_MAX (64u << 20) /* as fcs_matrix_read_file */
#define DEFAULT_RANGE 262144.0      /* $PnR of a fluorochrome when no detector has one */

struct comp_opts {
    const char *matrix;   /* -m */
    const char *spectral; /* --spectral */
    int by_label, force, decompensate;
    double max_condition;
    fcs_cli_io io; /* -d, --strict, --no-version, -o */
    const char *input;
};

static int check_args(const struct comp_opts *o)
{
    if (o->matrix && o->spectral) return fcs_cli_usage_error("-m cannot go with --spectral");
    if (o->decompensate && o->spectral)
        return fcs_cli_usage_error("--decompensate cannot go with --spectral (unmixing "
                                   "cannot be undone: the detector values are gone)");
    if (o->decompensate && o->force)
        return fcs_cli_usage_error("--force cannot go with --decompensate");
    const char *m = o->matrix ? o->matrix : o->spectral;
    if (m && strcmp(m, "-") == 0 && strcmp(o->input, "-") == 0)
        return fcs_cli_usage_error("standard input ('-') can be read only once");
    return FCS_CLI_CONTINUE;
}

static int parse_condition(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !(v >= 1) || isnan(v))
        return fcs_cli_usage_error("--max-condition: '%s' is not a number >= 1", arg);
    *out = v;
    return 0;
}

static int parse(struct comp_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        FCS_CLI_LONGOPTS_COMMON,
        FCS_CLI_LONGOPTS_IO,
        {"matrix", required_argument, NULL, 'm'},
        {"spectral", required_argument, NULL, OPT_SPECTRAL},
        {"by-label", no_argument, NULL, OPT_BY_LABEL},
        {"force", no_argument, NULL, OPT_FORCE},
        {"decompensate", no_argument, NULL, OPT_DECOMP},
        {"max-condition", required_argument, NULL, OPT_MAX_COND},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    memset(o, 0, sizeof *o);
    o->max_condition = 1e6;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:d:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->matrix = optarg; break;
        case OPT_SPECTRAL: o->spectral = optarg; break;
        case OPT_BY_LABEL: o->by_label = 1; break;
        case OPT_FORCE: o->force = 1; break;
        case OPT_DECOMP: o->decompensate = 1; break;
        case OPT_MAX_COND: rc = parse_condition(optarg, &o->max_condition); break;
        default:
            if (!fcs_cli_io_option(c, optarg, &o->io, &rc)) return fcs_cli_common_option(c);
            break;
        }
        if (rc) return rc;
    }
    rc = fcs_cli_one_input(argc - optind, argv + optind, &o->input);
    if (rc) return rc;
    return check_args(o);
}

/* ---- reading the matrix file ---------------------------------------------------- */

/* Parse the matrix file; *sha receives the SHA-256 of the bytes parsed. */
static int read_matrix(const char *path, fcs_matrix **m, char sha[65])
{
    char *text;
    size_t len;
    fcs_error err;
    if (fcs_cli_read_file(path, MATRIX_FILE_MAX, &text, &len)) return FCS_CLI_EXIT_INPUT;
    fcs_sha256 *h = fcs_sha256_new();
    if (!h) {
        free(text);
        return fcs_cli_error(NULL, "out of memory");
    }
    fcs_sha256_update(h, text, len);
    fcs_sha256_final(h, sha);
    fcs_sha256_free(h);
    int rc = fcs_matrix_parse_text(text, len, fcs_cli_input_name(path), m, &err);
    free(text);
    if (rc != FCS_OK) return fcs_cli_error_lib(path, err.msg);
    return 0;
}

/* ---- text for LIBFCS_COMP ---------------------------------------------------------- */

struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
};

static void sb_putc(struct strbuf *b, char c)
{
    if (b->oom) return;
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    b->s[b->n++] = c;
    b->s[b->n] = '\0';
}

static void sb_puts(struct strbuf *b, const char *s)
{
    while (*s) sb_putc(b, *s++);
}

/* A value, with the characters that structure the record escaped. */
static void sb_escaped(struct strbuf *b, const char *s, const char *special)
{
    for (; *s; s++) {
        if (*s == '\\' || strchr(special, *s)) sb_putc(b, '\\');
        sb_putc(b, *s);
    }
}

static void sb_field(struct strbuf *b, const char *key, const char *value)
{
    sb_putc(b, ';');
    sb_puts(b, key);
    sb_putc(b, '=');
    sb_escaped(b, value, ";|");
}

/* Split s at unescaped sep. Returns the position of the first one, or NULL. */
static const char *find_unescaped(const char *s, char sep)
{
    for (; *s; s++) {
        if (*s == '\\' && s[1]) s++;
        else if (*s == sep) return s;
    }
    return NULL;
}

/* The value [s, end) with escapes removed (malloc'd). */
static char *unescape(const char *s, const char *end)
{
    char *out = malloc((size_t)(end - s) + 1), *p = out;
    if (!out) return NULL;
    for (; s < end; s++) {
        if (*s == '\\' && s + 1 < end) s++;
        *p++ = *s;
    }
    *p = '\0';
    return out;
}

/* ---- the run ------------------------------------------------------------------------ */

struct comp_run {
    const struct comp_opts *o;
    fcs_reader *r;
    size_t np, np_out;
    int64_t n_events;
    const char **names, **labels; /* of the input, for matching (entries may be NULL) */
    fcs_comp *c;
    int spectral, undo;           /* unmix; --decompensate */
    const char *previous;         /* LIBFCS_COMP of the input */
    char *source;                 /* "$SPILLOVER", "file:m.csv" */
    char sha[65];                 /* of the matrix file; "" for a keyword */
    int *map;                     /* output parameter -> input parameter, -1: fluorochrome */
    int *fluor;                   /* output parameter -> fluorochrome, -1: none */
    fcs_writer *w;
    float *buf, *obuf, *abund;
    size_t chunk;
    fcs_cli_names nm;             /* unique output names of the input parameters */
    fcs_cli_progress prog;
    int quiet_end;
};

static int open_input(struct comp_run *x)
{
    if (fcs_cli_io_open(&x->r, x->o->input, &x->o->io)) return FCS_CLI_EXIT_INPUT;
    x->np = fcs_n_params(x->r);
    x->n_events = fcs_n_events(x->r);
    if (fcs_cli_names_init(&x->nm, x->r)) return fcs_cli_error(NULL, "out of memory");
    x->names = calloc(x->np ? x->np : 1, sizeof *x->names);
    x->labels = calloc(x->np ? x->np : 1, sizeof *x->labels);
    if (!x->names || !x->labels) return fcs_cli_error(NULL, "out of memory");
    for (size_t j = 0; j < x->np; j++) {
        x->names[j] = fcs_param_info(x->r, j)->name;
        x->labels[j] = fcs_param_info(x->r, j)->label;
    }
    x->previous = fcs_keyword(x->r, "LIBFCS_COMP");
    if (x->previous && !*x->previous) x->previous = NULL;
    return 0;
}

/* ---- choosing the matrix ------------------------------------------------------------ */

static void comp_opts(const struct comp_run *x, fcs_comp_opts *co)
{
    fcs_comp_opts_init(co);
    co->match_labels = x->o->by_label;
    co->max_condition = x->o->max_condition;
}

/* A library refusal, naming the matrix. The library's "force to accept"
 * means our --max-condition. */
static int comp_error(const struct comp_run *x, const char *what, int rc, fcs_error *err)
{
    char *tail = strstr(err->msg, "; force to accept");
    if (rc == FCS_ENUMERIC && tail)
        return fcs_cli_error(x->o->input, "%s: %.*s; --max-condition raises the limit", what,
                             (int)(tail - err->msg), err->msg);
    return fcs_cli_error(x->o->input, "%s: %s", what, err->msg);
}

/* A square matrix file's rows must be its channels (FlowJo's row names are
 * the column names; the parser already put them in column order). */
static int check_square_file(const fcs_matrix *m, const char *path)
{
    size_t n = fcs_matrix_rows(m);
    if (n != fcs_matrix_cols(m))
        return fcs_cli_error(path, "the matrix is %zux%zu, not square: a spectrum matrix "
                             "(fluorochromes x detectors) is given with --spectral",
                             n, fcs_matrix_cols(m));
    for (size_t i = 0; i < n; i++) {
        const char *rn = fcs_matrix_row_name(m, i);
        if (*rn && strcmp(rn, fcs_matrix_name(m, i)) != 0)
            return fcs_cli_error(path, "row %zu is named '%s', column %zu '%s': the rows of a "
                                 "spillover matrix must be its channels",
                                 i + 1, rn, i + 1, fcs_matrix_name(m, i));
    }
    return 0;
}

static int set_source_file(struct comp_run *x, const char *path)
{
    const char *shown = fcs_cli_input_name(path);
    size_t len = strlen(shown) + 6;
    if (!(x->source = malloc(len))) return fcs_cli_error(NULL, "out of memory");
    snprintf(x->source, len, "file:%s", shown);
    return 0;
}

static int build_from_file(struct comp_run *x, const char *path, int spectral)
{
    fcs_matrix *m = NULL;
    fcs_comp_opts co;
    fcs_error err;
    if (read_matrix(path, &m, x->sha) || set_source_file(x, path)) {
        fcs_matrix_free(m);
        return FCS_CLI_EXIT_INPUT;
    }
    if (!spectral && check_square_file(m, path)) {
        fcs_matrix_free(m);
        return FCS_CLI_EXIT_INPUT;
    }
    comp_opts(x, &co);
    int rc = spectral ? fcs_comp_new_spectral(&x->c, m, x->names, x->labels, x->np, &co, &err)
                      : fcs_comp_new(&x->c, m, x->names, x->labels, x->np, &co, &err);
    fcs_matrix_free(m);
    if (rc != FCS_OK) return comp_error(x, fcs_cli_input_name(path), rc, &err);
    x->spectral = spectral;
    return 0;
}

/* Why the data set has no usable spillover: the reader's warning, if any. */
static const char *spillover_problem(const fcs_reader *r)
{
    for (size_t i = 0; i < fcs_n_warnings(r); i++)
        if (strncmp(fcs_warning(r, i), "spillover-unparseable: ", 23) == 0) return fcs_warning(r, i);
    return NULL;
}

static int build_from_keywords(struct comp_run *x)
{
    const char *kw = NULL;
    const fcs_matrix *s = fcs_spillover(x->r, &kw);
    fcs_comp_opts co;
    fcs_error err;
    if (!s) {
        const char *why = spillover_problem(x->r);
        if (why)
            return fcs_cli_error(x->o->input, "no usable spillover matrix (%s); give one with -m MATRIX",
                                 why);
        return fcs_cli_error(x->o->input, "no spillover matrix ($SPILLOVER, SPILL, $COMP or "
                             "$DFCiTOj) in the data set; give one with -m MATRIX");
    }
    if (!(x->source = strdup(kw ? kw : "$SPILLOVER"))) return fcs_cli_error(NULL, "out of memory");
    comp_opts(x, &co);
    int rc = fcs_comp_new(&x->c, s, x->names, x->labels, x->np, &co, &err);
    if (rc != FCS_OK) return comp_error(x, x->source, rc, &err);
    return 0;
}

/* The last record of LIBFCS_COMP (the start of it in *rec). */
static const char *last_record(const char *v)
{
    const char *rec = v, *p;
    while ((p = find_unescaped(rec, '|'))) rec = p + 1;
    return rec;
}

/* Field `key` of the record [rec, end), unescaped (malloc'd), or NULL. */
static char *record_field(const char *rec, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (const char *f = rec; f && f < end;) {
        const char *next = find_unescaped(f, ';');
        if (!next || next > end) next = end;
        if ((size_t)(next - f) > kl && strncmp(f, key, kl) == 0 && f[kl] == '=')
            return unescape(f + kl + 1, next);
        f = next < end ? next + 1 : NULL;
    }
    return NULL;
}

/* --decompensate of a stream compensated by fcs-comp: the recorded matrix. */
static int build_undo(struct comp_run *x)
{
    const char *rec = last_record(x->previous), *end = rec + strlen(rec);
    if (strncmp(rec, "unmix;", 6) == 0 || strcmp(rec, "unmix") == 0)
        return fcs_cli_error(x->o->input, "LIBFCS_COMP records a spectral unmixing, which "
                             "cannot be undone (the detector values are gone)");
    char *spill = strncmp(rec, "compensate;", 11) == 0 ? record_field(rec, end, "spillover") : NULL;
    if (!spill)
        return fcs_cli_error(x->o->input, "LIBFCS_COMP records no spillover matrix to undo "
                             "('%.60s'); give the matrix with -m", rec);
    fcs_matrix *m = NULL;
    fcs_comp_opts co;
    fcs_error err;
    int rc = fcs_matrix_parse_spillover(spill, x->names, x->np, &m, &err);
    free(spill);
    if (rc != FCS_OK) return fcs_cli_error(x->o->input, "LIBFCS_COMP: %s", err.msg);
    fcs_comp_opts_init(&co);
    co.strict_names = 1;
    co.max_condition = INFINITY; /* it was accepted when it was applied */
    rc = fcs_comp_new(&x->c, m, x->names, NULL, x->np, &co, &err);
    fcs_matrix_free(m);
    if (rc != FCS_OK) return comp_error(x, "LIBFCS_COMP", rc, &err);
    return 0;
}

/* fcs-cat of files compensated each with its own matrix records
 * "source=per-input" instead of a matrix. */
static int per_input(const char *v)
{
    const char *rec = last_record(v);
    char *src = record_field(rec, rec + strlen(rec), "source");
    int yes = src && strcmp(src, "per-input") == 0;
    free(src);
    return yes;
}

/* "compensate with file:m.csv" of the last record, for the refusal. */
static int refuse_twice(const struct comp_run *x)
{
    const char *rec = last_record(x->previous), *end = rec + strlen(rec);
    const char *semi = find_unescaped(rec, ';');
    char *src = record_field(rec, end, "source");
    int mode_len = (int)((semi ? semi : end) - rec);
    fcs_cli_error(x->o->input, "already compensated (LIBFCS_COMP: %.*s%s%.200s); --force "
                  "compensates again%s",
                  mode_len > 40 ? 40 : mode_len, rec, src ? " with " : "", src ? src : "",
                  per_input(x->previous) ? "" : ", --decompensate undoes it");
    free(src);
    return FCS_CLI_EXIT_INPUT;
}

static int plan(struct comp_run *x)
{
    const struct comp_opts *o = x->o;
    x->undo = o->decompensate;
    if (o->decompensate && x->previous && per_input(x->previous))
        return fcs_cli_error(o->input, "LIBFCS_COMP: the events were compensated per input file "
                             "with different matrices (fcs-cat of compensated files): that "
                             "cannot be undone here; decompensate the files before concatenating");
    if (o->decompensate) {
        if (x->previous && o->matrix)
            return fcs_cli_error(o->input, "the stream was compensated by fcs-comp (LIBFCS_COMP): "
                                 "--decompensate undoes that with the recorded matrix; leave out -m");
        if (x->previous) return build_undo(x);
        if (!o->matrix)
            return fcs_cli_error(o->input, "nothing to undo: no LIBFCS_COMP in the data set (give "
                                 "-m MATRIX to apply a spillover matrix to uncompensated data)");
        return build_from_file(x, o->matrix, 0);
    }
    if (x->previous && !o->force) return refuse_twice(x);
    if (o->spectral) return build_from_file(x, o->spectral, 1);
    if (o->matrix) return build_from_file(x, o->matrix, 0);
    return build_from_keywords(x);
}

static int is_identity(const fcs_matrix *m)
{
    for (size_t i = 0; i < fcs_matrix_rows(m); i++)
        for (size_t j = 0; j < fcs_matrix_cols(m); j++)
            if (fcs_matrix_get(m, i, j) != (i == j ? 1.0 : 0.0)) return 0;
    return 1;
}

/* Spillover is linear in the detector signal: compensating values that
 * fcs-xform has already transformed (logicle, asinh, ...) would be wrong. */
static int check_linear(const struct comp_run *x)
{
    char key[48];
    for (size_t i = 0; i < fcs_comp_n_inputs(x->c); i++) {
        size_t p = (size_t)fcs_comp_input_param(x->c, i);
        snprintf(key, sizeof key, "LIBFCS_P%zuTRANSFORM", p + 1);
        const char *t = fcs_keyword(x->r, key);
        if (t)
            return fcs_cli_error(x->o->input, "channel %s is transformed (%s=%.100s): %s needs "
                                 "linear values; run fcs-comp before fcs-xform",
                                 x->nm.name[p], key, t,
                                 x->undo ? "decompensation" : "compensation");
    }
    return 0;
}

static void report_warnings(const struct comp_run *x)
{
    for (size_t i = 0; i < fcs_comp_n_warnings(x->c); i++)
        fcs_cli_warn(x->o->input, "%s", fcs_comp_warning(x->c, i));
    if (!x->spectral && is_identity(fcs_comp_matrix(x->c)))
        fcs_cli_warn(x->o->input, "comp-identity: the spillover matrix (%s) is the identity: "
                     "values are unchanged", x->source ? x->source : "LIBFCS_COMP");
}

/* ---- output layout -------------------------------------------------------------------- */

/* Square: the identity. Spectral: the detectors are removed and the
 * fluorochromes take the place of the first one, other parameters keep
 * their order. */
static int layout(struct comp_run *x)
{
    size_t d = fcs_comp_n_inputs(x->c), f = x->spectral ? fcs_comp_n_outputs(x->c) : 0;
    unsigned char *det = calloc(x->np ? x->np : 1, 1);
    size_t first = x->np;
    if (!det) return fcs_cli_error(NULL, "out of memory");
    if (x->spectral)
        for (size_t i = 0; i < d; i++) {
            size_t p = (size_t)fcs_comp_input_param(x->c, i);
            det[p] = 1;
            if (p < first) first = p;
        }
    x->np_out = x->np - (x->spectral ? d : 0) + f;
    x->map = malloc((x->np_out ? x->np_out : 1) * sizeof *x->map);
    x->fluor = malloc((x->np_out ? x->np_out : 1) * sizeof *x->fluor);
    if (!x->map || !x->fluor) {
        free(det);
        return fcs_cli_error(NULL, "out of memory");
    }
    size_t k = 0;
    for (size_t j = 0; j < x->np; j++) {
        if (j == first)
            for (size_t a = 0; a < f; a++, k++) x->map[k] = -1, x->fluor[k] = (int)a;
        if (det[j]) continue;
        x->map[k] = (int)j, x->fluor[k] = -1, k++;
    }
    free(det);
    return 0;
}

/* The output name of parameter k. */
static const char *out_name(const struct comp_run *x, size_t k)
{
    if (x->map[k] < 0) return fcs_comp_output_name(x->c, (size_t)x->fluor[k]);
    return x->nm.name[x->map[k]];
}

/* Fluorochrome names must not repeat a $PnN (the writer needs unique names). */
static int check_names(const struct comp_run *x)
{
    for (size_t k = 0; k < x->np_out; k++) {
        if (x->map[k] >= 0) continue;
        const char *a = out_name(x, k);
        for (size_t l = 0; l < x->np_out; l++) {
            if (l == k) continue;
            const char *b = out_name(x, l);
            if (strcasecmp(a, b) == 0)
                return fcs_cli_error(x->o->input, "fluorochrome '%s' of %s has the name of "
                                     "%s '%s'; rename it in the spectrum matrix",
                                     a, fcs_cli_input_name(x->o->spectral),
                                     x->map[l] < 0 ? "fluorochrome" : "parameter", b);
        }
    }
    return 0;
}

static int alloc_buffers(struct comp_run *x)
{
    x->chunk = fcs_cli_chunk_events(x->np > x->np_out ? x->np : x->np_out);
    x->buf = malloc(x->chunk * (x->np ? x->np : 1) * sizeof *x->buf);
    if (!x->buf) return fcs_cli_error(NULL, "out of memory");
    if (!x->spectral) return 0;
    x->obuf = malloc(x->chunk * (x->np_out ? x->np_out : 1) * sizeof *x->obuf);
    x->abund = malloc(x->chunk * (fcs_comp_n_outputs(x->c) ? fcs_comp_n_outputs(x->c) : 1) *
                      sizeof *x->abund);
    return (x->obuf && x->abund) ? 0 : fcs_cli_error(NULL, "out of memory");
}

/* ---- keywords ---------------------------------------------------------------------------- */

/* The matrix used, named by the $PnN of the parameters it was applied to
 * (so that reading it back needs no label or case-insensitive matching). */
static fcs_matrix *used_by_pnn(const struct comp_run *x)
{
    fcs_matrix *m = fcs_matrix_copy(fcs_comp_matrix(x->c));
    for (size_t i = 0; m && i < fcs_comp_n_inputs(x->c); i++) {
        size_t p = (size_t)fcs_comp_input_param(x->c, i);
        if (fcs_matrix_set_name(m, i, x->nm.name[p])) {
            fcs_matrix_free(m);
            return NULL;
        }
    }
    return m;
}

static void sb_list(struct strbuf *b, const char *key, const struct comp_run *x, int inputs)
{
    size_t n = inputs ? fcs_comp_n_inputs(x->c) : fcs_comp_n_outputs(x->c);
    sb_putc(b, ';');
    sb_puts(b, key);
    sb_putc(b, '=');
    for (size_t i = 0; i < n; i++) {
        if (i) sb_putc(b, ',');
        if (inputs) {
            size_t p = (size_t)fcs_comp_input_param(x->c, i);
            sb_escaped(b, x->nm.name[p], ";|,");
        } else {
            sb_escaped(b, fcs_comp_output_name(x->c, i), ";|,");
        }
    }
}

/* One LIBFCS_COMP record for this run (after the previous ones with --force). */
static int comp_record(struct comp_run *x, char **out)
{
    struct strbuf b = {0};
    char num[FCS_CLI_NUM_MAX];
    if (x->previous) {
        sb_puts(&b, x->previous);
        sb_putc(&b, '|');
    }
    sb_puts(&b, x->spectral ? "unmix" : "compensate");
    sb_field(&b, "source", x->source);
    if (x->sha[0]) sb_field(&b, "sha256", x->sha);
    sb_list(&b, x->spectral ? "detectors" : "channels", x, 1);
    if (x->spectral) sb_list(&b, "fluorochromes", x, 0);
    snprintf(num, sizeof num, "%.4g", fcs_comp_condition(x->c));
    sb_field(&b, "condition", num);
    if (!x->spectral) {
        fcs_matrix *m = used_by_pnn(x);
        char *s = m ? fcs_matrix_to_spillover(m) : NULL;
        if (s) sb_field(&b, "spillover", s);
        else if (m)
            fcs_cli_warn(x->o->input, "LIBFCS_COMP holds no matrix (a channel name contains ','): "
                         "--decompensate cannot undo this run");
        fcs_matrix_free(m);
        free(s);
        if (!m) b.oom = 1;
    }
    if (b.oom) {
        free(b.s);
        return FCS_ENOMEM;
    }
    *out = b.s;
    return FCS_OK;
}

/* LIBFCS_COMP without its last record (NULL: none left). */
static char *drop_last_record(const char *v)
{
    const char *rec = last_record(v);
    if (rec == v) return NULL;
    return strndup(v, (size_t)(rec - 1 - v));
}

/* --decompensate -m: the data now carry the matrix's spillover. */
static int set_new_spillover(struct comp_run *x)
{
    const char *kw = NULL;
    if (fcs_spillover(x->r, &kw) && kw)
        fcs_cli_warn(x->o->input, "%s of the input is replaced by the matrix of %s", kw,
                     x->o->matrix);
    int rc = fcs_cli_drop_spillover(x->w, x->r);
    fcs_matrix *m = rc == FCS_OK ? used_by_pnn(x) : NULL;
    char *s = m ? fcs_matrix_to_spillover(m) : NULL;
    if (rc == FCS_OK && !m) rc = FCS_ENOMEM;
    if (rc == FCS_OK && s) rc = fcs_writer_set_keyword(x->w, "$SPILLOVER", s);
    else if (rc == FCS_OK)
        fcs_cli_warn(x->o->input, "no $SPILLOVER written: a channel name contains ','");
    fcs_matrix_free(m);
    free(s);
    return rc;
}

static int comp_keywords(struct comp_run *x)
{
    char *v = NULL;
    int rc;
    if (x->undo && x->previous) {
        v = drop_last_record(x->previous);
        if (!v && find_unescaped(x->previous, '|')) return FCS_ENOMEM;
        rc = fcs_writer_set_keyword(x->w, "LIBFCS_COMP", v);
    } else if (x->undo) {
        rc = set_new_spillover(x);
    } else {
        rc = comp_record(x, &v);
        if (rc == FCS_OK) rc = fcs_writer_set_keyword(x->w, "LIBFCS_COMP", v);
        /* the detectors these keywords name are no longer in the stream */
        if (rc == FCS_OK && x->spectral) rc = fcs_cli_drop_spillover(x->w, x->r);
    }
    free(v);
    return rc == FCS_ENOTFOUND ? FCS_OK : rc;
}

/* $PnN/$PnS/$PnR of every output parameter. Copied parameters keep their
 * name and label, with $PnR the top of their channel-value scale; a
 * fluorochrome gets its name, no label, and the largest $PnR of its
 * detectors. */
static int set_params(struct comp_run *x)
{
    double frange = 0;
    for (size_t i = 0; x->spectral && i < fcs_comp_n_inputs(x->c); i++) {
        double r = fcs_cli_scaled_range(fcs_param_info(x->r, (size_t)fcs_comp_input_param(x->c, i)));
        if (isfinite(r) && r > frange) frange = r;
    }
    if (!(frange > 0)) frange = DEFAULT_RANGE;
    for (size_t k = 0; k < x->np_out; k++) {
        int rc;
        if (x->map[k] < 0) {
            rc = fcs_writer_set_param(x->w, k, out_name(x, k), NULL, frange);
        } else {
            const fcs_param *p = fcs_param_info(x->r, (size_t)x->map[k]);
            double r = fcs_cli_scaled_range(p);
            if (!(r > 0) || !isfinite(r)) continue; /* the writer's own fallback */
            rc = fcs_writer_set_param(x->w, k, out_name(x, k), p->label, r);
        }
        if (rc != FCS_OK) return rc;
    }
    return FCS_OK;
}

static int setup_writer(struct comp_run *x)
{
    if (fcs_cli_writer_open(&x->w, x->o->io.output, x->np_out)) return FCS_CLI_EXIT_INPUT;
    int rc = fcs_writer_copy_keywords(x->w, x->r, x->map);
    if (rc == FCS_OK) rc = set_params(x);
    if (rc == FCS_OK) rc = fcs_cli_writer_set_names(x->w, &x->nm, x->map, x->np_out);
    if (rc == FCS_OK) rc = comp_keywords(x);
    if (rc == FCS_OK) rc = fcs_cli_provenance(x->w, x->o->io.no_version);
    if (rc == FCS_OK) rc = fcs_cli_source_keyword(x->w, x->r, x->o->input);
    if (rc == FCS_OK) rc = fcs_writer_begin(x->w, x->n_events);
    if (rc != FCS_OK) {
        rc = fcs_cli_writer_failed(x->w, rc, x->o->io.output, x->o->input, &x->quiet_end);
        fcs_writer_abort(x->w);
        x->w = NULL;
    }
    return rc;
}

/* ---- streaming ------------------------------------------------------------------------ */

/* Unmix n events of buf into obuf: kept parameters copied, fluorochromes
 * from the abundances. */
static void unmix_chunk(struct comp_run *x, const float *ev, size_t n)
{
    size_t f = fcs_comp_n_outputs(x->c);
    (void)fcs_comp_unmix_f32(x->c, ev, n, x->abund);
    for (size_t i = 0; i < n; i++) {
        const float *src = ev + i * x->np, *ab = x->abund + i * f;
        float *dst = x->obuf + i * x->np_out;
        for (size_t k = 0; k < x->np_out; k++) dst[k] = x->map[k] >= 0 ? src[x->map[k]] : ab[x->fluor[k]];
    }
}

static const float *process_chunk(fcs_cli_stream *s, float *ev, size_t n, size_t *n_out)
{
    struct comp_run *x = s->ctx;
    *n_out = n;
    if (x->spectral) {
        unmix_chunk(x, ev, n);
        return x->obuf;
    }
    if (x->undo) (void)fcs_comp_decompensate_f32(x->c, ev, n);
    else (void)fcs_comp_apply_f32(x->c, ev, n);
    return ev;
}

static int stream(struct comp_run *x)
{
    fcs_cli_stream s;
    fcs_cli_stream_init(&s, x->r, x->o->input, x->w, x->o->io.output, x->buf, x->chunk);
    s.fn = process_chunk;
    s.ctx = x;
    s.prog = &x->prog;
    fcs_cli_progress_start(&x->prog, x->n_events);
    int rc = fcs_cli_stream_run(&s);
    fcs_cli_progress_end(&x->prog);
    x->quiet_end = s.quiet_end;
    if (!rc && !x->quiet_end) fcs_cli_report_warnings_names(x->o->input, x->r, &x->nm);
    return rc;
}

/* Refuse an -o that is the input or the matrix file before reading anything. */
static int check_output(const struct comp_opts *o)
{
    fcs_cli_note_input(o->input);
    if (o->matrix) fcs_cli_note_input(o->matrix);
    if (o->spectral) fcs_cli_note_input(o->spectral);
    return fcs_cli_check_output(o->io.output);
}

static int run(const struct comp_opts *o)
{
    struct comp_run x;
    memset(&x, 0, sizeof x);
    x.o = o;
    int rc = fcs_cli_refuse_tty(o->io.output);
    if (!rc) rc = check_output(o);
    if (!rc) rc = open_input(&x);
    if (!rc) rc = plan(&x);
    if (!rc) rc = check_linear(&x);
    if (!rc) report_warnings(&x);
    if (!rc) rc = layout(&x);
    if (!rc && x.spectral) rc = check_names(&x);
    if (!rc) rc = alloc_buffers(&x);
    if (!rc) rc = setup_writer(&x);
    if (!rc && !x.quiet_end) {
        rc = stream(&x);
        rc = fcs_cli_finish_writer(x.w, o->io.output, rc, x.quiet_end);
    }
    fcs_comp_free(x.c);
    free(x.source);
    free(x.names);
    free(x.labels);
    fcs_cli_names_free(&x.nm);
    free(x.map);
    free(x.fluor);
    free(x.buf);
    free(x.obuf);
    free(x.abund);
    fcs_close(x.r);
    return rc;
}

int main(int argc, char **argv)
{
    struct comp_opts o;
    fcs_cli_init(&TOOL, argc, argv);
    int rc = parse(&o, argc, argv);
    if (rc != FCS_CLI_CONTINUE) return fcs_cli_finish(rc);
    return fcs_cli_finish(run(&o));
}
