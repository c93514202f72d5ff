/*
 * cli.h — what every libfcs command-line tool shares: start-up (locale,
 * SIGPIPE), --help/--version/usage errors, one-line error messages, output
 * files written to a temporary name and renamed into place, quiet ends on a
 * broken pipe, progress on a terminal, provenance keywords, number parsing
 * and formatting, and a reproducible random number generator.
 *
 * A tool is one file tools/fcs-NAME.c shaped like this:
 *
 *     static const fcs_cli_tool TOOL = {"fcs-xxx", "[-o FILE] FILE", "options text"};
 *     int main(int argc, char **argv) {
 *         struct opts o;
 *         fcs_cli_init(&TOOL, argc, argv);
 *         int rc = parse(&o, argc, argv);      // getopt_long; FCS_CLI_CONTINUE or an exit code
 *         if (rc != FCS_CLI_CONTINUE) return rc;
 *         return fcs_cli_finish(run(&o));      // flushes stdout, maps EPIPE to 0
 *     }
 *
 * Exit codes (every tool): 0 success, 1 bad or unreadable input (or a
 * failed write), 2 usage error. Messages go to stderr as one line
 * "fcs-xxx: FILE: message" (or "fcs-xxx: message" when no file is involved).
 *
 * The helpers keep one small record of the running tool (its name and
 * command line) set by fcs_cli_init(); they are for programs, not for the
 * library, which never prints.
 */
#ifndef FCS_CLI_H
#define FCS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "fcs/fcs.h"

/* ---- exit codes -------------------------------------------------------------- */

enum {
    FCS_CLI_EXIT_OK = 0,    /**< success (also: --help, --version, quiet broken pipe) */
    FCS_CLI_EXIT_INPUT = 1, /**< bad or unreadable input, failed write */
    FCS_CLI_EXIT_USAGE = 2, /**< bad command line */
    FCS_CLI_CONTINUE = -1   /**< returned by parse functions: go on and run */
};

/* ---- the tool ---------------------------------------------------------------- */

/** Static description of a tool, used for usage and version text. */
typedef struct fcs_cli_tool {
    const char *name;     /**< "fcs-info" */
    const char *synopsis; /**< arguments after the name: "[--json] FILE..." */
    const char *options;  /**< option lines for --help (may be NULL), ending in '\n' */
} fcs_cli_tool;

/**
 * Start-up: remembers the tool and its command line (for messages and
 * LIBFCS_COMMAND), keeps the "C" numeric locale (so '.' is the decimal point
 * in every number we parse or print), and ignores SIGPIPE so that a closed
 * pipe shows up as an EPIPE write error that fcs_cli_finish() ends quietly.
 */
void fcs_cli_init(const fcs_cli_tool *tool, int argc, char **argv);

/** Name of the running tool ("fcs-info"). */
const char *fcs_cli_name(void);

/** "fcs-cat 0.1.0": the tool name and the libfcs version it belongs to. */
const char *fcs_cli_tool_version(void);

/** The command line as typed, arguments separated by one blank; arguments
 *  containing blanks or quotes are single-quoted shell-style. */
const char *fcs_cli_command_line(void);

/** Print "Usage: NAME SYNOPSIS" and the option text to stdout. Returns
 *  FCS_CLI_EXIT_OK, for `return fcs_cli_help();` in a parse function. */
int fcs_cli_help(void);

/** Print the version lines (tool, libfcs, zlib, HDF5) to stdout; returns
 *  FCS_CLI_EXIT_OK. */
int fcs_cli_version(void);

/** Print "NAME: message" and a short usage line to stderr; returns
 *  FCS_CLI_EXIT_USAGE. */
int fcs_cli_usage_error(const char *fmt, ...) FCS_PRINTF(1, 2);

/** Translate the getopt_long result for options every tool understands:
 *  'h' (help), FCS_CLI_OPT_VERSION, '?' (unknown option or missing argument,
 *  getopt already said which) and ':' . Returns the exit code to return from
 *  the parse function. Call it from the `default:` branch of the switch. */
int fcs_cli_common_option(int c);

/** getopt_long codes for long-only options shared by the tools. */
enum {
    FCS_CLI_OPT_VERSION = 0x100,
    FCS_CLI_OPT_NO_VERSION,
    FCS_CLI_OPT_STRICT,
    FCS_CLI_OPT_FIRST_TOOL /**< tools number their own long-only options from here */
};

/** Long option entries for -h/--help and --version (put them in every table). */
#define FCS_CLI_LONGOPTS_COMMON \
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, FCS_CLI_OPT_VERSION}

/* ---- errors ------------------------------------------------------------------- */

/** "NAME: FILE: message" on stderr (FILE NULL: "NAME: message"; FILE "-"
 *  is shown as "<stdin>"). Returns FCS_CLI_EXIT_INPUT. */
int fcs_cli_error(const char *file, const char *fmt, ...) FCS_PRINTF(2, 3);

/**
 * Report a libfcs message about FILE. The library's messages usually start
 * with the file's name already ("x.fcs: bad HEADER"); that prefix is not
 * repeated. Returns FCS_CLI_EXIT_INPUT.
 */
int fcs_cli_error_lib(const char *file, const char *libmsg);

/** Warning "NAME: FILE: warning: message" on stderr (no exit code). */
void fcs_cli_warn(const char *file, const char *fmt, ...) FCS_PRINTF(2, 3);

/** The reader's warnings about the selected data set of FILE, one line
 *  each: "NAME: FILE: warning: repair-name: ...". Tools call it once an
 *  input has been read successfully, so that a failing input still gives a
 *  single error line. */
void fcs_cli_report_warnings(const char *file, const fcs_reader *r);

/** The display name of an input ("-" is "<stdin>", as the reader says). */
const char *fcs_cli_input_name(const char *path);

/* ---- standard output and the end of a run --------------------------------- */

/**
 * Whether writing to stream f has failed. A broken pipe (EPIPE) is
 * remembered as "quiet end": the tool should stop and fcs_cli_finish() will
 * return 0 without a message. Returns 0 when all is well, 1 otherwise.
 */
int fcs_cli_write_failed(FILE *f);

/** Whether a broken pipe was seen (so a tool can stop early and quietly). */
int fcs_cli_broken_pipe(void);

/** Record a broken pipe seen by someone else (e.g. the library writer
 *  reporting EPIPE on stdout). */
void fcs_cli_set_broken_pipe(void);

/**
 * End of run: flush and close stdout and check for write errors. A broken
 * pipe ends quietly with 0 (unless rc already says failure); another write
 * failure (disk full, ...) prints "NAME: <stdout>: write error: ..." and
 * gives 1. Returns the exit code for main.
 */
int fcs_cli_finish(int rc);

/** Refuse to write binary FCS to a terminal: when path is "-" (stdout) and
 *  stdout is a terminal, print why and return FCS_CLI_EXIT_USAGE; else 0. */
int fcs_cli_refuse_tty(const char *path);

/** Whether path names standard output (NULL or "-"). */
int fcs_cli_is_stdout(const char *path);

/**
 * Remove "PATH.tmp.<pid>" (the name the libfcs writer and fcs_cli_out use
 * while writing) if the tool is stopped by SIGINT, SIGTERM or SIGHUP, so an
 * interrupted run leaves neither a partial PATH nor a stray temporary file.
 * No effect for stdout. Up to 8 outputs per process.
 */
void fcs_cli_guard_output(const char *path);

/* ---- text output files (-o for tables and JSON) ---------------------------- */

/** A text output: stdout, or a file written to "PATH.tmp.<pid>" and renamed
 *  into place by fcs_cli_out_commit(). */
typedef struct fcs_cli_out {
    FILE *f;          /**< write here */
    char *path;       /**< final path; NULL for stdout */
    char *tmp_path;   /**< temporary path; NULL for stdout */
} fcs_cli_out;

/** Open path ("-" or NULL = stdout). Returns 0, or prints the error and
 *  returns FCS_CLI_EXIT_INPUT. */
int fcs_cli_out_open(fcs_cli_out *o, const char *path);

/** Finish: for a file, flush, fsync, close and rename into place (returns 0
 *  or prints the error and returns 1). For stdout, only fflush (the final
 *  check is fcs_cli_finish). */
int fcs_cli_out_commit(fcs_cli_out *o);

/** Give up: close and remove the temporary file (an existing PATH stays
 *  as it was). Accepts an unopened (zeroed) record. */
void fcs_cli_out_abort(fcs_cli_out *o);

/* ---- provenance ------------------------------------------------------------- */

/** Set LIBFCS_TOOL ("fcs-cat 0.1.0") and LIBFCS_COMMAND (the command line)
 *  on w, or remove inherited ones when no_version is set. */
int fcs_cli_provenance(fcs_writer *w, int no_version);

/* ---- progress (stderr, only when it is a terminal) ------------------------- */

typedef struct fcs_cli_progress {
    int enabled;       /**< stderr is a terminal */
    int64_t total;     /**< expected units (events), <= 0 when unknown */
    double start;      /**< monotonic seconds at the start */
    double last_shown; /**< monotonic seconds of the last update */
    int shown;         /**< something was printed (clear it at the end) */
} fcs_cli_progress;

void fcs_cli_progress_start(fcs_cli_progress *p, int64_t total);
/** Update at most a few times per second. */
void fcs_cli_progress_update(fcs_cli_progress *p, int64_t done);
/** Clear the progress line. */
void fcs_cli_progress_end(fcs_cli_progress *p);

/* ---- option values ------------------------------------------------------- */

/** Parse a whole decimal integer in [min, max] for option opt ("-n"). On
 *  failure prints a usage error and returns FCS_CLI_EXIT_USAGE; else 0. */
int fcs_cli_parse_int(const char *arg, const char *opt, int64_t min, int64_t max, int64_t *out);

/** Parse an unsigned 64-bit decimal (seeds). Same conventions. */
int fcs_cli_parse_u64(const char *arg, const char *opt, uint64_t *out);

/* ---- numbers as text ----------------------------------------------------------- */

/** Room for any formatted number, with its NUL. */
#define FCS_CLI_NUM_MAX 32

/**
 * Shortest decimal that reads back (strtod) as exactly v: integral values
 * below 1e15 in magnitude as plain integers ("1024", "-0"), others by %g
 * with the least precision (15..17) that round-trips; "NaN", "Inf", "-Inf".
 * Returns the length written to buf (room for FCS_CLI_NUM_MAX bytes).
 */
int fcs_cli_format_double(char *buf, double v);

/** The same for float32 precision: shortest text that strtof reads back as
 *  exactly v (precision 6..9). */
int fcs_cli_format_float(char *buf, float v);

/* ---- reproducible random numbers ---------------------------------------------- */

/** xoshiro256** state (Blackman & Vigna), seeded through splitmix64, so a
 *  seed gives the same stream on every platform. Never rand(). */
typedef struct fcs_cli_rng {
    uint64_t s[4];
    double spare;  /**< second deviate of the last polar-method pair */
    int has_spare;
} fcs_cli_rng;

void fcs_cli_rng_seed(fcs_cli_rng *g, uint64_t seed);
uint64_t fcs_cli_rng_next(fcs_cli_rng *g);
/** Uniform double in [0, 1) with 53 random bits. */
double fcs_cli_rng_uniform(fcs_cli_rng *g);
/** Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t fcs_cli_rng_below(fcs_cli_rng *g, uint64_t n);
/** Standard normal deviate (Marsaglia polar method; uses only the
 *  generator, sqrt and log, so results are reproducible). */
double fcs_cli_rng_normal(fcs_cli_rng *g);

#endif
