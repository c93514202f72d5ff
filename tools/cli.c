/*
 * cli.c — the shared option/usage/error/output helper of the libfcs tools.
 * See cli.h for the contract of each function.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The running tool. Programs have one; set once by fcs_cli_init. */
static struct {
    const fcs_cli_tool *tool;
    char **argv;
    char *command_line;
    char version[128];
    int broken_pipe;
} cli;

static const fcs_cli_tool cli_unnamed = {"fcs-tool", "", NULL};

/* ---- start-up ---------------------------------------------------------------- */

/* Shell-style quoting for LIBFCS_COMMAND: only when the argument needs it. */
static int needs_quotes(const char *a)
{
    if (!*a) return 1;
    for (; *a; a++)
        if (strchr(" \t\n'\"\\$`*?[]{}()<>|&;~#!", *a)) return 1;
    return 0;
}

static size_t quoted_len(const char *a)
{
    size_t n = 2;
    for (; *a; a++) n += (*a == '\'') ? 4 : 1;
    return n;
}

static char *quote_into(char *p, const char *a)
{
    *p++ = '\'';
    for (; *a; a++) {
        if (*a == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else {
            *p++ = *a;
        }
    }
    *p++ = '\'';
    return p;
}

static char *join_command_line(int argc, char **argv)
{
    /* argv[0] may be a build path or a link: provenance names the tool. */
#define CLI_ARG(i) ((i) == 0 ? cli.tool->name : argv[i])
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += quoted_len(CLI_ARG(i)) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < argc; i++) {
        if (i) *p++ = ' ';
        const char *a = CLI_ARG(i);
        if (needs_quotes(a)) {
            p = quote_into(p, a);
        } else {
            size_t n = strlen(a);
            memcpy(p, a, n);
            p += n;
        }
    }
    *p = '\0';
    return s;
#undef CLI_ARG
}

void fcs_cli_init(const fcs_cli_tool *tool, int argc, char **argv)
{
    cli.tool = tool ? tool : &cli_unnamed;
    cli.argv = argv;
    /* Numbers in FCS TEXT and in our tables use '.'; never take the user's
     * LC_NUMERIC (a German locale would make strtod stop at "1.5"). */
    setlocale(LC_NUMERIC, "C");
    /* A closed pipe must come back as EPIPE, not kill us silently halfway
     * through a temporary file. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(cli.version, sizeof cli.version, "%s %s", cli.tool->name, fcs_lib_version());
    free(cli.command_line);
    cli.command_line = join_command_line(argc, argv);
}

const char *fcs_cli_name(void) { return cli.tool ? cli.tool->name : cli_unnamed.name; }
const char *fcs_cli_tool_version(void) { return cli.version; }
const char *fcs_cli_command_line(void) { return cli.command_line ? cli.command_line : ""; }

int fcs_cli_help(void)
{
    printf("Usage: %s %s\n", fcs_cli_name(), cli.tool ? cli.tool->synopsis : "");
    if (cli.tool && cli.tool->options) fputs(cli.tool->options, stdout);
    return FCS_CLI_EXIT_OK;
}

int fcs_cli_version(void)
{
    printf("%s\n", cli.version);
    printf("libfcs %s\n", fcs_lib_version());
    printf("zlib %s\n", fcs_zlib_version());
    printf("HDF5 %s\n", fcs_hdf5_version());
    return FCS_CLI_EXIT_OK;
}

int fcs_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", fcs_cli_name());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nUsage: %s %s\nTry '%s --help' for more information.\n", fcs_cli_name(),
            cli.tool ? cli.tool->synopsis : "", fcs_cli_name());
    return FCS_CLI_EXIT_USAGE;
}

/* The argument getopt just refused: argv[optind-1] unless optopt names a
 * short option inside a cluster. */
static const char *offending_arg(char *buf, size_t n)
{
    const char *last = (cli.argv && optind > 0) ? cli.argv[optind - 1] : "?";
    if (optopt > 0 && optopt < 0x100 && !(last[0] == '-' && last[1] == '-')) {
        snprintf(buf, n, "-%c", optopt);
        return buf;
    }
    return last;
}

int fcs_cli_common_option(int c)
{
    char buf[8];
    switch (c) {
    case 'h': return fcs_cli_help();
    case FCS_CLI_OPT_VERSION: return fcs_cli_version();
    case ':': return fcs_cli_usage_error("option '%s' needs an argument", offending_arg(buf, sizeof buf));
    case '?': return fcs_cli_usage_error("unknown option '%s'", offending_arg(buf, sizeof buf));
    default: return fcs_cli_usage_error("option not handled (code %d)", c);
    }
}

int fcs_cli_io_option(int c, const char *arg, fcs_cli_io *io, int *rc)
{
    *rc = 0;
    switch (c) {
    case 'd': *rc = fcs_cli_parse_int(arg, "-d", 0, INT32_MAX, &io->dataset); return 1;
    case FCS_CLI_OPT_STRICT: io->strict = 1; return 1;
    case FCS_CLI_OPT_NO_VERSION: io->no_version = 1; return 1;
    case 'o': io->output = arg; return 1;
    default: return 0;
    }
}

/* ---- errors ------------------------------------------------------------------- */

const char *fcs_cli_input_name(const char *path)
{
    return (!path || strcmp(path, "-") == 0) ? "<stdin>" : path;
}

static void vmessage(const char *file, const char *kind, const char *fmt, va_list ap)
{
    if (file && strcmp(file, "-") == 0) file = "<stdin>";
    /* Build the line first so that it reaches stderr in one write, not
     * interleaved with another tool's message in the same pipeline. */
    char line[2048];
    int n = snprintf(line, sizeof line, "%s: ", fcs_cli_name());
    if (file && n < (int)sizeof line) n += snprintf(line + n, sizeof line - n, "%s: ", file);
    if (kind && n < (int)sizeof line) n += snprintf(line + n, sizeof line - n, "%s", kind);
    if (n < (int)sizeof line) vsnprintf(line + n, sizeof line - n, fmt, ap);
    /* One line: a message never carries a newline of its own. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fprintf(stderr, "%s\n", line);
}

int fcs_cli_error(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(file, NULL, fmt, ap);
    va_end(ap);
    return FCS_CLI_EXIT_INPUT;
}

void fcs_cli_warn(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(file, "warning: ", fmt, ap);
    va_end(ap);
}

void fcs_cli_report_warnings(const char *file, const fcs_reader *r)
{
    for (size_t i = 0; i < fcs_n_warnings(r); i++) fcs_cli_warn(file, "%s", fcs_warning(r, i));
}

/* Length of a "NAME: " prefix of msg that repeats file, or 0. */
static size_t repeated_prefix(const char *file, const char *msg)
{
    const char *names[2] = {file, fcs_cli_input_name(file)};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if (n && strncmp(msg, names[i], n) == 0 && msg[n] == ':') {
            n++;
            while (msg[n] == ' ') n++;
            return n;
        }
    }
    return 0;
}

int fcs_cli_error_lib(const char *file, const char *libmsg)
{
    if (!libmsg || !*libmsg) libmsg = "unknown error";
    return fcs_cli_error(file, "%s", libmsg + repeated_prefix(file, libmsg));
}

/* ---- standard output ----------------------------------------------------------- */

/* A pipe whose reader has gone reports POLLERR to the writer (Linux, BSD);
 * errno may be stale by the time a stdio error is noticed, poll is not. */
static int fd_reader_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP))) return 1;
    return 0;
}

int fcs_cli_write_failed(FILE *f)
{
    if (!ferror(f)) return 0;
    if (errno == EPIPE || fd_reader_gone(fileno(f))) cli.broken_pipe = 1;
    return 1;
}

int fcs_cli_broken_pipe(void)
{
    if (!cli.broken_pipe && fd_reader_gone(STDOUT_FILENO)) cli.broken_pipe = 1;
    return cli.broken_pipe;
}

void fcs_cli_set_broken_pipe(void) { cli.broken_pipe = 1; }

int fcs_cli_finish(int rc)
{
    errno = 0;
    int failed = fflush(stdout) != 0 || ferror(stdout);
    int saved = errno;
    /* An earlier write may have failed on a closed pipe with errno since
     * overwritten; ask the descriptor before it is closed. */
    if (failed && (saved == EPIPE || fd_reader_gone(STDOUT_FILENO))) cli.broken_pipe = 1;
    if (fclose(stdout) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (saved == EPIPE) cli.broken_pipe = 1;
    if (cli.broken_pipe) return rc; /* downstream stopped reading: not our failure */
    if (failed) {
        fcs_cli_error("<stdout>", "write error: %s", saved ? strerror(saved) : "I/O error");
        return rc ? rc : FCS_CLI_EXIT_INPUT;
    }
    return rc;
}

int fcs_cli_is_stdout(const char *path) { return !path || strcmp(path, "-") == 0; }

int fcs_cli_refuse_tty(const char *path)
{
    if (fcs_cli_is_stdout(path) && isatty(STDOUT_FILENO)) {
        fcs_cli_error(NULL, "refusing to write binary FCS to a terminal; "
                            "redirect the output, pipe it into another tool or use -o FILE");
        return FCS_CLI_EXIT_USAGE;
    }
    return 0;
}

/* ---- temporary outputs removed on SIGINT/SIGTERM/SIGHUP -------------------- */

#define CLI_GUARDS 8
static char cli_guard_paths[CLI_GUARDS][PATH_MAX];
static volatile sig_atomic_t cli_n_guards;

static void guard_handler(int sig)
{
    /* Only async-signal-safe calls here: unlink, signal, raise. */
    for (int i = 0; i < cli_n_guards; i++) unlink(cli_guard_paths[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void fcs_cli_guard_output(const char *path)
{
    if (fcs_cli_check_output(path)) {
        /* No way to return the refusal: end here, before anything is written
         * (the temporaries of earlier outputs go too). */
        for (int i = 0; i < cli_n_guards; i++) unlink(cli_guard_paths[i]);
        fflush(stdout);
        exit(FCS_CLI_EXIT_INPUT);
    }
    if (fcs_cli_is_stdout(path) || cli_n_guards >= CLI_GUARDS) return;
    int n = snprintf(cli_guard_paths[cli_n_guards], PATH_MAX, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= PATH_MAX) return;
    if (cli_n_guards == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = guard_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
    }
    cli_n_guards++;
}

/* ---- outputs must not be inputs ------------------------------------------------ */

/* The inputs noted so far, by device and inode (growing array; a program
 * has one such list, like its command line). */
struct cli_input {
    dev_t dev;
    ino_t ino;
    char *name;
};
static struct {
    struct cli_input *v;
    size_t n, cap;
} cli_inputs;

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The name of the noted input that is the file st, or NULL. */
static const char *noted_input(const struct stat *st)
{
    for (size_t i = 0; i < cli_inputs.n; i++)
        if (cli_inputs.v[i].dev == st->st_dev && cli_inputs.v[i].ino == st->st_ino)
            return cli_inputs.v[i].name ? cli_inputs.v[i].name : "(a file given)";
    return NULL;
}

void fcs_cli_note_input(const char *path)
{
    struct stat st;
    int is_stdin = fcs_cli_is_stdout(path); /* "-" (or NULL) for an input is stdin */
    if ((is_stdin ? fstat(STDIN_FILENO, &st) : stat(path, &st)) != 0) return;
    if (!S_ISREG(st.st_mode)) return; /* a pipe or terminal: no output can replace it */
    if (noted_input(&st)) return;
    if (cli_inputs.n == cli_inputs.cap) {
        size_t cap = cli_inputs.cap ? 2 * cli_inputs.cap : 8;
        struct cli_input *v = realloc(cli_inputs.v, cap * sizeof *v);
        if (!v) return; /* then only the open-descriptor check protects it */
        cli_inputs.v = v;
        cli_inputs.cap = cap;
    }
    struct cli_input *in = &cli_inputs.v[cli_inputs.n++];
    in->dev = st.st_dev;
    in->ino = st.st_ino;
    in->name = strdup(fcs_cli_input_name(path));
}

/* Whether descriptor fd is open for reading on the file out; its name in
 * buf ("<stdin>" for 0, else the path the kernel has for it). */
static int fd_reads(int fd, const struct stat *out, char *buf, size_t n)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !same_file(&st, out)) return 0;
    if (fd == STDIN_FILENO) {
        snprintf(buf, n, "<stdin>");
        return 1;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, buf, n - 1);
    if (k <= 0) snprintf(buf, n, "(open on descriptor %d)", fd);
    else buf[k] = '\0';
    return 1;
}

/* An input the tool opened without noting it (a reader of another tool):
 * any descriptor open for reading on the file. /proc/self/fd lists them on
 * Linux; elsewhere the first 1024 descriptors are asked. */
static int open_input_named(const struct stat *out, char *buf, size_t n)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 0; fd < 1024; fd++)
            if (fd_reads(fd, out, buf, n)) return 1;
        return 0;
    }
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || fd == dirfd(d) || fd < 0 || fd > INT_MAX) continue;
        found = fd_reads((int)fd, out, buf, n);
    }
    closedir(d);
    return found;
}

int fcs_cli_check_output(const char *path)
{
    struct stat out;
    char buf[PATH_MAX];
    if (fcs_cli_is_stdout(path) || stat(path, &out) != 0 || !S_ISREG(out.st_mode)) return 0;
    const char *in = noted_input(&out);
    if (!in && open_input_named(&out, buf, sizeof buf)) in = buf;
    if (!in) return 0;
    return fcs_cli_error(path, "output is the same file as input %s; nothing written", in);
}

/* ---- inputs -------------------------------------------------------------------- */

int fcs_cli_open(fcs_reader **r, const char *path, const fcs_read_opts *ro)
{
    fcs_read_opts def;
    fcs_error err;
    if (!ro) {
        fcs_read_opts_init(&def);
        ro = &def;
    }
    fcs_cli_note_input(path);
    *r = NULL;
    if (fcs_open(r, path, ro, &err) != FCS_OK) return fcs_cli_error_lib(path, err.msg);
    return 0;
}

int fcs_cli_open_dataset(fcs_reader **r, const char *path, const fcs_read_opts *ro,
                         int64_t dataset)
{
    if (fcs_cli_open(r, path, ro)) return FCS_CLI_EXIT_INPUT;
    size_t n = fcs_n_datasets(*r);
    if (dataset < 0 || (uint64_t)dataset >= n)
        fcs_cli_error(path, "no data set %" PRId64 " (the file has %zu, numbered from 0)", dataset,
                      n);
    else if (fcs_select_dataset(*r, (size_t)dataset) != FCS_OK)
        fcs_cli_error_lib(path, fcs_errmsg(*r));
    else if (fcs_n_events(*r) < 0)
        fcs_cli_error(path, "event count %" PRId64 " out of range", fcs_n_events(*r));
    else
        return 0;
    fcs_close(*r);
    *r = NULL;
    return FCS_CLI_EXIT_INPUT;
}

int fcs_cli_io_open(fcs_reader **r, const char *path, const fcs_cli_io *io)
{
    fcs_read_opts ro;
    fcs_read_opts_init(&ro);
    ro.strict = io->strict;
    return fcs_cli_open_dataset(r, path, &ro, io->dataset);
}

int fcs_cli_read_file(const char *path, size_t max, char **text, size_t *len)
{
    int is_stdin = strcmp(path, "-") == 0;
    fcs_cli_note_input(path);
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fcs_cli_error(path, "cannot open: %s", strerror(errno));
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? 0 : fcs_cli_error(NULL, "out of memory");
    while (!rc) {
        if (n == cap) {
            if (cap >= max) {
                rc = fcs_cli_error(path, "larger than %zu bytes: not a file of this kind", max);
                break;
            }
            size_t ncap = 2 * cap > max ? max : 2 * cap;
            char *b = realloc(buf, ncap + 1);
            if (!b) {
                rc = fcs_cli_error(NULL, "out of memory");
                break;
            }
            buf = b;
            cap = ncap;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) rc = fcs_cli_error(path, "read failed: %s", strerror(errno));
        if (k <= 0) break;
        n += (size_t)k;
    }
    if (!is_stdin) close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

double fcs_cli_scaled_range(const fcs_param *p)
{
    double r = p->range;
    if (p->datatype == 'I' && p->log_decades > 0)
        return pow(10.0, p->log_decades) * (p->log_offset > 0 ? p->log_offset : 1.0);
    if (p->gain != 0 && p->gain != 1 && r > 0) return r / p->gain;
    return r;
}

/* ---- unique parameter names --------------------------------------------------------- */

struct name_ref {
    const char *s;
    size_t i;
};

static int cmp_name_ref(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c) return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_name_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct name_ref *)elem)->s);
}

/* "BASE_K" for the first K >= *k that no original name has. */
static char *fresh_name(const char *base, size_t *k, const struct name_ref *sorted, size_t n)
{
    size_t len = strlen(base) + 24;
    char *s = malloc(len);
    if (!s) return NULL;
    for (;; (*k)++) {
        snprintf(s, len, "%s_%zu", base, *k);
        if (!bsearch(s, sorted, n, sizeof *sorted, cmp_name_key)) return s;
    }
}

/* New names (in fresh[]) for the later members of each run of equal names
 * in sorted. Renames never meet one another ("BASE_K" splits at its last
 * '_' into one BASE and one K) and are checked against the originals,
 * which stay in place meanwhile. */
static int rename_duplicates(fcs_cli_names *nm, const struct name_ref *sorted, size_t n,
                             char **fresh)
{
    for (size_t g = 0; g < n;) {
        size_t e = g + 1, k = 2;
        while (e < n && strcmp(sorted[e].s, sorted[g].s) == 0) e++;
        for (size_t m = g + 1; m < e; m++, k++) {
            size_t i = sorted[m].i;
            if (!(fresh[i] = fresh_name(sorted[g].s, &k, sorted, n))) return -1;
            nm->renamed[i] = 1;
            nm->same_as[i] = sorted[g].i;
            nm->n_renamed++;
        }
        g = e;
    }
    return 0;
}

/* The reader's names, "P<n>" (as the writer names a parameter without
 * $PnN) where there is none. */
static int copy_names(fcs_cli_names *nm, const fcs_reader *r, struct name_ref *sorted)
{
    for (size_t i = 0; i < nm->n; i++) {
        const fcs_param *p = fcs_param_info(r, i);
        char buf[32];
        snprintf(buf, sizeof buf, "P%zu", i + 1);
        if (!(nm->name[i] = strdup(p && p->name ? p->name : buf))) return -1;
        sorted[i].s = nm->name[i];
        sorted[i].i = i;
    }
    return 0;
}

int fcs_cli_names_init(fcs_cli_names *nm, const fcs_reader *r)
{
    size_t n = fcs_n_params(r), alloc = n ? n : 1;
    memset(nm, 0, sizeof *nm);
    nm->name = calloc(alloc, sizeof *nm->name);
    nm->renamed = calloc(alloc, 1);
    nm->same_as = calloc(alloc, sizeof *nm->same_as);
    struct name_ref *sorted = malloc(alloc * sizeof *sorted);
    char **fresh = calloc(alloc, sizeof *fresh);
    int rc = (nm->name && nm->renamed && nm->same_as && sorted && fresh) ? 0 : -1;
    if (!rc) {
        nm->n = n;
        rc = copy_names(nm, r, sorted);
    }
    if (!rc) {
        qsort(sorted, n, sizeof *sorted, cmp_name_ref);
        rc = rename_duplicates(nm, sorted, n, fresh);
    }
    for (size_t i = 0; fresh && i < n; i++) {
        if (!fresh[i]) continue;
        if (rc) {
            free(fresh[i]);
        } else {
            free(nm->name[i]);
            nm->name[i] = fresh[i];
        }
    }
    free(fresh);
    free(sorted);
    if (rc) fcs_cli_names_free(nm);
    return rc;
}

void fcs_cli_names_free(fcs_cli_names *nm)
{
    for (size_t i = 0; nm->name && i < nm->n; i++) free(nm->name[i]);
    free(nm->name);
    free(nm->renamed);
    free(nm->same_as);
    memset(nm, 0, sizeof *nm);
}

int fcs_cli_writer_set_names(fcs_writer *w, const fcs_cli_names *nm, const int *map, size_t n_out)
{
    char key[48];
    for (size_t k = 0; nm->n_renamed && k < n_out; k++) {
        long j = map ? map[k] : (long)k;
        if (j < 0 || (size_t)j >= nm->n || !nm->renamed[j]) continue;
        snprintf(key, sizeof key, "$P%zuN", k + 1);
        int rc = fcs_writer_set_keyword(w, key, nm->name[j]);
        if (rc != FCS_OK) return rc;
    }
    return FCS_OK;
}

#define CLI_RENAME_LINES 10 /* a hostile file may repeat one name thousands of times */

void fcs_cli_report_warnings_names(const char *file, const fcs_reader *r, const fcs_cli_names *nm)
{
    for (size_t i = 0; i < fcs_n_warnings(r); i++) {
        const char *w = fcs_warning(r, i);
        if (nm && nm->n_renamed && strncmp(w, "duplicate-name:", 15) == 0) continue;
        fcs_cli_warn(file, "%s", w);
    }
    size_t shown = 0;
    for (size_t i = 0; nm && i < nm->n && shown < nm->n_renamed; i++) {
        if (!nm->renamed[i]) continue;
        if (++shown > CLI_RENAME_LINES) {
            fcs_cli_warn(file, "duplicate-name: %zu more parameters renamed the same way",
                         nm->n_renamed - CLI_RENAME_LINES);
            break;
        }
        fcs_cli_warn(file, "duplicate-name: $P%zuN '%s' repeats $P%zuN: written as '%s'", i + 1,
                     nm->name[nm->same_as[i]], nm->same_as[i] + 1, nm->name[i]);
    }
}

/* ---- text output files ------------------------------------------------------ */

int fcs_cli_out_open(fcs_cli_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (fcs_cli_is_stdout(path)) {
        o->f = stdout;
        return 0;
    }
    if (fcs_cli_check_output(path)) return FCS_CLI_EXIT_INPUT;
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp_path = malloc(n);
    if (!o->path || !o->tmp_path) {
        fcs_cli_out_abort(o);
        return fcs_cli_error(path, "out of memory");
    }
    snprintf(o->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    fcs_cli_guard_output(path);
    int fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp_path); /* ours: created just now */
        }
        /* fd < 0: nothing was created (O_EXCL refuses someone else's file) */
        free(o->tmp_path);
        o->tmp_path = NULL;
        fcs_cli_out_abort(o);
        return fcs_cli_error(path, "cannot create output: %s", strerror(e));
    }
    return 0;
}

int fcs_cli_out_commit(fcs_cli_out *o)
{
    if (!o->path) { /* stdout: fcs_cli_finish() makes the final check */
        /* A broken pipe is noted now, while errno and the descriptor still
         * say so; later calls would leave only the stream's error flag. */
        errno = 0;
        if (fflush(stdout) != 0 || ferror(stdout)) fcs_cli_write_failed(stdout);
        return 0;
    }
    int e = 0;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
    if (!e && fsync(fileno(o->f)) != 0) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && rename(o->tmp_path, o->path) != 0) e = errno;
    if (e) {
        fcs_cli_error(o->path, "write error: %s", strerror(e));
        fcs_cli_out_abort(o);
        return FCS_CLI_EXIT_INPUT;
    }
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
    return 0;
}

void fcs_cli_out_abort(fcs_cli_out *o)
{
    if (o->f && o->f != stdout) fclose(o->f);
    if (o->tmp_path) unlink(o->tmp_path);
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
}

int fcs_cli_out_write_all(const char *path, const void *data, size_t len)
{
    fcs_cli_out out;
    if (fcs_cli_out_open(&out, path)) return FCS_CLI_EXIT_INPUT;
    fwrite(data, 1, len, out.f);
    /* (stdout: a write error shows at the flush in fcs_cli_out_commit / fcs_cli_finish.) */
    if (out.path && ferror(out.f)) {
        fcs_cli_error(path, "write error: %s", strerror(errno));
        fcs_cli_out_abort(&out);
        return FCS_CLI_EXIT_INPUT;
    }
    return fcs_cli_out_commit(&out);
}

/* ---- FCS outputs ---------------------------------------------------------------- */

static const char *output_shown(const char *output)
{
    return fcs_cli_is_stdout(output) ? "<stdout>" : output;
}

int fcs_cli_writer_open(fcs_writer **w, const char *output, size_t n_params)
{
    fcs_write_opts wo;
    fcs_error err;
    const char *path = fcs_cli_is_stdout(output) ? "-" : output;
    *w = NULL;
    if (fcs_cli_check_output(output)) return FCS_CLI_EXIT_INPUT;
    fcs_write_opts_init(&wo);
    fcs_cli_guard_output(output);
    if (fcs_writer_open(w, path, n_params, &wo, &err) != FCS_OK) {
        *w = NULL;
        return fcs_cli_error_lib(output_shown(output), err.msg);
    }
    return 0;
}

/* The writer's message without its "OUTPUT: " prefix. */
static const char *without_output(const char *msg, const char *output)
{
    const char *shown = output_shown(output);
    size_t n = strlen(shown);
    if (strncmp(msg, shown, n) == 0 && msg[n] == ':') {
        msg += n + 1;
        while (*msg == ' ') msg++;
    }
    return msg;
}

int fcs_cli_writer_failed(const fcs_writer *w, int rc, const char *output, const char *input,
                          int *quiet_end)
{
    int e = errno; /* of the failing call: read before anything else runs */
    if (fcs_cli_is_stdout(output) && (e == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        if (quiet_end) *quiet_end = 1;
        return 0;
    }
    const char *msg = w ? fcs_writer_errmsg(w) : "";
    if (rc == FCS_ENOMEM) return fcs_cli_error(NULL, "out of memory");
    if (!msg || !*msg) msg = fcs_strerror(rc);
    if (rc == FCS_EIO) return fcs_cli_error_lib(output_shown(output), msg);
    return fcs_cli_error(input, "cannot be written as FCS: %s", without_output(msg, output));
}

int fcs_cli_finish_writer(fcs_writer *w, const char *output, int rc, int quiet_end)
{
    fcs_error err;
    if (rc || quiet_end || !w) {
        fcs_writer_abort(w); /* no partial -o FILE; an existing one is untouched */
        return rc;
    }
    if (fcs_writer_close(w, &err) == FCS_OK) return 0;
    if (fcs_cli_is_stdout(output) && (errno == EPIPE || fcs_cli_broken_pipe())) {
        fcs_cli_set_broken_pipe();
        return 0;
    }
    return fcs_cli_error_lib(output_shown(output), err.msg);
}

void fcs_cli_stream_init(fcs_cli_stream *s, fcs_reader *r, const char *input, fcs_writer *w,
                         const char *output, float *buf, size_t chunk)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->input = input;
    s->w = w;
    s->output = output;
    s->buf = buf;
    s->chunk = chunk ? chunk : 1;
    s->limit = fcs_n_events(r);
}

int fcs_cli_stream_write(fcs_cli_stream *s, float *ev, size_t n)
{
    size_t np = fcs_n_params(s->r);
    for (size_t off = 0; off < n && !s->stop && !s->quiet_end; off += s->chunk) {
        size_t m = n - off < s->chunk ? n - off : s->chunk, n_out = m;
        float *part = ev + off * np;
        const float *out = s->fn ? s->fn(s, part, m, &n_out) : part;
        s->done += (int64_t)m;
        if (n_out == 0) continue;
        int rc = fcs_writer_write_f32(s->w, out, n_out);
        if (rc != FCS_OK && fcs_cli_writer_failed(s->w, rc, s->output, s->input, &s->quiet_end))
            return FCS_CLI_EXIT_INPUT;
    }
    if (s->prog) fcs_cli_progress_update(s->prog, s->prog_base + s->done);
    return 0;
}

int fcs_cli_stream_run(fcs_cli_stream *s)
{
    while (!s->stop && !s->quiet_end && s->done < s->limit) {
        size_t want = s->chunk;
        if ((int64_t)want > s->limit - s->done) want = (size_t)(s->limit - s->done);
        int64_t n = fcs_read_events_f32(s->r, s->buf, want, FCS_VALUES_SCALED);
        if (n < 0) return fcs_cli_error_lib(s->input, fcs_errmsg(s->r));
        if (n == 0) break;
        if (fcs_cli_stream_write(s, s->buf, (size_t)n)) return FCS_CLI_EXIT_INPUT;
    }
    if (!s->stop && !s->quiet_end && s->done < s->limit)
        return fcs_cli_error(s->input, "DATA ends after %" PRId64 " of %" PRId64 " events", s->done,
                             fcs_n_events(s->r));
    return 0;
}

#define CLI_CHUNK_VALUES (256 * 1024)
#define CLI_CHUNK_EVENTS_MAX 16384

size_t fcs_cli_chunk_events(size_t width)
{
    size_t n = CLI_CHUNK_VALUES / (width ? width : 1);
    if (n > CLI_CHUNK_EVENTS_MAX) n = CLI_CHUNK_EVENTS_MAX;
    return n ? n : 1;
}

/* $DFCiTOj, i and j decimal, any case. */
static int is_dfc_keyword(const char *k)
{
    if (strncasecmp(k, "$DFC", 4) != 0) return 0;
    const char *p = k + 4;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if ((p[0] != 'T' && p[0] != 't') || (p[1] != 'O' && p[1] != 'o')) return 0;
    p += 2;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return *p == '\0';
}

int fcs_cli_drop_spillover(fcs_writer *w, const fcs_reader *r)
{
    static const char *kws[] = {"$SPILLOVER", "SPILL", "$COMP"};
    int rc = FCS_OK;
    for (size_t i = 0; rc == FCS_OK && i < sizeof kws / sizeof kws[0]; i++)
        rc = fcs_writer_set_keyword(w, kws[i], NULL);
    for (size_t i = 0; rc == FCS_OK && i < fcs_n_keywords(r); i++)
        if (is_dfc_keyword(fcs_keyword_name(r, i)))
            rc = fcs_writer_set_keyword(w, fcs_keyword_name(r, i), NULL);
    return rc == FCS_ENOTFOUND ? FCS_OK : rc;
}

/* ---- provenance -------------------------------------------------------------- */

static int keyword_ok(int rc) { return rc == FCS_OK || rc == FCS_ENOTFOUND; }

int fcs_cli_source_keyword(fcs_writer *w, const fcs_reader *r, const char *input)
{
    if (!input || strcmp(input, "-") == 0 || fcs_keyword(r, "LIBFCS_SOURCES")) return FCS_OK;
    return fcs_writer_set_keyword(w, "LIBFCS_SOURCES", input);
}

int fcs_cli_provenance(fcs_writer *w, int no_version)
{
    int rc;
    if (no_version) {
        /* Inherited provenance would name the upstream tool as the maker of
         * this file: drop it rather than keep a false record. */
        rc = fcs_writer_set_keyword(w, "LIBFCS_TOOL", NULL);
        if (!keyword_ok(rc)) return rc;
        rc = fcs_writer_set_keyword(w, "LIBFCS_COMMAND", NULL);
        return keyword_ok(rc) ? FCS_OK : rc;
    }
    rc = fcs_writer_set_keyword(w, "LIBFCS_TOOL", fcs_cli_tool_version());
    if (rc != FCS_OK) return rc;
    return fcs_writer_set_keyword(w, "LIBFCS_COMMAND", fcs_cli_command_line());
}

/* ---- progress ---------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

void fcs_cli_progress_start(fcs_cli_progress *p, int64_t total)
{
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO);
    p->total = total;
    if (p->enabled) p->start = p->last_shown = now_seconds();
}

void fcs_cli_progress_update(fcs_cli_progress *p, int64_t done)
{
    if (!p->enabled) return;
    double t = now_seconds();
    /* Quiet for short runs; then at most four updates a second. */
    if (t - p->start < 1.0 || t - p->last_shown < 0.25) return;
    p->last_shown = t;
    p->shown = 1;
    if (p->total > 0)
        fprintf(stderr, "\r%s: %3d%% (%" PRId64 " events)", fcs_cli_name(),
                (int)(100.0 * (double)done / (double)p->total), done);
    else
        fprintf(stderr, "\r%s: %" PRId64 " events", fcs_cli_name(), done);
}

void fcs_cli_progress_end(fcs_cli_progress *p)
{
    if (p->enabled && p->shown) fprintf(stderr, "\r%60s\r", "");
    p->shown = 0;
}

/* ---- option values ------------------------------------------------------------ */

int fcs_cli_parse_int(const char *arg, const char *opt, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || errno || v < min || v > max)
        return fcs_cli_usage_error("%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", opt,
                                   arg, min, max);
    *out = v;
    return 0;
}

int fcs_cli_parse_u64(const char *arg, const char *opt, uint64_t *out)
{
    char *end;
    errno = 0;
    /* strtoull accepts "-1" (as 2^64-1): refuse signs explicitly. */
    unsigned long long v = (arg[0] >= '0' && arg[0] <= '9') ? strtoull(arg, &end, 10) : 0;
    if (!(arg[0] >= '0' && arg[0] <= '9') || *end || errno)
        return fcs_cli_usage_error("%s: '%s' is not an unsigned integer", opt, arg);
    *out = v;
    return 0;
}

int fcs_cli_parse_size(const char *arg, const char *opt, int64_t min, int64_t max, int64_t *w,
                       int64_t *h)
{
    char *end;
    errno = 0;
    long x = strtol(arg, &end, 10), y = x;
    if (end != arg && *end == 'x') {
        const char *b = end + 1;
        y = strtol(b, &end, 10);
        if (end == b) goto bad;
    }
    if (end == arg || *end || errno || x < min || x > max || y < min || y > max) goto bad;
    *w = x;
    *h = y;
    return 0;
bad:
    return fcs_cli_usage_error("%s '%s': expected WxH, each %" PRId64 "..%" PRId64, opt, arg, min,
                               max);
}

/* ---- operands ------------------------------------------------------------------ */

int fcs_cli_one_input(int n, char **operands, const char **input)
{
    if (n > 1) return fcs_cli_usage_error("one input file at a time");
    if (n == 1) {
        *input = operands[0];
        return 0;
    }
    /* As samtools: no file and a terminal on stdin is a usage mistake. */
    if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
    *input = "-";
    return 0;
}

int fcs_cli_inputs(int n, char **operands, char ***files, int *n_files)
{
    static char dash[] = "-";
    static char *stdin_only[] = {dash, NULL};
    if (n == 0) {
        if (isatty(STDIN_FILENO)) return fcs_cli_usage_error("no input file");
        *files = stdin_only;
        *n_files = 1;
        return 0;
    }
    *files = operands;
    *n_files = n;
    return 0;
}

/* ---- numbers as text --------------------------------------------------------- */

/*
 * Shortest round-trip decimals. The text printed for precision P is exactly
 * what printf("%.*g", P, v) prints (P significant digits, correctly rounded
 * half-to-even, trailing zeros dropped, same exponent rule), and P is the
 * smallest precision whose text reads back as v. Because %.15g (%.6g for
 * float32) is exact for every decimal of that many digits (DBL_DIG, FLT_DIG),
 * the search starts there.
 *
 * printf + strtod for each candidate costs about a microsecond, which made
 * fcs-export slow; here both steps are exact integer arithmetic on
 * v = m * 2^e: the candidate N = round(v * 10^s) and the test that
 * N * 10^-s lies inside v's rounding interval (the midpoints to its
 * neighbours; ties go to the even mantissa, as strtod rounds). (Like the
 * printf search it replaces, it takes the nearest P-digit decimal; at an
 * exact power of two, whose lower neighbour is closer, a P-digit decimal
 * above v can read back while the nearest one below does not, and P+1
 * digits are printed.) Values whose
 * scaling does not fit 128 bits (far outside the range of cytometry data)
 * take the printf/strtod path.
 */
__extension__ typedef unsigned __int128 fcs_u128; /* GCC and Clang, 64-bit targets */

static const uint64_t POW5[28] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL, 1953125ULL,
    9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL, 30517578125ULL,
    152587890625ULL, 762939453125ULL, 3814697265625ULL, 19073486328125ULL, 95367431640625ULL,
    476837158203125ULL, 2384185791015625ULL, 11920928955078125ULL, 59604644775390625ULL,
    298023223876953125ULL, 1490116119384765625ULL, 7450580596923828125ULL};

static const uint64_t POW10[18] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL};

/* 10^0 .. 10^22, all exact in double. */
static const double POW10_D[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A positive finite binary value m * 2^e, and whether the gap to the next
 * smaller value is half the gap to the next larger (at a power of two). */
struct binfp {
    uint64_t m;
    int e;
    int narrow_below;
};

static struct binfp decompose_float(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    uint32_t ex = (b >> 23) & 0xff, frac = b & 0x7fffff;
    struct binfp r = {frac, -149, 0};
    if (ex) {
        r.m = frac | 0x800000;
        r.e = (int)ex - 150;
        r.narrow_below = frac == 0 && ex > 1;
    }
    return r;
}

static struct binfp decompose_double(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    uint64_t ex = (b >> 52) & 0x7ff, frac = b & 0xfffffffffffffULL;
    struct binfp r = {frac, -1074, 0};
    if (ex) {
        r.m = frac | (1ULL << 52);
        r.e = (int)ex - 1075;
        r.narrow_below = frac == 0 && ex > 1;
    }
    return r;
}

/* a * 2^k: floor into *q, *exact whether nothing was cut. -1: too large. */
static int shift2(fcs_u128 a, int k, fcs_u128 *q, int *exact)
{
    if (k >= 0) {
        if (k >= 128 || (k > 0 && (a >> (128 - k)) != 0)) return -1;
        *q = a << k;
        *exact = 1;
    } else if (-k >= 128) {
        *q = 0;
        *exact = a == 0;
    } else {
        *q = a >> -k;
        *exact = (a & (((fcs_u128)1 << -k) - 1)) == 0;
    }
    return 0;
}

/* floor(m * 2^e2 * 10^s) and whether it is exact; -1 when the numbers do
 * not fit 128 bits (m < 2^56). */
static int scaled_floor(uint64_t m, int e2, int s, fcs_u128 *q, int *exact)
{
    fcs_u128 a = m;
    if (s >= 0) { /* m * 5^s * 2^(e2+s) */
        if (s > 54) return -1;
        fcs_u128 p5 = s <= 27 ? POW5[s] : (fcs_u128)POW5[27] * POW5[s - 27];
        if (__builtin_mul_overflow(a, p5, &a)) return -1;
        return shift2(a, e2 + s, q, exact);
    }
    int t = -s, k = e2 - t; /* m * 2^(e2-t) / 5^t */
    if (t > 27) return -1;
    fcs_u128 den = POW5[t];
    if (k >= 0) {
        if (shift2(a, k, &a, exact)) return -1;
    } else {
        if (-k > 64) return -1;
        den <<= -k;
    }
    *q = a / den;
    *exact = a % den == 0;
    return 0;
}

/* N = v * 10^s rounded half to even (as printf rounds). */
static int round_scaled(const struct binfp *b, int s, fcs_u128 *n)
{
    fcs_u128 q2;
    int exact2;
    if (scaled_floor(b->m, b->e + 1, s, &q2, &exact2)) return -1; /* 2 * v * 10^s */
    *n = q2 >> 1;
    if ((q2 & 1) && (!exact2 || (*n & 1))) (*n)++; /* above the half, or a tie to even */
    return 0;
}

/* Whether N * 10^-s reads back as v: strictly inside the interval between
 * the midpoints to v's neighbours, or on one with v's mantissa even. */
static int reads_back(const struct binfp *b, fcs_u128 n, int s)
{
    fcs_u128 q;
    int exact, even = !(b->m & 1);
    uint64_t mlo = b->narrow_below ? 4 * b->m - 1 : 2 * b->m - 1;
    int elo = b->narrow_below ? b->e - 2 : b->e - 1;
    if (scaled_floor(mlo, elo, s, &q, &exact)) return -1;
    if (!(n > q || (exact && n == q && even))) return 0;
    if (scaled_floor(2 * b->m + 1, b->e - 1, s, &q, &exact)) return -1;
    return exact ? (n < q || (n == q && even)) : n <= q;
}

/* %.{prec}g layout of the digits of n (prec of them) times 10^(e10-prec+1). */
static int emit_g(char *buf, int negative, uint64_t n, int prec, int e10)
{
    char d[24];
    int nd = prec, len = 0;
    for (int i = prec - 1; i >= 0; i--, n /= 10) d[i] = (char)('0' + n % 10);
    while (nd > 1 && d[nd - 1] == '0') nd--;
    if (negative) buf[len++] = '-';
    if (e10 < -4 || e10 >= prec) {
        buf[len++] = d[0];
        if (nd > 1) buf[len++] = '.';
        for (int i = 1; i < nd; i++) buf[len++] = d[i];
        len += sprintf(buf + len, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
        return len;
    }
    if (e10 < 0) {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = 0; i < -e10 - 1; i++) buf[len++] = '0';
        for (int i = 0; i < nd; i++) buf[len++] = d[i];
    } else {
        for (int i = 0; i <= e10; i++) buf[len++] = i < nd ? d[i] : '0';
        if (nd > e10 + 1) buf[len++] = '.';
        for (int i = e10 + 1; i < nd; i++) buf[len++] = d[i];
    }
    buf[len] = '\0';
    return len;
}

/* Exact floor(log10(v)), from a floating estimate checked with integers:
 * floor(v * 10^-e10) must be a single digit 1..9. */
static int exact_e10(const struct binfp *b, double mag, int *e10)
{
    int e = (int)floor(log10(mag));
    if (e >= 0 && e <= 21) { /* 10^0..10^22 are exact doubles: compare directly */
        e -= mag < (double)POW10_D[e];
        e += mag >= (double)POW10_D[e + 1];
        *e10 = e;
        return 0;
    }
    for (int tries = 0; tries < 4; tries++) {
        fcs_u128 q;
        int exact;
        if (scaled_floor(b->m, b->e, -e, &q, &exact)) return -1;
        if (q == 0) e--;
        else if (q >= 10) e++;
        else {
            *e10 = e;
            return 0;
        }
    }
    return -1;
}

/* The shortest text for precisions pmin..pmax, or -1 (use the slow path). */
static int shortest_g(char *buf, const struct binfp *b, int negative, double mag, int pmin, int pmax)
{
    int e10 = 0;
    if (exact_e10(b, mag, &e10)) return -1;
    for (int prec = pmin; prec <= pmax; prec++) {
        fcs_u128 n;
        int s = prec - 1 - e10;
        if (round_scaled(b, s, &n)) return -1;
        int ok = reads_back(b, n, s);
        if (ok < 0) return -1;
        if (!ok) continue;
        /* Rounding up to 10^prec (9.9999996 -> 10.00000) moves the exponent,
         * as it does for printf. */
        if (n >= POW10[prec]) return emit_g(buf, negative, (uint64_t)(n / 10), prec, e10 + 1);
        return emit_g(buf, negative, (uint64_t)n, prec, e10);
    }
    return -1;
}

/* Integral value (|v| < 1e15) as decimal digits: an integer never gets an
 * exponent or a decimal point. */
static int format_integral(char *buf, double v)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = (uint64_t)fabs(v);
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (signbit(v)) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

static int format_special(char *buf, double v)
{
    const char *s = isnan(v) ? "NaN" : (v < 0 ? "-Inf" : "Inf");
    size_t n = strlen(s);
    memcpy(buf, s, n + 1);
    return (int)n;
}

int fcs_cli_format_double(char *buf, double v)
{
    if (!isfinite(v)) return format_special(buf, v);
    if (v == trunc(v) && fabs(v) < 1e15) return format_integral(buf, v);
    struct binfp b = decompose_double(fabs(v));
    int n = shortest_g(buf, &b, signbit(v) != 0, fabs(v), 15, 17);
    if (n >= 0) return n;
    for (int prec = 15; prec < 17; prec++) { /* slow path */
        n = snprintf(buf, FCS_CLI_NUM_MAX, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return n;
    }
    return snprintf(buf, FCS_CLI_NUM_MAX, "%.17g", v);
}

int fcs_cli_format_float(char *buf, float v)
{
    if (!isfinite(v)) return format_special(buf, v);
    if (v == truncf(v) && fabsf(v) < 1e15f) return format_integral(buf, v);
    struct binfp b = decompose_float(fabsf(v));
    int n = shortest_g(buf, &b, signbit(v) != 0, fabs((double)v), 6, 9);
    if (n >= 0) return n;
    for (int prec = 6; prec < 9; prec++) { /* slow path */
        n = snprintf(buf, FCS_CLI_NUM_MAX, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return n;
    }
    return snprintf(buf, FCS_CLI_NUM_MAX, "%.9g", (double)v);
}

/* ---- reproducible random numbers ------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fcs_cli_rng_seed(fcs_cli_rng *g, uint64_t seed)
{
    /* splitmix64 spreads any seed (0 included) over the 256-bit state, which
     * xoshiro needs to be not all zero. */
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
    g->has_spare = 0;
    g->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fcs_cli_rng_next(fcs_cli_rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double fcs_cli_rng_uniform(fcs_cli_rng *g) { return (double)(fcs_cli_rng_next(g) >> 11) * 0x1.0p-53; }

uint64_t fcs_cli_rng_below(fcs_cli_rng *g, uint64_t n)
{
    /* Reject the top partial copy of [0, n) so every residue is equally
     * likely: threshold = 2^64 mod n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = fcs_cli_rng_next(g);
        if (r >= threshold) return r % n;
    }
}

double fcs_cli_rng_normal(fcs_cli_rng *g)
{
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * fcs_cli_rng_uniform(g) - 1.0;
        v = 2.0 * fcs_cli_rng_uniform(g) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    g->spare = v * m;
    g->has_spare = 1;
    return u * m;
}
