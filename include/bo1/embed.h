/* bo1/embed.h - text embeddings for convergence, novelty and duplicate detection.
 *
 * An embedder sends Voyage or OpenAI-compatible /v1/embeddings requests (batched) through
 * the model gateway's transport, or computes a local embedding (hashed word and character
 * n-grams, L2-normalised, fixed dimension) when no provider is configured. The embedder is
 * owned by the loop thread; the vector helpers are pure functions (any thread). */
#pragma once

#include <stddef.h>

#include "bo1/status.h"

struct bo1_llm;
struct bo1_embedder;

/* vecs: n borrowed vectors of dim floats, L2-normalised, valid only during the callback.
 * On failure @vecs is NULL, @n and @dim are 0. */
typedef void bo1_embed_done_cb(enum bo1_status st, const float *const *vecs, size_t n, size_t dim,
                               void *arg);

/**
 * Create an embedder using @gw's embedding settings (bo1_llm_options: embed_provider,
 * voyage_*, openai_*, embed_model, embed_dim, embed_batch) and transport.
 * @gw must outlive the embedder. Returns BO1_OK, BO1_NO_MEMORY or BO1_CONFIG_INVALID (*why).
 */
enum bo1_status bo1_embedder_new(struct bo1_llm *gw, struct bo1_embedder **out, char **why);

/** Cancels pending requests (their callbacks run with BO1_CANCELLED). NULL-safe. Thread: loop. */
void bo1_embedder_free(struct bo1_embedder *e);

/** "local", "voyage" or "openai". Static string. */
const char *bo1_embedder_provider_name(const struct bo1_embedder *e);

/**
 * Embed @n texts (copied; 1 <= n). Texts are sent in batches of embed_batch, in parallel.
 * If this returns non-OK the callback never runs; otherwise it runs exactly once, later
 * (never from inside this call), with every vector in input order or with the first error.
 * Thread: loop.
 */
enum bo1_status bo1_embed_texts(struct bo1_embedder *e, const char *session_id,
                                const char *const *texts, size_t n, bo1_embed_done_cb *cb,
                                void *arg);

/**
 * The local embedding of @text into @out (@dim floats, dim >= 1): features are lower-cased
 * words, word bigrams and character trigrams of each word, hashed (FNV-1a) into signed
 * buckets, log-scaled, then L2-normalised. Deterministic across runs and machines.
 * An empty text gives the zero vector. Thread: any.
 */
void bo1_embed_local(const char *text, float *out, size_t dim);

/** Cosine similarity of two vectors (0 when either is all zeros). Thread: any. */
double bo1_embed_cosine(const float *a, const float *b, size_t dim);

/** Scale @v to unit length in place (a zero vector stays zero). */
void bo1_embed_normalise(float *v, size_t dim);
