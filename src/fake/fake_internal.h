/* fake_internal.h - private interfaces shared by the files of bo1-fake-llm.
 *
 * The fake model provider is a stand-alone program (not part of libbo1core). Its shared
 * state (faults, scripted answers, request log, prompt cache) lives in one struct fake_state
 * guarded by one mutex; answer generation is pure and runs without the lock. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <pthread.h>

#include "bo1/status.h"

/* ---- hashing and deterministic randomness (answers.c) ---- */

/** 64-bit FNV-1a of @len bytes continued from @h (start with FAKE_HASH_INIT). */
#define FAKE_HASH_INIT 14695981039346656037ULL
uint64_t fake_hash(uint64_t h, const void *p, size_t len);
uint64_t fake_hash_str(uint64_t h, const char *s);
/** splitmix64 step: a small deterministic generator. */
uint64_t fake_rand_next(uint64_t *state);
/** Uniform double in [0, 1). */
double fake_rand_unit(uint64_t *state);

/* ---- answers (answers.c) ---- */

/**
 * Generate the answer text for MODEL_IO task @task (NULL or unknown -> a short generic
 * text) from the whole prompt text @prompt (system blocks and messages joined).
 * Deterministic in (@seed, @task, @prompt).
 * Returns: caller frees; NULL only when out of memory.
 */
char *fake_answer_generate(uint64_t seed, const char *task, const char *prompt);

/* ---- embeddings (answers.c) ---- */

/** Deterministic, L2-normalised hashed n-gram embedding of @text into @out[@dim]. */
void fake_embed(const char *text, float *out, size_t dim);

/* ---- faults (state.c) ---- */

enum fake_error {
    FAKE_ERR_NONE,      /* latency only */
    FAKE_ERR_429,       /* rate_limit_error with retry-after headers */
    FAKE_ERR_SPEND,     /* 429 with error.details.error_code = enforced_spend_limit_reached */
    FAKE_ERR_500,       /* api_error */
    FAKE_ERR_529,       /* overloaded_error */
    FAKE_ERR_MALFORMED, /* 200 with a body that is not JSON */
    FAKE_ERR_TRUNCATED, /* Content-Length larger than the bytes sent, then close */
    FAKE_ERR_RESET,     /* TCP reset without a response */
    FAKE_ERR_HANG,      /* no answer for hang_ms, then the connection is closed */
};

struct fake_fault {
    uint64_t id;
    char *task;     /* NULL = any task */
    char *session;  /* NULL = any session */
    char *path;     /* NULL = any model endpoint */
    char *contains; /* NULL = any body; else the raw request body must contain it */
    long latency_ms, latency_min_ms, latency_max_ms; /* -1 = not set */
    enum fake_error error;
    double rate;         /* < 0 = not set (every match fires while count lasts) */
    long count;          /* < 0 = unlimited; otherwise firings left */
    long retry_after_s;  /* -1 = no header */
    long retry_after_ms; /* -1 = no header */
    int should_retry;    /* -1 = no header, 0 = "false", 1 = "true" */
    long hang_ms;
    uint64_t matched; /* matching requests seen, drives the deterministic rate */
    struct fake_fault *next;
};

/** What to do with one model request, decided under the lock. */
struct fake_decision {
    long latency_ms;
    enum fake_error error;
    long retry_after_s, retry_after_ms;
    int should_retry;
    long hang_ms;
    uint64_t fault_id; /* 0 when no fault fired */
};

/**
 * Parse one fault rule from JSON (schema in docs/internals/fake-llm.md).
 * Returns BO1_OK and a new rule in *out (caller frees with fake_fault_free), or
 * BO1_BAD_FIELD with a malloc'd reason in *why.
 */
enum bo1_status fake_fault_from_json(const json_t *j, struct fake_fault **out, char **why);
/** Parse the --fault flag: JSON, or key=value pairs separated by commas. */
enum bo1_status fake_fault_from_spec(const char *spec, struct fake_fault **out, char **why);
void fake_fault_free(struct fake_fault *f);
json_t *fake_fault_to_json(const struct fake_fault *f);
const char *fake_error_name(enum fake_error e);

/* ---- shared state (state.c) ---- */

struct fake_script {
    char *task;
    char *session; /* NULL = any */
    char *text;
    struct fake_script *next;
};

struct fake_state {
    pthread_mutex_t lock;
    uint64_t seed;
    const char *api_key; /* NULL = no check; borrowed from argv */
    size_t embed_dim;
    long default_latency_ms, default_latency_min_ms, default_latency_max_ms;
    size_t max_requests;

    struct fake_fault *faults; /* in match order */
    uint64_t next_fault_id;
    struct fake_script *scripts, **scripts_tail;

    json_t **log; /* ring of recorded requests */
    size_t log_start, log_len;
    uint64_t seq;

    uint64_t *cache; /* open-addressing set of prefix hashes (0 = empty) */
    size_t cache_cap, cache_len;
    uint64_t latency_draws;
};

enum bo1_status fake_state_init(struct fake_state *st, size_t max_requests);
void fake_state_fini(struct fake_state *st);

/** Append @f to the rule list. Takes @f. Lock held by the caller. */
void fake_state_add_fault_locked(struct fake_state *st, struct fake_fault *f);
void fake_state_clear_faults_locked(struct fake_state *st);

/** Decide latency and fault for one request. Lock held by the caller. */
void fake_state_decide_locked(struct fake_state *st, const char *path, const char *task,
                              const char *session, const char *body, struct fake_decision *d);

/** Queue scripted texts. Lock held. Returns BO1_NO_MEMORY on failure. */
enum bo1_status fake_state_add_script_locked(struct fake_state *st, const char *task,
                                             const char *session, const char *text);
void fake_state_clear_scripts_locked(struct fake_state *st);
/** Pop the first scripted text matching (@task, @session). Returns: caller frees, or NULL. */
char *fake_state_pop_script_locked(struct fake_state *st, const char *task, const char *session);

/** Record a request; assigns its seq. Takes @rec. Lock held. */
void fake_state_record_locked(struct fake_state *st, json_t *rec);
/** Recorded requests matching the filters (NULL = any). Returns: new reference. */
json_t *fake_state_requests_locked(struct fake_state *st, const char *task, const char *session,
                                   const char *path);
void fake_state_clear_requests_locked(struct fake_state *st);

/** Insert @h into the prompt-cache set. Returns 1 if it was already present. Lock held. */
int fake_state_cache_seen_locked(struct fake_state *st, uint64_t h);
int fake_state_cache_has_locked(const struct fake_state *st, uint64_t h);
/** Forget every cached prefix. Lock held. */
void fake_state_clear_cache_locked(struct fake_state *st);
