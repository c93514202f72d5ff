/*
 * fcs/gatefile.h — the libfcs gate file: a small text format for gating
 * strategies that people write by hand (docs/gate-file.md), conversion both
 * ways with Gating-ML 2.0, and the adaptation of a strategy to a stream
 * that is already compensated or transformed.
 *
 * Usage sketch (gate a file with a strategy in either format)
 *
 *     fcs_strategy *s, *adapted;
 *     fcs_error err;
 *     if (fcs_gatefile_read(&s, "gates.txt", &err) != FCS_OK)   // text or Gating-ML
 *         fprintf(stderr, "%s\n", err.msg);                     // "gates.txt:12:17: ..."
 *     if (fcs_strategy_for_stream(s, r, &adapted, &err) != FCS_OK) ... // no double application
 *     // bind `adapted` with fcs_gating_new() as in fcs/gate.h
 *
 * The text format (full reference: docs/gate-file.md). One statement per
 * line; '#' starts a comment; a line may continue while a '(' or '[' is
 * open. Children are indented (spaces only) below their parent population:
 *
 *     transform L = logicle(T=262144, W=0.5, M=4.5, A=0)
 *     Lymphocytes: polygon FSC-A, SSC-A [(20000, 5000), (150000, 5000), (150000, 90000)]
 *       T: rectangle L(FITC-A@FCS) [0.45, )
 *         CD4: rectangle L(APC-A@FCS) [0.5, ), L(BV421-A@FCS) [, 0.4)
 *       B: rectangle asinh(cofactor=150)(PE-A@FCS) [3, )
 *
 * A dimension is a channel name as in the file ($PnN; quoted with "..."
 * when it holds blanks or punctuation), optionally compensated (NAME@FCS,
 * NAME@MATRIX; no '@' = uncompensated) and transformed by a declared
 * transform (L(NAME)) or an inline one (logicle(NAME) with the defaults,
 * asinh(cofactor=150)(NAME)); ratio(R) is the fratio transform R.
 * Gates: rectangle (alias range) with [min, max) sides (either may be
 * left empty), polygon, ellipsoid, quadrant (with its quadrants indented
 * below it), and, or, not. Transforms and matrices are declared before
 * their first use, at the start of a line.
 *
 * Canonical text. fcs_gatefile_write*() produce one canonical text per
 * strategy: declarations first (matrices, then transforms, each by id; an
 * inline transform gets an id: its kind name, or kind_2, ...), then the
 * gates as a tree, siblings in the strategy's order, two spaces per level,
 * numbers as the shortest decimals that read back to the same doubles. So
 * text -> strategy -> Gating-ML -> strategy -> text gives identical text,
 * and every conversion keeps the membership of every event.
 *
 * Errors. Every refusal is one line "NAME:LINE:COL: problem" (NAME is the
 * path, or the name given to the _mem functions; COL is 1-based, in bytes),
 * or "NAME:LINE: problem" for reference problems found once the whole file
 * is read (an unknown boolean operand, a cycle). The library prints nothing.
 */
#ifndef FCS_GATEFILE_H
#define FCS_GATEFILE_H

#include <stddef.h>

#include "fcs/common.h"
#include "fcs/gate.h"
#include "fcs/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Formats of a gating strategy on disk. */
typedef enum fcs_gatefile_format {
    FCS_GATEFILE_AUTO = 0,    /**< detect from the content (reading only) */
    FCS_GATEFILE_TEXT = 1,    /**< the libfcs gate file (docs/gate-file.md) */
    FCS_GATEFILE_GATINGML = 2 /**< Gating-ML 2.0 XML */
} fcs_gatefile_format;

/** Largest gate file read (bytes); larger inputs are refused (FCS_EFORMAT). */
#define FCS_GATEFILE_MAX ((size_t)64 << 20)

/**
 * Format of a document from its content: FCS_GATEFILE_GATINGML when the
 * first byte after an optional UTF-8 byte order mark and white space is
 * '<' (XML), else FCS_GATEFILE_TEXT. (A text file never starts with '<':
 * the writer quotes such names.)
 */
FCS_EXPORT fcs_gatefile_format fcs_gatefile_detect(const void *data, size_t len);

/**
 * Read a gating strategy from len bytes in either format (format
 * FCS_GATEFILE_AUTO detects it; TEXT or GATINGML forces one). name is used
 * in messages (NULL: "<gates>"). The result is validated (every reference
 * resolves, no cycle). On FCS_OK *out is a new strategy (fcs_strategy_free);
 * otherwise *out is NULL and err (may be NULL) holds the message:
 * FCS_EFORMAT (syntax, values), FCS_ENOTFOUND (unknown transform, matrix,
 * operand or parent), FCS_EINVAL (a duplicate id, bad arguments),
 * FCS_ENOMEM. The text parser accepts any bytes: NUL bytes, invalid UTF-8
 * and overlong inputs are refused with a message, never a crash.
 */
FCS_EXPORT int fcs_gatefile_read_mem(fcs_strategy **out, const void *data, size_t len,
                                     const char *name, fcs_gatefile_format format,
                                     fcs_error *err) FCS_WARN_UNUSED;

/**
 * Read a gate file (path, or "-" for standard input) in either format,
 * detected from the content. Files over FCS_GATEFILE_MAX bytes are refused.
 * FCS_EIO when the file cannot be read (the message names it and the
 * system error); otherwise as fcs_gatefile_read_mem().
 */
FCS_EXPORT int fcs_gatefile_read(fcs_strategy **out, const char *path,
                                 fcs_error *err) FCS_WARN_UNUSED;

/**
 * Write s in format TEXT (the canonical text above) or GATINGML
 * (fcs_gatingml_write_mem) into a malloc'd NUL-terminated buffer: *out
 * (free() it), *len bytes without the NUL. The strategy must validate
 * (FCS_ENOTFOUND / FCS_EFORMAT otherwise). Text export knows every
 * transform of fcs/transform.h; Gating-ML export refuses those it has no
 * element for (linear, log, asinh, biex: FCS_EUNSUPPORTED).
 */
FCS_EXPORT int fcs_gatefile_write_mem(const fcs_strategy *s, fcs_gatefile_format format, char **out,
                                      size_t *len, fcs_error *err) FCS_WARN_UNUSED;

/**
 * Write s to path ("-" = standard output) in format TEXT or GATINGML. A
 * path is written to PATH.tmp.<pid> in the same folder, flushed, synced and
 * renamed into place when complete; on any error nothing is left behind
 * and an existing PATH is untouched. FCS_EIO on write errors.
 */
FCS_EXPORT int fcs_gatefile_write(const fcs_strategy *s, const char *path,
                                  fcs_gatefile_format format, fcs_error *err) FCS_WARN_UNUSED;

/**
 * Convert a gate file: read in_path (either format, detected), write
 * out_path in format TEXT or GATINGML (as fcs_gatefile_write). Messages
 * name the file concerned.
 */
FCS_EXPORT int fcs_gatefile_convert(const char *in_path, const char *out_path,
                                    fcs_gatefile_format format, fcs_error *err) FCS_WARN_UNUSED;

/**
 * The population tree in display order (as the text writer lists it): a
 * population is followed by its descendants, siblings keep the strategy's
 * order, quadrants follow their quadrant gate. order[k] is a population
 * index (fcs_strategy_n_populations order), depth[k] its depth (0 for a
 * population without parent). Both arrays need fcs_strategy_n_populations(s)
 * entries; depth may be NULL. FCS_ENOTFOUND / FCS_EFORMAT when the
 * strategy does not validate, FCS_ENOMEM.
 */
FCS_EXPORT int fcs_strategy_population_tree(const fcs_strategy *s, size_t *order,
                                            size_t *depth) FCS_WARN_UNUSED;

/**
 * No double application: a copy of s for gating the selected data set of
 * r, whose channels may already carry compensation and transforms applied
 * by fcs-comp and fcs-xform, as recorded in the keywords LIBFCS_COMP and
 * LIBFCS_PnTRANSFORM (docs/pipe-format.md).
 *
 * For each gate dimension and its channel ($PnN, exact, else ignoring
 * case, as fcs_gating_new matches):
 *  - transform: when the dimension asks for transform X and the channel
 *    carries exactly X (the same canonical string), X is dropped from the
 *    copy; when the channel carries anything else (another transform, a
 *    chain, or a transform the dimension does not ask for), refused;
 *  - compensation: a channel that a LIBFCS_COMP record names is
 *    compensated by it. A dimension asking for compensation C uses the
 *    values as they are when the record is C: "FCS" is a record made from
 *    the data set's own spillover keyword; a matrix of the strategy is a
 *    square compensation record whose matrix is exactly the strategy's
 *    (same channels, same values). Any other combination is refused:
 *    uncompensated values asked of a compensated channel, a different
 *    matrix, a spectral unmixing (which cannot be checked) asked for a
 *    strategy matrix, compensation asked of a channel that is transformed
 *    but not compensated, or a compensation that would read compensated or
 *    transformed channels. The channels an unmixing created (its
 *    fluorochromes) have no raw form: a dimension that asks for no
 *    compensation ("uncompensated", or "FCS" without a spillover) uses them
 *    as they are;
 *  - otherwise the dimension is kept, and fcs_gating_new/run apply its
 *    compensation and transform to the raw channel.
 * Ratio dimensions need both channels untransformed; their compensation
 * follows the same rules. A dimension whose channel is not in the data set
 * is kept (fcs_gating_new reports it). A stream without these keywords gets
 * an exact copy. Gate, population and transform ids, their order and
 * source lines are kept.
 *
 * On FCS_OK *out is a new strategy (free with fcs_strategy_free); on error
 * *out is NULL and err holds one line naming the gate, the channel and the
 * keyword: FCS_EFORMAT for a refused combination or an unreadable
 * LIBFCS_COMP, FCS_ENOTFOUND / FCS_EFORMAT when s does not validate,
 * FCS_ENOMEM.
 */
FCS_EXPORT int fcs_strategy_for_stream(const fcs_strategy *s, const fcs_reader *r,
                                       fcs_strategy **out, fcs_error *err) FCS_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
