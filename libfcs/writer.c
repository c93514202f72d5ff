/*
 * writer.c — FCS 3.1 list-mode writer.
 *
 * File layout written (offsets from the start of the HEADER, FCS 3.1 §3.1):
 *   [0, 58)            HEADER: "FCS3.1", 4 blanks, six 8-byte right-justified offsets
 *   [58, 58 + T)       primary TEXT (starts and ends with the delimiter)
 *   [58 + T, ... + D)  DATA (n_events * n_params values, event by event)
 *   8 bytes            CRC field "00000000" (not computed, allowed by §3.4)
 * No ANALYSIS and no supplemental TEXT: their offsets are 0.
 *
 * Output goes to PATH.tmp.<pid> (renamed into place at close) or to stdout.
 * With an unknown event count the encoded DATA is spilled to an unlinked
 * temporary file and copied behind the TEXT at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcs/writer.h"
#include "internal.h"
#include "writer_internal.h"

/* Encoded DATA is staged in a buffer of this size before each write(2). */
#define WBUF_SIZE ((size_t)1 << 18)

struct kw {
    char *name;
    char *value;
};

enum wstate { W_SETUP, W_DATA, W_FAILED };

struct fcs_writer {
    char *path;       /* final path; NULL for stdout */
    char *tmp_path;   /* PATH.tmp.<pid>; NULL for stdout */
    const char *disp; /* name used in messages */
    int fd;           /* HEADER/TEXT/DATA go here (temp file or 1) */
    int spill_fd;     /* DATA buffer when the event count is unknown, else -1 */
    size_t n_params;
    fcs_write_opts o;
    int width; /* bytes per value */
    int swap;  /* output byte order differs from the host's */
    struct kw *kw;
    size_t n_kw, cap_kw;
    uint32_t *slots; /* case-insensitive index of kw (see kw_find) */
    size_t n_slots;
    int index_lost;  /* kw_reindex failed: the writer is unusable */
    enum wstate state;
    int status;         /* sticky error once state == W_FAILED */
    int sys_errno;      /* errno of the failed system call, 0 if none */
    int64_t announced;  /* -1: unknown */
    uint64_t written;   /* events accepted so far */
    uint64_t out_bytes; /* bytes written to fd */
    uint64_t head_len;  /* HEADER + TEXT bytes, once rendered */
    double *imax;       /* 'I': largest storable value per parameter */
    unsigned char *buf;
    size_t buf_len;
    char msg[FCS_ERRMSG_MAX];
};

/* ---- small helpers --------------------------------------------------------- */

static int werr(fcs_writer *w, int code, const char *fmt, ...) FCS_PRINTF(3, 4);
static int werr(fcs_writer *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    /* After begin a failure leaves the output inconsistent: make it sticky. */
    if (w->state != W_SETUP) {
        w->state = W_FAILED;
        w->status = code;
    }
    return code;
}

static const char *errno_text(int e, char *buf, size_t n)
{
    /* GNU strerror_r (we build with _GNU_SOURCE): thread-safe, returns the text. */
    return strerror_r(e, buf, n);
}

/* An I/O failure with errno e while doing `what`. */
static int werr_io(fcs_writer *w, int e, const char *what)
{
    char eb[128];
    w->sys_errno = e;
    if (e == EPIPE)
        return werr(w, FCS_EIO, "%s: broken pipe: the reading end was closed", w->disp);
    if (e == ENOSPC)
        return werr(w, FCS_EIO, "%s: %s failed: no space left on device", w->disp, what);
    return werr(w, FCS_EIO, "%s: %s failed: %s", w->disp, what, errno_text(e, eb, sizeof eb));
}

static int write_all(fcs_writer *w, int fd, const void *data, size_t n, const char *what)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            werr_io(w, e, what);
            errno = e; /* callers (tools) test errno == EPIPE to stay quiet */
            return w->status;
        }
        if (k == 0) return werr_io(w, EIO, what);
        p += k;
        n -= (size_t)k;
    }
    return FCS_OK;
}

/* Shortest decimal text that reads back as v (integers without a point). */
static void format_number(char *buf, size_t n, double v)
{
    /* Integral values as plain integers: some readers parse $PnR with atoi. */
    if (v == floor(v) && fabs(v) < 1e20) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int ascii_upper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }

/* Case-insensitive prefix test; returns the prefix length or 0. */
static size_t has_prefix(const char *s, const char *prefix)
{
    size_t i = 0;
    for (; prefix[i]; i++)
        if (ascii_upper((unsigned char)s[i]) != ascii_upper((unsigned char)prefix[i])) return 0;
    return i;
}

/*
 * A parameter keyword "<prefix><n><suffix>" ("$P3N", "LIBFCS_P3G"): returns 1
 * and sets *n (1-based), *suffix and *prefix_len; 0 otherwise. The suffix must
 * start with a letter, so "$PAR" and "$PROJ" are not parameter keywords.
 */
static int param_keyword(const char *name, const char *prefix, uint64_t *n, const char **suffix,
                         size_t *prefix_len)
{
    size_t pl = has_prefix(name, prefix);
    if (!pl) return 0;
    const char *p = name + pl;
    uint64_t v = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9') {
        if (fcs_mul_ok(v, 10, &v) || fcs_add_ok(v, (uint64_t)(*p - '0'), &v)) return 0;
        p++;
    }
    if (p == digits) return 0;
    int c = ascii_upper((unsigned char)*p);
    if (c < 'A' || c > 'Z') return 0;
    *n = v;
    *suffix = p;
    if (prefix_len) *prefix_len = pl;
    return 1;
}

/* Keywords the writer computes itself (FCS 3.1 §3.2.18 required set). */
static int is_structural(const char *name)
{
    static const char *const fixed[] = {
        "$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINDATA", "$ENDDATA",
        "$BYTEORD",       "$DATATYPE",    "$MODE",       "$NEXTDATA", "$PAR",       "$TOT"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fcs_strcasecmp(name, fixed[i]) == 0) return 1;
    uint64_t n;
    const char *suffix;
    if (param_keyword(name, "$P", &n, &suffix, NULL))
        return fcs_strcasecmp(suffix, "B") == 0 || fcs_strcasecmp(suffix, "E") == 0 ||
               fcs_strcasecmp(suffix, "DATATYPE") == 0;
    return 0;
}

/* ---- keyword list ---------------------------------------------------------- */

/* Keywords in insertion order plus a case-insensitive open-addressing index
 * (slots hold index + 1; 0 = empty), so that copying thousands of keywords
 * and checking thousands of parameters stays linear. */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a over the upper-cased name */
    for (; *s; s++) h = (h ^ (uint32_t)ascii_upper((unsigned char)*s)) * 16777619u;
    return h;
}

static void slots_insert(uint32_t *slots, size_t nslots, const char *name, uint32_t v)
{
    size_t i = name_hash(name) & (nslots - 1);
    while (slots[i]) i = (i + 1) & (nslots - 1);
    slots[i] = v;
}

/* Rebuild the index for the current list, with room to grow. */
static int kw_reindex(fcs_writer *w)
{
    size_t n = 64;
    while (n < 2 * (w->n_kw + 1)) n *= 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < w->n_kw; i++) slots_insert(slots, n, w->kw[i].name, (uint32_t)(i + 1));
    free(w->slots);
    w->slots = slots;
    w->n_slots = n;
    return 0;
}

static struct kw *kw_find(fcs_writer *w, const char *name)
{
    if (!w->n_slots) return NULL;
    for (size_t i = name_hash(name) & (w->n_slots - 1);; i = (i + 1) & (w->n_slots - 1)) {
        uint32_t s = w->slots[i];
        if (!s) return NULL;
        if (fcs_strcasecmp(w->kw[s - 1].name, name) == 0) return &w->kw[s - 1];
    }
}

static void kw_delete(fcs_writer *w, const char *name)
{
    struct kw *k = kw_find(w, name);
    if (!k) return;
    size_t i = (size_t)(k - w->kw);
    free(k->name);
    free(k->value);
    memmove(&w->kw[i], &w->kw[i + 1], (w->n_kw - i - 1) * sizeof *w->kw);
    w->n_kw--;
    /* Indexes after i moved: rebuild (deletions are rare). If that fails
     * for lack of memory, drop the index entirely: lookups then find
     * nothing, so refuse further work instead. */
    if (kw_reindex(w) != 0) {
        free(w->slots);
        w->slots = NULL;
        w->n_slots = 0;
        w->index_lost = 1;
    }
}

/* Set or replace; the value is stored as given ("" becomes " " when rendered). */
static int kw_put(fcs_writer *w, const char *name, const char *value)
{
    if (w->index_lost) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    struct kw *k = kw_find(w, name);
    char *v = fcs_strdup(value);
    if (!v) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    if (k) {
        free(k->value);
        k->value = v;
        return FCS_OK;
    }
    char *n = fcs_strdup(name);
    if (!n || w->n_kw >= UINT32_MAX - 1) {
        free(v);
        free(n);
        return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    }
    if (w->n_kw == w->cap_kw) {
        size_t cap = w->cap_kw ? 2 * w->cap_kw : 64;
        struct kw *nk = realloc(w->kw, cap * sizeof *nk);
        if (!nk) {
            free(v);
            free(n);
            return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
        }
        w->kw = nk;
        w->cap_kw = cap;
    }
    if (2 * (w->n_kw + 1) > w->n_slots && kw_reindex(w) != 0) {
        free(v);
        free(n);
        return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    }
    w->kw[w->n_kw].name = n;
    w->kw[w->n_kw].value = v;
    w->n_kw++;
    slots_insert(w->slots, w->n_slots, n, (uint32_t)w->n_kw);
    return FCS_OK;
}

static const char *kw_get(fcs_writer *w, const char *name)
{
    struct kw *k = kw_find(w, name);
    return k ? k->value : NULL;
}

/* Value of "$P<i+1><suffix>" among the writer's keywords. */
static const char *param_kw_get(fcs_writer *w, size_t i, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "$P%zu%s", i + 1, suffix);
    return kw_get(w, name);
}

/* ---- open / abort ---------------------------------------------------------- */

void fcs_write_opts_init(fcs_write_opts *opts)
{
    opts->datatype = 'F';
    opts->int_bits = 32;
    opts->big_endian = 0;
}

static int host_is_big_endian(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return 1;
#else
    return 0;
#endif
}

static int check_opts(const fcs_write_opts *o, int *width, fcs_error *err)
{
    switch (o->datatype) {
    case 'F': *width = 4; return FCS_OK;
    case 'D': *width = 8; return FCS_OK;
    case 'I':
        if (o->int_bits == 8 || o->int_bits == 16 || o->int_bits == 32 || o->int_bits == 64) {
            *width = o->int_bits / 8;
            return FCS_OK;
        }
        return fcs_error_set(err, FCS_EINVAL, "writer: $DATATYPE I needs 8, 16, 32 or 64 bits, not %d",
                             o->int_bits);
    default:
        return fcs_error_set(err, FCS_EINVAL, "writer: $DATATYPE must be F, D or I, not '%c'",
                             o->datatype);
    }
}

/* Create PATH.tmp.<pid> exclusively (a stale one from a crashed run with the
 * same pid gets a ".<k>" suffix instead of being clobbered). */
static int open_tmp(fcs_writer *w, fcs_error *err)
{
    size_t n = strlen(w->path) + 48;
    w->tmp_path = malloc(n);
    if (!w->tmp_path) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", w->path);
    for (int k = 0; k < 100; k++) {
        if (k == 0)
            snprintf(w->tmp_path, n, "%s.tmp.%ld", w->path, (long)getpid());
        else
            snprintf(w->tmp_path, n, "%s.tmp.%ld.%d", w->path, (long)getpid(), k);
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0) return FCS_OK;
        if (errno != EEXIST) break;
    }
    char eb[128];
    int e = errno;
    free(w->tmp_path);
    w->tmp_path = NULL;
    return fcs_error_set(err, FCS_EIO, "%s: cannot create temporary file: %s", w->path,
                         errno_text(e, eb, sizeof eb));
}

static void writer_free(fcs_writer *w)
{
    if (w->spill_fd >= 0) close(w->spill_fd);
    for (size_t i = 0; i < w->n_kw; i++) {
        free(w->kw[i].name);
        free(w->kw[i].value);
    }
    free(w->kw);
    free(w->slots);
    free(w->imax);
    free(w->buf);
    free(w->tmp_path);
    free(w->path);
    free(w);
}

/* Close the output; remove the temporary file (error paths and abort). */
static void writer_discard(fcs_writer *w)
{
    if (w->path) {
        if (w->fd >= 0) close(w->fd);
        if (w->tmp_path) unlink(w->tmp_path);
    }
    writer_free(w);
}

int fcs_writer_open(fcs_writer **out, const char *path, size_t n_params,
                    const fcs_write_opts *opts, fcs_error *err)
{
    fcs_error_clear(err);
    if (!out) return fcs_error_set(err, FCS_EINVAL, "writer: out is NULL");
    *out = NULL;
    if (!path || !*path) return fcs_error_set(err, FCS_EINVAL, "writer: empty output path");
    if (n_params == 0) return fcs_error_set(err, FCS_EINVAL, "%s: $PAR must be at least 1", path);
    fcs_write_opts def;
    if (!opts) {
        fcs_write_opts_init(&def);
        opts = &def;
    }
    int width = 0;
    int rc = check_opts(opts, &width, err);
    if (rc) return rc;

    fcs_writer *w = calloc(1, sizeof *w);
    if (!w) return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    w->fd = -1;
    w->spill_fd = -1;
    w->n_params = n_params;
    w->o = *opts;
    w->width = width;
    w->swap = (opts->big_endian ? 1 : 0) != host_is_big_endian();
    w->announced = -1;
    w->state = W_SETUP;
    w->buf = malloc(WBUF_SIZE);
    if (!w->buf) {
        writer_free(w);
        return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
    }
    if (strcmp(path, "-") == 0) {
        w->disp = "<stdout>";
        w->fd = STDOUT_FILENO;
        if (fcntl(w->fd, F_GETFD) < 0) {
            writer_free(w);
            return fcs_error_set(err, FCS_EIO, "<stdout>: standard output is closed");
        }
    } else {
        w->path = fcs_strdup(path);
        if (!w->path) {
            writer_free(w);
            return fcs_error_set(err, FCS_ENOMEM, "%s: out of memory", path);
        }
        w->disp = w->path;
        rc = open_tmp(w, err);
        if (rc) {
            writer_free(w);
            return rc;
        }
    }
    *out = w;
    return FCS_OK;
}

const char *fcs_writer_errmsg(const fcs_writer *w) { return w ? w->msg : ""; }

void fcs_writer_abort(fcs_writer *w)
{
    if (w) writer_discard(w);
}

/* ---- keywords and parameters ---------------------------------------------- */

/* Calls that must precede fcs_writer_begin. A late call is refused but does
 * not spoil the output, so the error is not sticky. */
static int check_setup(fcs_writer *w, const char *what)
{
    if (w->state == W_SETUP) return FCS_OK;
    if (w->state == W_FAILED) return w->status;
    snprintf(w->msg, sizeof w->msg, "%s: %s after fcs_writer_begin", w->disp, what);
    return FCS_EINVAL;
}

/* Names must survive a read back: non-empty, no surrounding blanks (readers
 * trim them), no control bytes (FCS 3.1 §3.2.5: keywords are printable ASCII). */
static int check_name(fcs_writer *w, const char *name)
{
    size_t n = strlen(name);
    if (n == 0) return werr(w, FCS_EINVAL, "%s: empty keyword name", w->disp);
    if (name[0] == ' ' || name[n - 1] == ' ')
        return werr(w, FCS_EINVAL, "%s: keyword '%s' starts or ends with a blank", w->disp, name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return werr(w, FCS_EINVAL, "%s: keyword '%s' contains control byte 0x%02x", w->disp,
                        name, c);
    }
    return FCS_OK;
}

int fcs_writer_set_keyword(fcs_writer *w, const char *name, const char *value)
{
    if (!w || !name) return FCS_EINVAL;
    int rc = check_setup(w, "fcs_writer_set_keyword");
    if (rc) return rc;
    rc = check_name(w, name);
    if (rc) return rc;
    if (is_structural(name)) return FCS_OK; /* the writer owns these */
    uint64_t n;
    const char *suffix;
    if (param_keyword(name, "$P", &n, &suffix, NULL) && (n == 0 || n > w->n_params))
        return werr(w, FCS_ERANGE, "%s: keyword %s names parameter %" PRIu64 " of %zu", w->disp,
                    name, n, w->n_params);
    if (!value) {
        kw_delete(w, name);
        return FCS_OK;
    }
    return kw_put(w, name, value);
}

int fcs_writer_set_param(fcs_writer *w, size_t i, const char *name, const char *label,
                         double range)
{
    if (!w) return FCS_EINVAL;
    int rc = check_setup(w, "fcs_writer_set_param");
    if (rc) return rc;
    if (i >= w->n_params)
        return werr(w, FCS_ERANGE, "%s: parameter %zu of %zu", w->disp, i + 1, w->n_params);
    if (!name || !*name)
        return werr(w, FCS_EINVAL, "%s: parameter %zu needs a name ($P%zuN)", w->disp, i + 1, i + 1);
    if (!(range > 0) || !isfinite(range))
        return werr(w, FCS_EINVAL, "%s: parameter %zu: $P%zuR must be > 0, not %g", w->disp, i + 1,
                    i + 1, range);
    char kn[64], num[64];
    snprintf(kn, sizeof kn, "$P%zuN", i + 1);
    if ((rc = kw_put(w, kn, name))) return rc;
    snprintf(kn, sizeof kn, "$P%zuR", i + 1);
    format_number(num, sizeof num, range);
    if ((rc = kw_put(w, kn, num))) return rc;
    snprintf(kn, sizeof kn, "$P%zuS", i + 1);
    if (label && *label) return kw_put(w, kn, label);
    kw_delete(w, kn);
    return FCS_OK;
}

/* ---- copying keywords from a reader --------------------------------------- */

/* Rename parameter keyword `name` (prefix + input number + suffix) to the
 * output parameter out_i and store it. */
static int put_renumbered(fcs_writer *w, const char *name, size_t prefix_len, size_t out_i,
                          const char *suffix, const char *value)
{
    char kn[256];
    int k = snprintf(kn, sizeof kn, "%.*s%zu%s", (int)prefix_len, name, out_i + 1, suffix);
    if (k < 0 || (size_t)k >= sizeof kn) return FCS_OK; /* absurd name: not a real keyword */
    return kw_put(w, kn, value);
}

/* Whether a $PnE value means "linear, no offset" (0,0). */
static int is_linear_e(const char *v)
{
    const char *comma = strchr(v, ',');
    if (!comma) return 0;
    char *f1 = fcs_strndup(v, (size_t)(comma - v));
    if (!f1) return 0;
    double a, b;
    int ok = fcs_parse_double(f1, &a) == 0 && fcs_parse_double(comma + 1, &b) == 0;
    free(f1);
    return ok && a == 0 && b == 0;
}

/* Whether input parameter keyword "$P<j+1><suffix>" exists and is not the
 * neutral value ($PnG 1, $PnE 0,0): then the writer records it as LIBFCS_Pn*. */
static int input_differs(const fcs_reader *r, size_t j, const char *suffix)
{
    char kn[64];
    snprintf(kn, sizeof kn, "$P%zu%s", j + 1, suffix);
    const char *v = fcs_keyword(r, kn);
    if (!v) return 0;
    double g;
    if (ascii_upper((unsigned char)suffix[0]) == 'G') return fcs_parse_double(v, &g) != 0 || g != 1;
    return !is_linear_e(v);
}

/* How one input parameter keyword is copied. */
struct param_copy {
    const char *value;    /* value of the renumbered keyword; NULL = not written */
    const char *prov_sfx; /* "G" / "E": also store LIBFCS_P<n><sfx> = input value */
};

/* Plan the copy of "$P<j+1><suffix>" (dollar) or "LIBFCS_P<j+1><suffix>".
 * Returns 0 when nothing is copied. */
static int plan_param_copy(const fcs_reader *r, size_t j, const char *suffix, const char *value,
                           int dollar, struct param_copy *pc)
{
    pc->value = value;
    pc->prov_sfx = NULL;
    if (!dollar) {
        /* LIBFCS_PnG/E of an earlier pass, unless this input's own $PnG/E
         * is non-neutral: that one is recorded afresh. */
        if ((fcs_strcasecmp(suffix, "G") == 0 || fcs_strcasecmp(suffix, "E") == 0) &&
            input_differs(r, j, suffix))
            return 0;
        return 1;
    }
    if (fcs_strcasecmp(suffix, "B") == 0 || fcs_strcasecmp(suffix, "DATATYPE") == 0) return 0;
    if (fcs_strcasecmp(suffix, "E") == 0) { /* $PnE is the writer's: 0,0 */
        pc->value = NULL;
        if (input_differs(r, j, "E")) pc->prov_sfx = "E";
        return pc->prov_sfx != NULL;
    }
    if (fcs_strcasecmp(suffix, "G") == 0) { /* channel values: gain 1 */
        pc->value = "1";
        if (input_differs(r, j, "G")) pc->prov_sfx = "G";
        return 1;
    }
    if (fcs_strcasecmp(suffix, "N") == 0) { /* the reader's name, after its repairs */
        const fcs_param *p = fcs_param_info(r, j);
        if (p && p->name && *p->name) pc->value = p->name;
    }
    return 1;
}

/* Copy one keyword of input parameter j (0-based) to every output parameter
 * mapped to it, in place (the input's keyword order is kept). */
static int copy_param_keyword(fcs_writer *w, const fcs_reader *r, const int *map, const char *name,
                              size_t prefix_len, size_t j, const char *suffix, const char *value,
                              int dollar)
{
    struct param_copy pc;
    if (!plan_param_copy(r, j, suffix, value, dollar, &pc)) return FCS_OK;
    for (size_t i = 0; i < w->n_params; i++) {
        if (map[i] < 0 || (size_t)map[i] != j) continue;
        int rc = FCS_OK;
        if (pc.value) rc = put_renumbered(w, name, prefix_len, i, suffix, pc.value);
        if (rc == FCS_OK && pc.prov_sfx) {
            char kn[64];
            snprintf(kn, sizeof kn, "LIBFCS_P%zu%s", i + 1, pc.prov_sfx);
            rc = kw_put(w, kn, value);
        }
        if (rc) return rc;
    }
    return FCS_OK;
}

/* After the copy: "P<n>" for a parameter without $PnN, and a missing $PnR
 * from the reader's range (2^$PnB for integer data when that is 0 too). */
static int copy_param_defaults(fcs_writer *w, const fcs_reader *r, size_t i, size_t j)
{
    const fcs_param *p = fcs_param_info(r, j);
    char kn[64], num[64];
    int rc;
    if (!param_kw_get(w, i, "N")) {
        snprintf(kn, sizeof kn, "$P%zuN", i + 1);
        snprintf(num, sizeof num, "P%zu", i + 1);
        if ((rc = kw_put(w, kn, num))) return rc;
    }
    if (param_kw_get(w, i, "R") || !p) return FCS_OK;
    double range = p->range;
    if (!(range > 0) && p->datatype == 'I' && p->bits > 0 && p->bits < 64)
        range = ldexp(1.0, p->bits);
    if (!(range > 0)) return FCS_OK; /* fcs_writer_begin will say $PnR is missing */
    snprintf(kn, sizeof kn, "$P%zuR", i + 1);
    format_number(num, sizeof num, range);
    return kw_put(w, kn, num);
}

/* Copy one keyword of the reader's data set. */
static int copy_one(fcs_writer *w, const fcs_reader *r, const int *map, size_t n_in,
                    const char *name, const char *value)
{
    uint64_t n;
    const char *suffix;
    size_t pl;
    if (!*name) return FCS_OK;
    int dollar = param_keyword(name, "$P", &n, &suffix, &pl);
    if (dollar || param_keyword(name, "LIBFCS_P", &n, &suffix, &pl)) {
        if (n == 0 || n > n_in) return FCS_OK; /* names a parameter the input lacks */
        return copy_param_keyword(w, r, map, name, pl, (size_t)(n - 1), suffix, value, dollar);
    }
    if (is_structural(name)) return FCS_OK;
    if (check_name(w, name) != FCS_OK) return FCS_OK; /* unwritable name: see writer.h */
    return kw_put(w, name, value);
}

int fcs_writer_copy_keywords(fcs_writer *w, const fcs_reader *r, const int *param_map)
{
    if (!w || !r) return FCS_EINVAL;
    int rc = check_setup(w, "fcs_writer_copy_keywords");
    if (rc) return rc;
    size_t n_in = fcs_n_params(r);
    int *map = malloc(w->n_params * sizeof *map);
    if (!map) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    if (!param_map && n_in != w->n_params) {
        free(map);
        return werr(w, FCS_EINVAL, "%s: writer has %zu parameters, %s has %zu (give a param_map)",
                    w->disp, w->n_params, fcs_name(r), n_in);
    }
    for (size_t i = 0; i < w->n_params; i++) {
        map[i] = param_map ? param_map[i] : (int)i;
        if (map[i] >= 0 && (size_t)map[i] >= n_in) {
            int bad = map[i];
            free(map);
            return werr(w, FCS_ERANGE, "%s: param_map[%zu] = %d, but %s has %zu parameters",
                        w->disp, i, bad, fcs_name(r), n_in);
        }
    }
    size_t nk = fcs_n_keywords(r);
    for (size_t k = 0; k < nk && rc == FCS_OK; k++)
        rc = copy_one(w, r, map, n_in, fcs_keyword_name(r, k), fcs_keyword_value(r, k));
    for (size_t i = 0; i < w->n_params && rc == FCS_OK; i++)
        if (map[i] >= 0) rc = copy_param_defaults(w, r, i, (size_t)map[i]);
    free(map);
    return rc;
}

/* ---- HEADER and TEXT ------------------------------------------------------- */

int fcs_writer_format_header(char hdr[FCS_WRITER_HEADER_LEN], uint64_t text_begin,
                             uint64_t text_end, uint64_t data_begin, uint64_t data_end)
{
    if (text_begin > FCS_WRITER_HEADER_MAX || text_end > FCS_WRITER_HEADER_MAX) return -1;
    /* FCS 3.1 §3.1: a DATA segment beyond the 8-digit fields is announced
     * by 0/0 in the HEADER; readers then take $BEGINDATA/$ENDDATA. */
    if (data_begin > FCS_WRITER_HEADER_MAX || data_end > FCS_WRITER_HEADER_MAX)
        data_begin = data_end = 0;
    char tmp[FCS_WRITER_HEADER_LEN + 1];
    snprintf(tmp, sizeof tmp, "FCS3.1    %8" PRIu64 "%8" PRIu64 "%8" PRIu64 "%8" PRIu64 "%8d%8d",
             text_begin, text_end, data_begin, data_end, 0, 0);
    memcpy(hdr, tmp, FCS_WRITER_HEADER_LEN);
    return 0;
}

int fcs_writer_choose_delimiter(const char *const *names, const char *const *values, size_t n)
{
    /* present[c]: 1 = in a name or at the start of a value (unusable),
     *             2 = elsewhere in a value (usable with doubling). */
    unsigned char present[256] = {0};
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)names[i]; *p; p++) present[*p] = 1;
        const unsigned char *v = (const unsigned char *)values[i];
        if (*v) present[*v] = 1;
        for (; *v; v++)
            if (!present[*v]) present[*v] = 2;
    }
    /* Conventional choices first ('/' is what most instruments write), then
     * the form feed some vendors use, then any other byte FCS allows (1-126). */
    static const char preferred[] = "/|\\!~^#%&*;:@\f";
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: a byte found nowhere; pass 1: one found only inside values */
        for (const char *c = preferred; *c; c++) {
            int st = present[(unsigned char)*c];
            if (pass == 0 ? st == 0 : st != 1) return (unsigned char)*c;
        }
        for (int c = 1; c <= 126; c++) {
            /* never blanks or number characters: structural values use them */
            if (c == ' ' || (c >= '0' && c <= '9') || c == ',' || c == '.' || c == '-') continue;
            if (pass == 0 ? present[c] == 0 : present[c] != 1) return c;
        }
    }
    return -1;
}

/* A growable byte string for rendering the TEXT. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int sb_reserve(struct sbuf *s, size_t extra)
{
    uint64_t need;
    if (fcs_add_ok(s->len, extra, &need)) return -1;
    if (need <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < need) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) return -1;
    s->p = p;
    s->cap = cap;
    return 0;
}

/* Append text with every delimiter doubled (FCS 3.1 §3.2.7). */
static int sb_escaped(struct sbuf *s, const char *text, char delim)
{
    size_t n = strlen(text);
    if (sb_reserve(s, 2 * n + 1)) return -1;
    for (const char *t = text; *t; t++) {
        s->p[s->len++] = *t;
        if (*t == delim) s->p[s->len++] = delim;
    }
    return 0;
}

/* The full keyword list of the TEXT: structural ones first, then $PnB/$PnE,
 * then the caller's keywords in the order they were set. */
struct textkw {
    size_t n;
    const char **names, **values;
    char *pool; /* storage of the generated names and values */
};

enum { SLOT_BEGINDATA = 4, SLOT_ENDDATA = 5, N_FIXED = 12 };

/* Print into the pool; returns the string (pool has room by construction). */
static const char *pool_add(char **pool, const char *fmt, ...) FCS_PRINTF(2, 3);
static const char *pool_add(char **pool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = *pool;
    int n = vsnprintf(s, 32, fmt, ap);
    va_end(ap);
    *pool += (n > 0 ? n : 0) + 1;
    return s;
}

static int textkw_build(fcs_writer *w, int64_t n_events, struct textkw *t)
{
    static const char *const fixed[N_FIXED] = {
        "$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINDATA", "$ENDDATA",
        "$BYTEORD",       "$DATATYPE",    "$MODE",       "$NEXTDATA", "$PAR",       "$TOT"};
    memset(t, 0, sizeof *t);
    size_t n = N_FIXED + 2 * w->n_params + w->n_kw;
    t->names = calloc(n, sizeof *t->names);
    t->values = calloc(n, sizeof *t->values);
    /* Each pool entry takes at most 32 bytes: $PAR, $TOT, then per parameter
     * the names $PnB and $PnE and the value of $PnB. */
    t->pool = malloc((2 + 3 * w->n_params) * 32);
    if (!t->names || !t->values || !t->pool) return -1;
    char *pool = t->pool;
    for (size_t i = 0; i < N_FIXED; i++) {
        t->names[i] = fixed[i];
        t->values[i] = "0";
    }
    t->values[6] = w->o.big_endian ? "4,3,2,1" : "1,2,3,4";
    t->values[7] = w->o.datatype == 'F' ? "F" : w->o.datatype == 'D' ? "D" : "I";
    t->values[8] = "L";
    t->values[10] = pool_add(&pool, "%zu", w->n_params);
    t->values[11] = pool_add(&pool, "%" PRId64, n_events);
    size_t k = N_FIXED;
    for (size_t i = 0; i < w->n_params; i++) {
        t->names[k] = pool_add(&pool, "$P%zuB", i + 1);
        t->values[k++] = pool_add(&pool, "%d", w->width * 8);
        t->names[k] = pool_add(&pool, "$P%zuE", i + 1);
        t->values[k++] = "0,0";
    }
    for (size_t i = 0; i < w->n_kw; i++) {
        t->names[k] = w->kw[i].name;
        /* FCS forbids empty values: "" is written as one blank. */
        t->values[k++] = *w->kw[i].value ? w->kw[i].value : " ";
    }
    t->n = k;
    return 0;
}

static void textkw_free(struct textkw *t)
{
    free(t->names);
    free(t->values);
    free(t->pool);
}

static int render_text(const struct textkw *t, char delim, struct sbuf *s)
{
    s->len = 0;
    if (sb_reserve(s, 1)) return -1;
    s->p[s->len++] = delim;
    for (size_t i = 0; i < t->n; i++) {
        if (sb_escaped(s, t->names[i], delim) || sb_reserve(s, 1)) return -1;
        s->p[s->len++] = delim;
        if (sb_escaped(s, t->values[i], delim) || sb_reserve(s, 1)) return -1;
        s->p[s->len++] = delim;
    }
    return 0;
}

/* DATA size in bytes for n_events, or -1 on overflow. */
static int data_size(const fcs_writer *w, int64_t n_events, uint64_t *bytes)
{
    uint64_t v;
    if (fcs_mul_ok((uint64_t)n_events, w->n_params, &v) || fcs_mul_ok(v, (uint64_t)w->width, &v))
        return -1;
    *bytes = v;
    return 0;
}

/* Render TEXT until the $BEGINDATA/$ENDDATA it contains agree with its own
 * length (their digits change the length; converges in a few rounds). */
static int render_stable(fcs_writer *w, struct textkw *t, char delim, uint64_t bytes,
                         struct sbuf *s, uint64_t *begin, uint64_t *end)
{
    char bd[24] = "0", ed[24] = "0";
    t->values[SLOT_BEGINDATA] = bd;
    t->values[SLOT_ENDDATA] = ed;
    for (int round = 0; round < 8; round++) {
        if (render_text(t, delim, s)) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
        uint64_t b = FCS_WRITER_HEADER_LEN + (uint64_t)s->len, e = 0;
        /* An empty DATA segment is "absent": offsets 0/0 (FCS 3.1 §3.1). */
        if (bytes == 0) b = 0;
        else if (fcs_add_ok(b, bytes - 1, &e))
            return werr(w, FCS_ERANGE, "%s: DATA segment too large", w->disp);
        char nb[24], ne[24];
        snprintf(nb, sizeof nb, "%" PRIu64, b);
        snprintf(ne, sizeof ne, "%" PRIu64, e);
        if (strcmp(nb, bd) == 0 && strcmp(ne, ed) == 0) {
            *begin = b;
            *end = e;
            return FCS_OK;
        }
        memcpy(bd, nb, sizeof bd);
        memcpy(ed, ne, sizeof ed);
    }
    return werr(w, FCS_EIO, "%s: internal error: TEXT offsets did not converge", w->disp);
}

int fcs_writer_render_head(fcs_writer *w, int64_t n_events, char **out, size_t *len,
                           uint64_t *data_begin, uint64_t *data_end)
{
    *out = NULL;
    uint64_t bytes;
    if (n_events < 0 || data_size(w, n_events, &bytes))
        return werr(w, FCS_ERANGE, "%s: %" PRId64 " events of %zu parameters: DATA too large",
                    w->disp, n_events, w->n_params);
    struct textkw t;
    if (textkw_build(w, n_events, &t)) {
        textkw_free(&t);
        return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    }
    int delim = fcs_writer_choose_delimiter(t.names, t.values, t.n);
    if (delim < 0) {
        textkw_free(&t);
        return werr(w, FCS_EINVAL, "%s: no TEXT delimiter possible: every byte is used", w->disp);
    }
    struct sbuf s = {0};
    uint64_t b = 0, e = 0;
    int rc = render_stable(w, &t, (char)delim, bytes, &s, &b, &e);
    textkw_free(&t);
    if (rc) {
        free(s.p);
        return rc;
    }
    char *head = malloc(FCS_WRITER_HEADER_LEN + s.len);
    if (!head) {
        free(s.p);
        return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    }
    uint64_t text_end = FCS_WRITER_HEADER_LEN + (uint64_t)s.len - 1;
    if (fcs_writer_format_header(head, FCS_WRITER_HEADER_LEN, text_end, b, e) != 0) {
        free(s.p);
        free(head);
        return werr(w, FCS_ERANGE, "%s: TEXT segment of %zu bytes ends past byte 99,999,999",
                    w->disp, s.len);
    }
    memcpy(head + FCS_WRITER_HEADER_LEN, s.p, s.len);
    *len = FCS_WRITER_HEADER_LEN + s.len;
    free(s.p);
    *out = head;
    if (data_begin) *data_begin = b;
    if (data_end) *data_end = e;
    return FCS_OK;
}

/* ---- begin ----------------------------------------------------------------- */

static int cmp_name_ptr(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(*x, *y);
    return c ? c : (*x < *y ? -1 : *x > *y); /* equal names: stable by address */
}

/* Index (0-based) of the parameter whose $PnN is exactly name; first match. */
static size_t param_named(fcs_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_params; i++)
        if (strcmp(param_kw_get(w, i, "N"), name) == 0) return i;
    return 0;
}

/* Every parameter needs a unique $PnN and a positive $PnR (FCS 3.1 §3.2.18). */
static int check_params(fcs_writer *w)
{
    const char **names = malloc(w->n_params * sizeof *names);
    if (!names) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    int rc = FCS_OK;
    for (size_t i = 0; i < w->n_params && rc == FCS_OK; i++) {
        const char *name = param_kw_get(w, i, "N");
        const char *rs = param_kw_get(w, i, "R");
        double range;
        if (!name || !*name)
            rc = werr(w, FCS_EINVAL, "%s: parameter %zu has no $P%zuN (fcs_writer_set_param)",
                      w->disp, i + 1, i + 1);
        else if (!rs || fcs_parse_double(rs, &range) != 0 || !(range > 0))
            rc = werr(w, FCS_EINVAL, "%s: parameter %zu ('%s') needs $P%zuR > 0, has '%s'",
                      w->disp, i + 1, name, i + 1, rs ? rs : "(none)");
        names[i] = name;
    }
    if (rc == FCS_OK) {
        /* Duplicates are neighbours once sorted: O(n log n) for big panels. */
        qsort(names, w->n_params, sizeof *names, cmp_name_ptr);
        for (size_t i = 1; i < w->n_params && rc == FCS_OK; i++) {
            if (strcmp(names[i - 1], names[i]) != 0) continue;
            size_t a = param_named(w, names[i]), b = a + 1;
            while (strcmp(param_kw_get(w, b, "N"), names[i]) != 0) b++;
            rc = werr(w, FCS_EINVAL, "%s: $P%zuN and $P%zuN are both '%s'", w->disp, a + 1, b + 1,
                      names[i]);
        }
    }
    free(names);
    return rc;
}

/* 'I': values are clamped to [0, min($PnR, 2^bits) - 1]. */
static int setup_int_limits(fcs_writer *w)
{
    w->imax = malloc(w->n_params * sizeof *w->imax);
    if (!w->imax) return werr(w, FCS_ENOMEM, "%s: out of memory", w->disp);
    /* 2^64 - 1 is not a double: the largest double below 2^64 stands in. */
    double lim = w->o.int_bits == 64 ? 18446744073709549568.0 : ldexp(1.0, w->o.int_bits) - 1;
    for (size_t i = 0; i < w->n_params; i++) {
        double range = 0;
        fcs_parse_double(param_kw_get(w, i, "R"), &range); /* checked by check_params */
        double m = range >= 1 ? floor(range) - 1 : 0;
        w->imax[i] = m < lim ? m : lim;
    }
    return FCS_OK;
}

/* Unlinked temporary file for DATA of unknown length: O_TMPFILE in the output
 * folder (same disk as the result), else in $TMPDIR or /tmp. */
static int open_spill(fcs_writer *w)
{
    char dir[4096];
    const char *dirs[3];
    size_t nd = 0;
    if (w->path) {
        const char *slash = strrchr(w->path, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == w->path) snprintf(dir, sizeof dir, "/");
        else snprintf(dir, sizeof dir, "%.*s", (int)(slash - w->path), w->path);
        dirs[nd++] = dir;
    }
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir && *tmpdir) dirs[nd++] = tmpdir;
    dirs[nd++] = "/tmp";
    int e = 0;
    for (size_t i = 0; i < nd; i++) {
#ifdef O_TMPFILE
        w->spill_fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (w->spill_fd >= 0) return FCS_OK;
#endif
        char tpl[4200];
        snprintf(tpl, sizeof tpl, "%s/.libfcs-spill-XXXXXX", dirs[i]);
        w->spill_fd = mkostemp(tpl, O_CLOEXEC);
        if (w->spill_fd >= 0) {
            unlink(tpl);
            return FCS_OK;
        }
        e = errno;
    }
    char eb[128];
    return werr(w, FCS_EIO, "%s: cannot create a temporary file for the events: %s", w->disp,
                errno_text(e, eb, sizeof eb));
}

int fcs_writer_begin(fcs_writer *w, int64_t n_events)
{
    if (!w) return FCS_EINVAL;
    int rc = check_setup(w, "fcs_writer_begin");
    if (rc) return rc;
    if (n_events < -1)
        return werr(w, FCS_EINVAL, "%s: event count %" PRId64 " (use -1 for unknown)", w->disp,
                    n_events);
    if ((rc = check_params(w))) return rc;
    if (w->o.datatype == 'I' && (rc = setup_int_limits(w))) return rc;
    w->state = W_DATA;
    w->announced = n_events;
    if (n_events < 0) return open_spill(w);
    char *head;
    size_t len;
    if ((rc = fcs_writer_render_head(w, n_events, &head, &len, NULL, NULL))) return rc;
    rc = write_all(w, w->fd, head, len, "write");
    free(head);
    if (rc == FCS_OK) w->out_bytes = w->head_len = len;
    return rc;
}

/* ---- DATA ------------------------------------------------------------------ */

static void swap_values(unsigned char *p, size_t count, int width)
{
    for (size_t i = 0; i < count; i++, p += width) {
        if (width == 2) {
            uint16_t v;
            memcpy(&v, p, 2);
            v = __builtin_bswap16(v);
            memcpy(p, &v, 2);
        } else if (width == 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = __builtin_bswap32(v);
            memcpy(p, &v, 4);
        } else if (width == 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            v = __builtin_bswap64(v);
            memcpy(p, &v, 8);
        }
    }
}

static uint64_t to_uint(double v, double max)
{
    if (!(v > 0)) return 0; /* negative and NaN */
    if (v >= max) return (uint64_t)max;
    /* round(), not floor(v + 0.5): the addition itself rounds above 2^52
     * and just below 0.5. Halves go away from zero. */
    return (uint64_t)round(v);
}

static void put_int(unsigned char *dst, uint64_t u, int width)
{
    switch (width) {
    case 1: *dst = (unsigned char)u; break;
    case 2: { uint16_t v = (uint16_t)u; memcpy(dst, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)u; memcpy(dst, &v, 4); break; }
    default: memcpy(dst, &u, 8); break;
    }
}

/* Encode count values (the first being parameter j0) in host byte order. */
static void encode_d(const fcs_writer *w, unsigned char *dst, const double *src, size_t count,
                     size_t j0)
{
    if (w->o.datatype == 'F') {
        for (size_t i = 0; i < count; i++) {
            float f = (float)src[i];
            memcpy(dst + 4 * i, &f, 4);
        }
    } else if (w->o.datatype == 'D') {
        memcpy(dst, src, count * 8);
    } else {
        size_t j = j0;
        for (size_t i = 0; i < count; i++) {
            put_int(dst + (size_t)w->width * i, to_uint(src[i], w->imax[j]), w->width);
            if (++j == w->n_params) j = 0;
        }
    }
}

static void encode_f(const fcs_writer *w, unsigned char *dst, const float *src, size_t count,
                     size_t j0)
{
    if (w->o.datatype == 'F') {
        memcpy(dst, src, count * 4);
    } else if (w->o.datatype == 'D') {
        for (size_t i = 0; i < count; i++) {
            double d = src[i];
            memcpy(dst + 8 * i, &d, 8);
        }
    } else {
        size_t j = j0;
        for (size_t i = 0; i < count; i++) {
            put_int(dst + (size_t)w->width * i, to_uint(src[i], w->imax[j]), w->width);
            if (++j == w->n_params) j = 0;
        }
    }
}

static int flush_buf(fcs_writer *w)
{
    if (w->buf_len == 0) return FCS_OK;
    int spill = w->spill_fd >= 0;
    int rc = write_all(w, spill ? w->spill_fd : w->fd, w->buf, w->buf_len,
                       spill ? "write to temporary file" : "write");
    if (rc == FCS_OK && !spill) w->out_bytes += w->buf_len;
    w->buf_len = 0;
    return rc;
}

/* Accept n events of either type (d, else f; both may be NULL when n == 0). */
static int write_events(fcs_writer *w, const double *d, const float *f, size_t n)
{
    if (w->state == W_FAILED) return w->status;
    if (w->state != W_DATA)
        return werr(w, FCS_EINVAL, "%s: events written before fcs_writer_begin", w->disp);
    uint64_t total, after;
    if (fcs_mul_ok(n, w->n_params, &total) || fcs_add_ok(w->written, n, &after) ||
        after > INT64_MAX)
        return werr(w, FCS_ERANGE, "%s: too many events", w->disp);
    if (w->announced >= 0 && after > (uint64_t)w->announced)
        return werr(w, FCS_ERANGE, "%s: %" PRIu64 " events written, only %" PRId64 " announced",
                    w->disp, after, w->announced);
    size_t per_buf = WBUF_SIZE / (size_t)w->width;
    uint64_t done = 0;
    while (done < total) {
        size_t room = per_buf - w->buf_len / (size_t)w->width;
        size_t count = total - done < room ? (size_t)(total - done) : room;
        unsigned char *dst = w->buf + w->buf_len;
        size_t j0 = (size_t)(done % w->n_params);
        if (d) encode_d(w, dst, d + done, count, j0);
        else encode_f(w, dst, f + done, count, j0);
        if (w->swap) swap_values(dst, count, w->width);
        w->buf_len += count * (size_t)w->width;
        done += count;
        if (w->buf_len == WBUF_SIZE) {
            int rc = flush_buf(w);
            if (rc) return rc;
        }
    }
    w->written = after;
    return FCS_OK;
}

int fcs_writer_write(fcs_writer *w, const double *events, size_t n)
{
    if (!w || (!events && n)) return FCS_EINVAL;
    return write_events(w, events, NULL, n);
}

int fcs_writer_write_f32(fcs_writer *w, const float *events, size_t n)
{
    if (!w || (!events && n)) return FCS_EINVAL;
    return write_events(w, NULL, events, n);
}

/* ---- close ------------------------------------------------------------------ */

/* Copy the spilled DATA behind the TEXT: sendfile(2), else read/write. */
static int copy_spill(fcs_writer *w, uint64_t bytes)
{
    off_t off = 0;
    uint64_t left = bytes;
    while (left > 0) {
        size_t chunk = left > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)left;
        ssize_t k = sendfile(w->fd, w->spill_fd, &off, chunk);
        if (k > 0) {
            left -= (uint64_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EINVAL || errno == ENOSYS) && off == 0) break; /* fall back */
        if (k == 0) return werr_io(w, EIO, "copy from temporary file (it shrank)");
        int e = errno;
        werr_io(w, e, "write");
        errno = e;
        return w->status;
    }
    if (lseek(w->spill_fd, off, SEEK_SET) < 0) return werr_io(w, errno, "seek in temporary file");
    while (left > 0) {
        size_t chunk = left < WBUF_SIZE ? (size_t)left : WBUF_SIZE;
        ssize_t k = read(w->spill_fd, w->buf, chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return werr_io(w, k < 0 ? errno : EIO, "read of temporary file");
        int rc = write_all(w, w->fd, w->buf, (size_t)k, "write");
        if (rc) return rc;
        left -= (uint64_t)k;
    }
    return FCS_OK;
}

/* Unknown event count: HEADER + TEXT now that $TOT is known, then the DATA. */
static int assemble(fcs_writer *w)
{
    char *head;
    size_t len;
    uint64_t bytes = 0;
    int rc = fcs_writer_render_head(w, (int64_t)w->written, &head, &len, NULL, NULL);
    if (rc) return rc;
    rc = write_all(w, w->fd, head, len, "write");
    free(head);
    if (rc) return rc;
    data_size(w, (int64_t)w->written, &bytes); /* no overflow: render_head checked it */
    if ((rc = copy_spill(w, bytes))) return rc;
    w->head_len = len;
    w->out_bytes = len + bytes;
    return FCS_OK;
}

/* Make the file durable and move it into place; then the folder entry. */
static int commit(fcs_writer *w)
{
    if (fsync(w->fd) != 0) return werr_io(w, errno, "fsync");
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) return werr_io(w, errno, "close");
    if (rename(w->tmp_path, w->path) != 0) return werr_io(w, errno, "rename into place");
    free(w->tmp_path);
    w->tmp_path = NULL;
    /* Best effort: the rename is already visible; some file systems cannot
     * fsync a directory (EINVAL), which loses nothing written above. */
    char dir[4096];
    const char *slash = strrchr(w->path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == w->path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - w->path), w->path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return FCS_OK;
}

static int finish(fcs_writer *w)
{
    if (w->state == W_FAILED) return w->status;
    if (w->state == W_SETUP)
        return werr(w, FCS_EINVAL, "%s: fcs_writer_close before fcs_writer_begin", w->disp);
    int rc = flush_buf(w);
    if (rc) return rc;
    if (w->announced >= 0 && w->written != (uint64_t)w->announced)
        return werr(w, FCS_ERANGE, "%s: %" PRIu64 " events written, %" PRId64 " announced",
                    w->disp, w->written, w->announced);
    if (w->announced < 0 && (rc = assemble(w))) return rc;
    /* Guard against a bug here producing a file whose offsets lie. */
    uint64_t bytes = 0;
    data_size(w, (int64_t)w->written, &bytes);
    if (w->out_bytes != w->head_len + bytes)
        return werr(w, FCS_EIO, "%s: internal error: %" PRIu64 " bytes written, %" PRIu64
                    " expected", w->disp, w->out_bytes, w->head_len + bytes);
    /* FCS 3.1 §3.4: the CRC field follows the last segment; "00000000" =
     * not computed. */
    if ((rc = write_all(w, w->fd, "00000000", 8, "write"))) return rc;
    w->out_bytes += 8;
    return w->path ? commit(w) : FCS_OK;
}

int fcs_writer_close(fcs_writer *w, fcs_error *err)
{
    fcs_error_clear(err);
    if (!w) return fcs_error_set(err, FCS_EINVAL, "writer: NULL writer");
    int rc = finish(w);
    if (rc != FCS_OK) {
        int e = w->sys_errno;
        fcs_error_set(err, rc, "%s", w->msg);
        writer_discard(w);
        if (e) errno = e; /* EPIPE stays visible to the caller */
        return rc;
    }
    /* A path's fd was closed by commit; stdout stays open: the caller owns it. */
    writer_free(w);
    return FCS_OK;
}
