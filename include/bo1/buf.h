/* bo1/buf.h - a growable byte buffer with a hard size limit.
 *
 * Used for request bodies, provider responses and rendered reports. The content is
 * always NUL-terminated so it can be handed to string functions. Thread: the owner's. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "bo1/status.h"

struct bo1_buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;   /* bytes used, without the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* maximum len; 0 means unlimited */
};

/** Initialise caller storage. @limit 0 means no limit. Never fails. */
void bo1_buf_init(struct bo1_buf *b, size_t limit);

/** Release the storage; @b may be re-initialised afterwards. NULL-safe. */
void bo1_buf_fini(struct bo1_buf *b);

/** Forget the content, keep the allocation. */
void bo1_buf_reset(struct bo1_buf *b);

/**
 * Append @n bytes. Returns BO1_TOO_LARGE (content unchanged) when the limit would be
 * passed, BO1_NO_MEMORY when growth fails.
 */
enum bo1_status bo1_buf_append(struct bo1_buf *b, const void *p, size_t n);

/** Append a NUL-terminated string. Same statuses as bo1_buf_append(). */
enum bo1_status bo1_buf_puts(struct bo1_buf *b, const char *s);

/** printf-style append. Same statuses as bo1_buf_append(). */
enum bo1_status bo1_buf_printf(struct bo1_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** vprintf-style append. */
enum bo1_status bo1_buf_vprintf(struct bo1_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/** The content as a string: never NULL ("" when empty). Borrowed. */
const char *bo1_buf_str(const struct bo1_buf *b);

/** Hand the content over. Returns: caller frees; never NULL on BO1_OK. The buffer is empty. */
char *bo1_buf_take(struct bo1_buf *b);
