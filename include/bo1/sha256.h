/* bo1/sha256.h - SHA-256 (FIPS 180-4), for hashing API keys and request bodies. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** Hash @len bytes of @data into @out (32 bytes). Thread: any. */
void bo1_sha256(const void *data, size_t len, uint8_t out[32]);

/** Hash into lower-case hex (64 characters plus NUL). */
void bo1_sha256_hex(const void *data, size_t len, char out[65]);

/** Compare two equal-length byte strings in constant time. Returns 1 when equal. */
int bo1_ct_equal(const void *a, const void *b, size_t len);
