/*
 * cli.h — what every libfcs command-line tool shares: start-up (locale,
 * SIGPIPE), --help/--version/usage errors, one-line error messages, output
 * files written to a temporary name and renamed into place (and never over
 * one of the tool's inputs), quiet ends on a broken pipe, opening inputs,
 * unique parameter names, the chunk loop from a reader to an FCS writer,
 * progress on a terminal, provenance keywords, number parsing and
 * formatting, and a reproducible random number generator.
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

/** The options of the tools that read one data set and write an FCS stream (fcs-cat,
 *  fcs-comp, fcs-xform): -d/--dataset N, --strict, --no-version, -o/--output FILE. */
typedef struct fcs_cli_io {
    int64_t dataset;    /**< -d: 0-based data set [0] */
    int strict;         /**< --strict: refuse inputs that need a repair */
    int no_version;     /**< --no-version: no provenance keywords */
    const char *output; /**< -o: NULL for stdout */
} fcs_cli_io;

/** Long option entries for fcs_cli_io (the short ones are "d:o:"). */
#define FCS_CLI_LONGOPTS_IO                                                                        \
    {"dataset", required_argument, NULL, 'd'}, {"strict", no_argument, NULL, FCS_CLI_OPT_STRICT}, \
        {"no-version", no_argument, NULL, FCS_CLI_OPT_NO_VERSION},                                 \
        {"output", required_argument, NULL, 'o'}

/** For the `default:` branch of the option switch: when c is one of the fcs_cli_io options,
 *  store it (arg: optarg) and set *rc to 0, or to FCS_CLI_EXIT_USAGE for a bad -d, and return
 *  1; else return 0 (then call fcs_cli_common_option). */
int fcs_cli_io_option(int c, const char *arg, fcs_cli_io *io, int *rc);

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
 *
 * It also runs fcs_cli_check_output(path) first: a tool calls it just
 * before it creates an output, so every tool refuses to write over one of
 * its inputs. As this function cannot return an error, an output that is an
 * input ends the program here: the message is printed, the temporary files
 * guarded so far are removed and the exit status is 1. (Tools that have
 * something to clean up call fcs_cli_check_output themselves, earlier.)
 */
void fcs_cli_guard_output(const char *path);

/* ---- outputs must not be inputs ---------------------------------------------- */

/**
 * Remember that the tool reads path ("-": standard input), so that no
 * output replaces it. The file is remembered by device and inode (stat
 * follows symbolic links), so "./x.fcs", a symbolic link or a hard link to
 * it are the same input. A path that cannot be stat'ed (not there yet) is
 * not remembered: opening it will fail and say why. The input helpers below
 * call this; a tool calls it for files it opens by other means (a matrix or
 * gate file) and may call it for every input argument before reading any.
 */
void fcs_cli_note_input(const char *path);

/**
 * Whether writing path (-o) would replace an input. Inputs are the files
 * noted by fcs_cli_note_input (and the helpers that call it) and every
 * regular file the process has open for reading (the readers the tool has
 * open, a standard input redirected from a file). Returns 0 when path is
 * stdout ("-" or NULL), does not exist, is not a regular file or is no
 * input; otherwise prints "NAME: PATH: output is the same file as input
 * IN; nothing written" and returns FCS_CLI_EXIT_INPUT. fcs_cli_out_open,
 * fcs_cli_writer_open and fcs_cli_guard_output call it, so a tool calls it
 * itself only to refuse before any work (as the tools of this folder do
 * right after parsing).
 */
int fcs_cli_check_output(const char *path);

/* ---- inputs ---------------------------------------------------------------------- */

/** fcs_open(path) with the tool's messages: notes path as an input
 *  (fcs_cli_note_input) and on failure prints "NAME: FILE: why" and returns
 *  FCS_CLI_EXIT_INPUT with *r NULL; 0 on success. ro may be NULL (defaults). */
int fcs_cli_open(fcs_reader **r, const char *path, const fcs_read_opts *ro);

/** fcs_cli_open, then select data set `dataset` (0-based): "no data set N (the
 *  file has K, numbered from 0)" when it has none, and an event count that is
 *  negative is refused. Returns 0, or FCS_CLI_EXIT_INPUT (message printed, *r
 *  NULL, nothing left open). */
int fcs_cli_open_dataset(fcs_reader **r, const char *path, const fcs_read_opts *ro,
                         int64_t dataset);

/** fcs_cli_open_dataset with the default read options but io's --strict, and io's -d. */
int fcs_cli_io_open(fcs_reader **r, const char *path, const fcs_cli_io *io);

/** Read a whole text file (a matrix, gate or strategy file; "-" = stdin) into
 *  a NUL-terminated malloc'd buffer, at most max bytes, noting it as an input.
 *  Returns 0 (*text owned by the caller, *len without the NUL) or prints the
 *  error naming the file and returns FCS_CLI_EXIT_INPUT. */
int fcs_cli_read_file(const char *path, size_t max, char **text, size_t *len);

/** The largest channel value a parameter can take, by the rule the reader
 *  scales with: 10^f1*f2 for a log $PnE, $PnR/$PnG with a gain, else $PnR.
 *  This is the $PnR a tool writing FCS_VALUES_SCALED values must give it. May
 *  be infinite or 0 for a broken $PnE/$PnR: check before use. */
double fcs_cli_scaled_range(const fcs_param *p);

/* ---- unique parameter names --------------------------------------------------- */

/**
 * The names the tools give r's parameters in what they write: $PnN as the
 * reader has it ("P<n>", 1-based, when there is none), made unique. FCS
 * requires unique $PnN, and a table with two equal column names is
 * ambiguous, but the reader accepts a file that repeats one (warning
 * duplicate-name). The first parameter of a name keeps it; the next ones
 * become "NAME_2", "NAME_3", ... (skipping names the file already uses), so
 * every tool (fcs-export's header, the FCS the pipe tools write) shows the
 * same names for the same file.
 */
typedef struct fcs_cli_names {
    char **name;             /**< n names, all distinct */
    unsigned char *renamed;  /**< 1 where name differs from the reader's */
    size_t *same_as;         /**< for a renamed one: the parameter that keeps its name */
    size_t n, n_renamed;
} fcs_cli_names;

/** Fill nm for r's selected data set. 0, or -1 out of memory (nm emptied). */
int fcs_cli_names_init(fcs_cli_names *nm, const fcs_reader *r);
/** Release nm (a zeroed or freed record is fine). */
void fcs_cli_names_free(fcs_cli_names *nm);

/** Give w's parameters the unique names: output parameter k (of n_out) is input
 *  parameter map[k] (map NULL: the identity; -1: a new parameter, left alone).
 *  Only renamed parameters are touched, so call it after fcs_writer_set_param
 *  and before fcs_writer_begin. Returns a libfcs status. */
int fcs_cli_writer_set_names(fcs_writer *w, const fcs_cli_names *nm, const int *map, size_t n_out);

/** As fcs_cli_report_warnings, but the reader's duplicate-name warnings are
 *  replaced by one line per renamed parameter:
 *  "warning: duplicate-name: $P2N 'A' repeats $P1N: written as 'A_2'". */
void fcs_cli_report_warnings_names(const char *file, const fcs_reader *r, const fcs_cli_names *nm);

/* ---- text output files (-o for tables and JSON) ---------------------------- */

/** A text output: stdout, or a file written to "PATH.tmp.<pid>" and renamed
 *  into place by fcs_cli_out_commit(). */
typedef struct fcs_cli_out {
    FILE *f;          /**< write here */
    char *path;       /**< final path; NULL for stdout */
    char *tmp_path;   /**< temporary path; NULL for stdout */
} fcs_cli_out;

/** Open path ("-" or NULL = stdout). Returns 0, or prints the error and
 *  returns FCS_CLI_EXIT_INPUT; an output that is an input of the tool
 *  (fcs_cli_check_output) is such an error, and nothing is created. */
int fcs_cli_out_open(fcs_cli_out *o, const char *path);

/** Finish: for a file, flush, fsync, close and rename into place (returns 0
 *  or prints the error and returns 1). For stdout, only fflush, a broken
 *  pipe being recorded at once (the final check is fcs_cli_finish). */
int fcs_cli_out_commit(fcs_cli_out *o);

/** Give up: close and remove the temporary file (an existing PATH stays
 *  as it was). Accepts an unopened (zeroed) record. */
void fcs_cli_out_abort(fcs_cli_out *o);

/** Write a whole document of len bytes to path, as fcs_cli_out_open + fcs_cli_out_commit do
 *  (a file appears complete or not at all). Returns 0, or prints the error and returns the
 *  exit code. data stays the caller's. */
int fcs_cli_out_write_all(const char *path, const void *data, size_t len);

/* ---- provenance ------------------------------------------------------------- */

/** Set LIBFCS_TOOL ("fcs-cat 0.1.0") and LIBFCS_COMMAND (the command line)
 *  on w, or remove inherited ones when no_version is set. */
int fcs_cli_provenance(fcs_writer *w, int no_version);
/* A named input file gives the samples their names downstream (fcs-stats
 * reading stdin): set LIBFCS_SOURCES to input unless it is "-" or the
 * stream already carries one (an earlier fcs-cat). Returns an FCS_E* status. */
int fcs_cli_source_keyword(fcs_writer *w, const fcs_reader *r, const char *input);

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

/* ---- FCS outputs (the pipe stream) --------------------------------------------- */

/**
 * Open a libfcs writer for n_params parameters on output (-o FILE, or NULL
 * / "-" for stdout), float32 little-endian (the pipe format): refuses an
 * output that is an input (fcs_cli_check_output), guards the temporary file
 * (fcs_cli_guard_output). Returns 0, or prints the error and returns
 * FCS_CLI_EXIT_INPUT (*w NULL).
 */
int fcs_cli_writer_open(fcs_writer **w, const char *output, size_t n_params);

/**
 * Report the failure rc of a writer call (fcs_writer_set_*, _copy_keywords,
 * _begin, _write*) and say how to go on:
 *  - the reader of stdout went away (EPIPE): no message, the broken pipe is
 *    recorded, *quiet_end is set and 0 returned: stop writing and end with 0;
 *  - FCS_EIO (a failed write): the message names the output;
 *  - out of memory: "out of memory";
 *  - anything else is about what the input holds (two equal names, a $PnR
 *    that is not a number...): the message names input, the file it came
 *    from, with the writer's "<stdout>: " prefix removed.
 * Returns FCS_CLI_EXIT_INPUT in those cases. quiet_end may be NULL.
 */
int fcs_cli_writer_failed(const fcs_writer *w, int rc, const char *output, const char *input,
                          int *quiet_end);

/**
 * End an FCS output: after a failure (rc != 0) or a quiet end, abort the
 * writer (no partial -o FILE; an existing one keeps its bytes) and return
 * rc; otherwise close it (fsync and rename for a file), a broken pipe on
 * stdout being a quiet end (0). Returns the tool's status. w may be NULL.
 */
int fcs_cli_finish_writer(fcs_writer *w, const char *output, int rc, int quiet_end);

/**
 * Copy the events of a reader to a writer in chunks, through an optional
 * per-chunk function, in constant memory (the loop of fcs-cat, fcs-comp and
 * fcs-xform). Fill the record (fcs_cli_stream_init), then call
 * fcs_cli_stream_write for events the tool already holds (read ahead) and
 * fcs_cli_stream_run for the rest.
 */
typedef struct fcs_cli_stream fcs_cli_stream;

/** Process n events of ev (event by event, fcs_n_params(r) values each) in
 *  place or into a buffer of the tool's. Returns the events to write and
 *  their count in *n_out (0: none), or sets s->stop to end the input early. */
typedef const float *(*fcs_cli_chunk_fn)(fcs_cli_stream *s, float *ev, size_t n, size_t *n_out);

struct fcs_cli_stream {
    fcs_reader *r;          /**< input, its data set selected */
    const char *input;      /**< its name in messages */
    fcs_writer *w;          /**< output, begun */
    const char *output;     /**< -o FILE, NULL for stdout */
    float *buf;             /**< room for `chunk` events of the input */
    size_t chunk;           /**< events per read (and per call of fn) */
    int64_t limit;          /**< events to take from the input: its $TOT, or fewer */
    fcs_cli_chunk_fn fn;    /**< NULL: write the events as read */
    void *ctx;              /**< the tool's, for fn */
    fcs_cli_progress *prog; /**< NULL: none */
    int64_t prog_base;      /**< added to the count shown (events of earlier inputs) */
    int64_t done;           /**< events taken from the input so far */
    int stop;               /**< set by fn: the tool wants no more events */
    int quiet_end;          /**< the reader of stdout went away */
};

/** A stream of input r to writer w, taking all of r's events (limit $TOT),
 *  reading chunk events at a time into buf. */
void fcs_cli_stream_init(fcs_cli_stream *s, fcs_reader *r, const char *input, fcs_writer *w,
                         const char *output, float *buf, size_t chunk);

/** Pass n events of ev (already taken from the input, e.g. read ahead) through
 *  fn to the writer, chunk events at a time; they count in s->done. Returns 0
 *  (also after a quiet end: s->quiet_end) or 1 (reported). */
int fcs_cli_stream_write(fcs_cli_stream *s, float *ev, size_t n);

/** Read the input chunk by chunk until s->limit events, its end, s->stop or
 *  a quiet end; an input that ends before s->limit events is an error ("DATA
 *  ends after K of N events"), as is a read error (the reader's message,
 *  naming the input). Returns 0 or 1 (reported). */
int fcs_cli_stream_run(fcs_cli_stream *s);

/** Number of events per chunk for rows of `width` values: about 256 Ki values,
 *  at most 16384 events, at least 1. */
size_t fcs_cli_chunk_events(size_t width);

/** Remove every spillover keyword the reader looks at ($SPILLOVER, SPILL,
 *  $COMP and the $DFCiTOj of r) from w: for outputs whose events no longer
 *  match them. Returns a libfcs status. */
int fcs_cli_drop_spillover(fcs_writer *w, const fcs_reader *r);

/* ---- option values ------------------------------------------------------- */

/** Parse a whole decimal integer in [min, max] for option opt ("-n"). On
 *  failure prints a usage error and returns FCS_CLI_EXIT_USAGE; else 0. */
int fcs_cli_parse_int(const char *arg, const char *opt, int64_t min, int64_t max, int64_t *out);

/** Parse an unsigned 64-bit decimal (seeds). Same conventions. */
int fcs_cli_parse_u64(const char *arg, const char *opt, uint64_t *out);

/** Parse an image size for option opt ("--size"): "WxH", or "N" for N x N, each a whole
 *  decimal in [min, max]. Sets *w and *h only on success. Same conventions. */
int fcs_cli_parse_size(const char *arg, const char *opt, int64_t min, int64_t max, int64_t *w,
                       int64_t *h);

/* ---- operands ------------------------------------------------------------------ */

/** The input of a tool that reads one file: the only operand (of the n at operands, usually
 *  argc - optind and argv + optind), or "-" when there is none and stdin is not a terminal.
 *  More than one operand, or none with a terminal on stdin, is a usage error (returns
 *  FCS_CLI_EXIT_USAGE); else 0. */
int fcs_cli_one_input(int n, char **operands, const char **input);

/** The inputs of a tool that reads several files: the n operands, or the single file "-"
 *  when there are none and stdin is not a terminal (a usage error with a terminal: returns
 *  FCS_CLI_EXIT_USAGE); else 0. *files stays valid for the whole run (NULL-terminated when
 *  it is the "-" list, as argv is). */
int fcs_cli_inputs(int n, char **operands, char ***files, int *n_files);

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
