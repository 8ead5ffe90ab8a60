/* bo1/auth.h - bearer API keys. Keys are hashed (SHA-256) when loaded and only the hashes
 * are kept; a caller's identity ("owner") is the first 16 hex digits of its key's hash.
 * Immutable after creation. Thread: any. */
#pragma once

#include "bo1/status.h"

struct bo1_auth;

/** Hash the comma-separated @keys ("" = open API: every caller is owner "public"). */
enum bo1_status bo1_auth_new(const char *keys, struct bo1_auth **out);
void bo1_auth_free(struct bo1_auth *a);

/** True when no keys are configured. */
int bo1_auth_open(const struct bo1_auth *a);

/**
 * Check an Authorization header value (may be NULL). On BO1_OK @owner gets the caller's id
 * (17 bytes with NUL). Returns BO1_UNAUTHORIZED when missing, malformed or unknown.
 */
enum bo1_status bo1_auth_check(const struct bo1_auth *a, const char *authorization, char owner[17]);
