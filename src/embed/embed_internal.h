/* embed_internal.h - the embeddings reply decoder, exposed to tests/unit/test_embed.c. */
#pragma once

#include <stddef.h>

#include "bo1/status.h"

/**
 * Decode a Voyage / OpenAI-compatible embeddings reply holding exactly @n vectors.
 * On BO1_OK *out is a malloc'd n*dim array in input order (by "index"), L2-normalised, and
 * *dim is set. Survives any bytes: otherwise BO1_UPSTREAM_BAD_REPLY with a reason in @why.
 */
enum bo1_status embed_decode(const char *body, size_t len, size_t n, float **out, size_t *dim,
                             char *why, size_t why_len);
