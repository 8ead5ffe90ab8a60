/* parse_internal.h - private helpers shared by the files of the parse module. */
#pragma once

#include <stddef.h>

/* Copy @len bytes of @text into a new NUL-terminated buffer that is valid UTF-8 without
 * NUL: each NUL or byte that does not start a valid sequence becomes U+FFFD, and a leading
 * byte-order mark is dropped. Returns: caller frees; NULL when out of memory. */
char *parse_sanitize(const char *text, size_t len, size_t *out_len);

/* Store a malloc'd, printf-formatted reason in *why when why != NULL (NULL if that
 * allocation fails). Never fails. */
void parse_set_why(char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
