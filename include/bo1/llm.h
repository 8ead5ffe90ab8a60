/* bo1/llm.h - the model gateway: provider-neutral chat calls on the libuv loop.
 *
 * One gateway per process, owned by the loop thread. It speaks the Anthropic Messages API
 * or an OpenAI-compatible chat completions API (chosen by configuration), drives every
 * HTTP exchange through one curl multi handle attached to the loop (no thread per call),
 * caps the calls in flight, retries what MODEL_IO.md says to retry, trips a circuit breaker
 * per provider, and prices every call from zzz_important/pricing.json. Internals:
 * docs/internals/llm.md. */
#pragma once

#include <stddef.h>

#include "bo1/buf.h"
#include "bo1/status.h"

struct bo1_loop;
struct bo1_llm;
struct bo1_llm_call;

enum bo1_llm_tier {
    BO1_LLM_TIER_FAST,
    BO1_LLM_TIER_DEEP,
};

enum bo1_llm_provider {
    BO1_LLM_PROVIDER_ANTHROPIC,
    BO1_LLM_PROVIDER_OPENAI,
};

enum bo1_embed_provider {
    BO1_EMBED_PROVIDER_LOCAL, /* hashed n-grams computed in process; no network */
    BO1_EMBED_PROVIDER_VOYAGE,
    BO1_EMBED_PROVIDER_OPENAI,
};

/* Gateway settings, filled by the application from its configuration. Strings are
 * borrowed by bo1_llm_new(), which copies what it keeps. Zero/NULL fields take the
 * defaults of BO1_LLM_OPTIONS_DEFAULTS (bo1_llm_new() applies them). */
struct bo1_llm_options {
    enum bo1_llm_provider provider;
    const char *anthropic_base_url; /* default "https://api.anthropic.com" */
    const char *anthropic_api_key;  /* sent as x-api-key */
    const char *anthropic_version;  /* default "2023-06-01" */
    const char *openai_base_url;    /* default "https://api.openai.com" */
    const char *openai_api_key;     /* sent as Authorization: Bearer; may be NULL */
    const char *model_fast;         /* required */
    const char *model_deep;         /* required */
    unsigned timeout_ms;            /* per attempt; default 60000 */
    unsigned deadline_ms;           /* per call, all attempts and waits; default 300000 */
    unsigned max_inflight;          /* HTTP exchanges at once; default 64; excess queue FIFO */
    unsigned max_attempts;          /* 1..5; default 5 */
    unsigned backoff_base_ms;       /* default 500 */
    unsigned backoff_cap_ms;        /* default 8000 */
    unsigned breaker_threshold;     /* consecutive failures that open it; default 5 */
    unsigned breaker_cooldown_ms;   /* open -> half-open; default 30000 */
    const char *pricing_path;       /* default "zzz_important/pricing.json" */
    size_t max_reply_bytes;         /* default 8 MiB */
    /* Embeddings (bo1/embed.h). */
    enum bo1_embed_provider embed_provider;
    const char *voyage_base_url; /* default "https://api.voyageai.com" */
    const char *voyage_api_key;  /* Bearer */
    const char *embed_model;     /* voyage/openai model; default "voyage-3.5" */
    unsigned embed_dim;          /* local embedding dimension; default 256 */
    unsigned embed_batch;        /* texts per request; default 64 */
    unsigned long long rng_seed; /* jitter seed; 0 = from the clock */
};

#define BO1_LLM_OPTIONS_DEFAULTS                                                                   \
    (struct bo1_llm_options)                                                                       \
    {                                                                                              \
        .provider = BO1_LLM_PROVIDER_ANTHROPIC, .anthropic_base_url = "https://api.anthropic.com", \
        .anthropic_version = "2023-06-01", .openai_base_url = "https://api.openai.com",            \
        .timeout_ms = 60000, .deadline_ms = 300000, .max_inflight = 64, .max_attempts = 5,         \
        .backoff_base_ms = 500, .backoff_cap_ms = 8000, .breaker_threshold = 5,                    \
        .breaker_cooldown_ms = 30000, .pricing_path = "zzz_important/pricing.json",                \
        .max_reply_bytes = 8u << 20, .embed_provider = BO1_EMBED_PROVIDER_LOCAL,                   \
        .voyage_base_url = "https://api.voyageai.com", .embed_model = "voyage-3.5",                \
        .embed_dim = 256, .embed_batch = 64,                                                       \
    }

struct bo1_llm_block {
    const char *text;
    int cache; /* Anthropic: cache_control ephemeral on this block */
};

struct bo1_llm_message {
    const char *role; /* "user" or "assistant" */
    const char *content;
};

struct bo1_llm_request {
    const char *task;       /* MODEL_IO task name, sent as X-Bo1-Task */
    const char *session_id; /* sent as X-Bo1-Session */
    enum bo1_llm_tier tier;
    const char *model; /* NULL = the tier's configured model */
    const struct bo1_llm_block *system;
    size_t n_system;
    const struct bo1_llm_message *messages;
    size_t n_messages;
    unsigned max_tokens; /* 0 = 1024 */
    double temperature;
    const char *const *stop;
    size_t n_stop;
    unsigned deadline_ms; /* 0 = the gateway's default */
};

struct bo1_llm_usage {
    long input;       /* uncached input tokens */
    long output;      /* output tokens */
    long cache_write; /* input tokens written to the prompt cache */
    long cache_read;  /* input tokens read from the prompt cache */
};

struct bo1_llm_response {
    enum bo1_status status; /* BO1_OK or a typed error (UPSTREAM_*, SPEND_LIMIT, CIRCUIT_OPEN...) */
    const char *text;       /* "" on error */
    const char *stop_reason; /* "end_turn"|"max_tokens"|"stop_sequence"|... ("" on error) */
    struct bo1_llm_usage usage;
    double cost_usd;
    int cost_known; /* 0 when the model has no price: cost_usd is then 0 but unknown */
    const char *model;
    const char *provider;      /* "anthropic" or "openai" */
    const char *request_id;    /* provider request id ("" when none was sent) */
    unsigned latency_ms;       /* from bo1_llm_call() to the callback */
    unsigned attempts;         /* HTTP attempts made (0 if none was sent) */
    long http_status;          /* of the last attempt; 0 when no HTTP response */
    const char *error_message; /* "" on success; human sentence on error */
};

/** The response and its strings are borrowed: valid only during the callback. */
typedef void bo1_llm_done_cb(const struct bo1_llm_response *resp, void *arg);

/**
 * Create the gateway on @loop. Loads and validates the price table (an error names the
 * file, the model and the field).
 * Returns BO1_OK and *out, or BO1_CONFIG_INVALID with a malloc'd reason in *why (if @why
 * is not NULL), or BO1_NO_MEMORY / BO1_INTERNAL. Thread: loop (or before it runs).
 */
enum bo1_status bo1_llm_new(struct bo1_loop *loop, const struct bo1_llm_options *opt,
                            struct bo1_llm **out, char **why);

/**
 * Free the gateway. Calls in flight, waiting or queued are cancelled: their callbacks run
 * (with BO1_CANCELLED) before this returns. May be called from inside a gateway callback
 * (the gateway then goes away when that callback returns). Its libuv handles are closed and
 * their memory is released when the loop next runs (bo1_loop_free() runs it). NULL-safe.
 * Thread: the loop thread, or any thread once the loop has stopped running.
 */
void bo1_llm_free(struct bo1_llm *gw);

/**
 * Start a model call. The request's memory is copied; @rq may be freed on return.
 * If this returns non-OK the callback never runs; otherwise it runs exactly once, later
 * (never from inside this function), also on cancel (with BO1_CANCELLED).
 * Fails with BO1_BAD_REQUEST (no messages, unknown role), BO1_CIRCUIT_OPEN is reported
 * through the callback like every other upstream failure. @handle_out may be NULL.
 * Thread: loop.
 */
enum bo1_status bo1_llm_call(struct bo1_llm *gw, const struct bo1_llm_request *rq,
                             bo1_llm_done_cb *cb, void *arg, struct bo1_llm_call **handle_out);

/**
 * Cancel a call: its callback runs with BO1_CANCELLED before this returns, and the handle
 * is invalid afterwards. The handle is valid only until its callback starts; do not
 * cancel from inside the call's own callback. Thread: loop.
 */
void bo1_llm_cancel(struct bo1_llm_call *call);

/** The model id a tier maps to. Borrowed, valid while @gw lives. */
const char *bo1_llm_tier_model(const struct bo1_llm *gw, enum bo1_llm_tier tier);

/** "anthropic" or "openai". Static string. */
const char *bo1_llm_provider_name(const struct bo1_llm *gw);

/**
 * Append the gateway's counters in Prometheus text format to @out: calls by provider,
 * model, task and outcome; tokens by model and kind; cost by model; attempts; latency sum;
 * calls in flight and queued; breaker state per provider.
 * Thread: any (reads a snapshot under the stats lock).
 */
enum bo1_status bo1_llm_metrics(struct bo1_llm *gw, struct bo1_buf *out);

/* ---- Lower-level JSON POST, shared with bo1/embed.h ---------------------------------- */

/* One finished HTTP exchange, after retries. Borrowed during the callback. */
struct bo1_llm_http_result {
    enum bo1_status status; /* BO1_OK for a 2xx answer */
    long http_status;       /* last attempt's; 0 when no response */
    const char *body;       /* NUL-terminated, "" when none */
    size_t body_len;
    const char *request_id; /* "" when none */
    unsigned attempts;
    unsigned latency_ms;
    const char *error_message; /* "" on success */
};

typedef void bo1_llm_http_cb(const struct bo1_llm_http_result *res, void *arg);

struct bo1_llm_post {
    const char *provider; /* breaker name: "anthropic", "openai" or "voyage" */
    const char *model;    /* for the counters only; may be NULL */
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated, may be NULL */
    const char *body;
    size_t body_len;
    const char *task;       /* X-Bo1-Task */
    const char *session_id; /* X-Bo1-Session */
    unsigned deadline_ms;   /* 0 = default */
};

/**
 * POST a JSON body with the gateway's transport, retry policy and circuit breakers.
 * Same callback contract as bo1_llm_call(); cancel with bo1_llm_cancel(). Thread: loop.
 */
enum bo1_status bo1_llm_post_json(struct bo1_llm *gw, const struct bo1_llm_post *p,
                                  bo1_llm_http_cb *cb, void *arg, struct bo1_llm_call **handle_out);

/** The options the gateway was created with (strings owned by the gateway). */
const struct bo1_llm_options *bo1_llm_options_get(const struct bo1_llm *gw);

/** The loop the gateway runs on. Borrowed. */
struct bo1_loop *bo1_llm_loop(const struct bo1_llm *gw);
