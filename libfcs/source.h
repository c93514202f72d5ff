/*
 * source.h — byte sources under the FCS reader (private).
 *
 * A source hands out views of byte ranges. Three kinds:
 *   - mapped: a regular file mapped with mmap, or a caller's memory image;
 *     views point straight into it (zero copy);
 *   - pread: a regular file read with pread(2) into an internal buffer
 *     (opts.no_mmap), random access;
 *   - stream: stdin/pipes and gzip (file, memory or pipe), read forward
 *     only into a buffer that holds just the current view (constant memory).
 * A stream can be spilled to an unlinked temporary file when the reader needs
 * random access; it then becomes mapped (or pread with no_mmap).
 * Format detection (gzip magic 1f 8b) is by content, never by name.
 */
#ifndef FCS_SOURCE_H
#define FCS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "fcs/common.h"

typedef struct fcs_source fcs_source;

/** Open path ("-" = stdin). Regular uncompressed files are mapped (or read
 *  with pread when no_mmap); everything else is a stream. */
int fcs_source_open_path(fcs_source **out, const char *path, int no_mmap, fcs_error *err);
/** Memory image (not copied); gzip content becomes a stream. */
int fcs_source_open_mem(fcs_source **out, const void *data, size_t len, int no_mmap,
                        fcs_error *err);
void fcs_source_close(fcs_source *s);

/** 1 when views may go backwards (mapped, pread, spilled). */
int fcs_source_seekable(const fcs_source *s);
/** 1 when the content was gzip-compressed. */
int fcs_source_is_gzip(const fcs_source *s);
/** Total size in bytes; FCS_OK when known (seekable sources), else -1. */
int fcs_source_size(const fcs_source *s, uint64_t *size);

/**
 * Make bytes [off, off+len) available. On FCS_OK, *p points to them and *got
 * is their count (< len only when the input ends first). The view stays
 * valid until the next call on this source. A stream cannot go back: asking
 * for an offset before the current view's start gives FCS_EUNSUPPORTED.
 * Errors: FCS_EIO, FCS_EFORMAT (corrupt gzip), FCS_ETRUNCATED (gzip stream
 * cut short), FCS_ENOMEM; err->msg has no file name.
 */
int fcs_source_view(fcs_source *s, uint64_t off, size_t len, const uint8_t **p, size_t *got,
                    fcs_error *err);

/**
 * Turn a stream into a seekable source by copying it to an unlinked
 * temporary file ($TMPDIR or /tmp). Only valid while the stream's view still
 * starts at offset 0. No-op on seekable sources.
 */
int fcs_source_spill(fcs_source *s, fcs_error *err);

#endif
