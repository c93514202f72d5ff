/*
 * fcs/common.h — what every libfcs module shares: export macro, status codes,
 * the error record used by functions that have no handle, and version queries.
 *
 * Conventions used throughout the API
 *   - Functions that can fail return an int status: FCS_OK (0) or a negative
 *     FCS_E* code. Functions that produce a count return it (>= 0) or a
 *     negative FCS_E* code.
 *   - Objects with a handle keep a one-line message describing the last error
 *     (fcs_errmsg() for readers, fcs_writer_errmsg() for writers, ...).
 *   - Functions without a handle take an optional `fcs_error *err` (may be
 *     NULL) and fill it on failure.
 *   - Every object has exactly one creator and one destroyer; destroyers
 *     accept NULL.
 *   - The library never prints, never exits and keeps no global mutable state.
 */
#ifndef FCS_COMMON_H
#define FCS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "fcs/version.h"

#if defined(FCS_BUILDING) && defined(__GNUC__)
#define FCS_EXPORT __attribute__((visibility("default")))
#else
#define FCS_EXPORT
#endif

#if defined(__GNUC__)
#define FCS_WARN_UNUSED __attribute__((warn_unused_result))
#define FCS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FCS_WARN_UNUSED
#define FCS_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. 0 is success; every error is negative. */
enum fcs_status {
    FCS_OK = 0,
    FCS_EIO = -1,          /**< reading or writing failed (errno-level problem) */
    FCS_EFORMAT = -2,      /**< input is not valid FCS / malformed content */
    FCS_EUNSUPPORTED = -3, /**< valid but unsupported content (e.g. $MODE U) */
    FCS_ENOMEM = -4,       /**< out of memory */
    FCS_EINVAL = -5,       /**< bad argument from the caller */
    FCS_ERANGE = -6,       /**< index or value out of range */
    FCS_ESTRICT = -7,      /**< a repairable deviation refused in strict mode */
    FCS_ENOTFOUND = -8,    /**< named item (keyword, channel, gate) not found */
    FCS_ENUMERIC = -9,     /**< numerical failure (singular matrix, no convergence) */
    FCS_ETRUNCATED = -10   /**< input ends before the data it announces */
};

/** Short static description of a status code ("malformed input", ...). */
FCS_EXPORT const char *fcs_strerror(int status);

/** Maximum length of an error message, including the terminating NUL. */
#define FCS_ERRMSG_MAX 512

/** Error record for functions without a handle. */
typedef struct fcs_error {
    int code;                 /**< last status (FCS_OK when no error) */
    char msg[FCS_ERRMSG_MAX]; /**< one line, no trailing newline */
} fcs_error;

/** Library version string, e.g. "0.1.0". */
FCS_EXPORT const char *fcs_lib_version(void);
/** zlib version the library was built against. */
FCS_EXPORT const char *fcs_zlib_version(void);
/** HDF5 version the library was built against, e.g. "1.10.8". */
FCS_EXPORT const char *fcs_hdf5_version(void);

#ifdef __cplusplus
}
#endif
#endif
