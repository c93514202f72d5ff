/*
 * writer_internal.h — pieces of the FCS 3.1 writer exposed to its unit tests
 * (not installed, not exported). They let the tests check the HEADER rule for
 * offsets above 99,999,999 without writing 100 MB.
 */
#ifndef FCS_WRITER_INTERNAL_H
#define FCS_WRITER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fcs/writer.h"

/* Size of the FCS HEADER the writer emits (version, blanks, six offsets). */
#define FCS_WRITER_HEADER_LEN 58
/* Largest offset an 8-byte HEADER field can hold (FCS 3.1 section 3.1). */
#define FCS_WRITER_HEADER_MAX UINT64_C(99999999)

/*
 * Fill hdr (58 bytes, not NUL-terminated) with "FCS3.1", four blanks and the
 * six right-justified offsets. data_begin/data_end above 99,999,999 are both
 * written as 0 (the real ones live in $BEGINDATA/$ENDDATA). Returns 0, or -1
 * when the TEXT offsets do not fit (FCS 3.1 requires them in the HEADER).
 */
int fcs_writer_format_header(char hdr[FCS_WRITER_HEADER_LEN], uint64_t text_begin,
                             uint64_t text_end, uint64_t data_begin, uint64_t data_end);

/*
 * Pick the TEXT delimiter for these keywords: a byte found in no name and,
 * if possible, in no value; otherwise one found in no name and at the start
 * of no value (it is then escaped by doubling). Returns the byte, or -1 when
 * none exists.
 */
int fcs_writer_choose_delimiter(const char *const *names, const char *const *values, size_t n);

/*
 * Render HEADER + primary TEXT exactly as fcs_writer_begin / close would for
 * n_events events (n_events >= 0), into a malloc'd buffer (*out, *len).
 * *data_begin / *data_end receive the DATA offsets written in the TEXT.
 * Used by the writer itself and by tests (with a huge n_events).
 */
int fcs_writer_render_head(fcs_writer *w, int64_t n_events, char **out, size_t *len,
                           uint64_t *data_begin, uint64_t *data_end);

#endif
