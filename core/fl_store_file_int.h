/* fixlua — knobs of the file store (fl_store_file.c) that only tests turn.
 *
 * fl_store_file_open() uses the defaults; tests use fl_store_file_open_opts() to force the pwrite()
 * path that a file system without posix_fallocate() gets, and to make the preallocation chunks
 * small enough that growth is cheap to exercise. Not part of the public API. */
#ifndef FL_STORE_FILE_INT_H
#define FL_STORE_FILE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "fl_store.h"

struct fl_store_file_opts {
    bool no_map;            /* one pwrite() per commit instead of writing through the mapping */
    uint64_t chunk_min;     /* smallest growth step in bytes, 0: 1 MiB; rounded up to a page */
    uint64_t chunk_max;     /* largest growth step in bytes, 0: 64 MiB; rounded up to a page */
    bool read_only;         /* fl_store_file_open_read() */
};

/* fl_store_file_open() with opts (NULL: the defaults). Same contract. */
FL_MUST_CHECK int fl_store_file_open_opts(const char *dir, const char *name,
                                          enum fl_store_sync sync, int64_t now,
                                          const struct fl_store_file_opts *opts,
                                          struct fl_store **out, char *errbuf, size_t errlen);

#endif
