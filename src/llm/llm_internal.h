/* llm_internal.h - private pieces of the model gateway shared by the files of src/llm and exposed
 * to tests/unit/test_llm.c: retry classification, backoff, the circuit breaker, the
 * provider encoders/decoders and the curl-on-libuv transport. */
#pragma once

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "bo1/buf.h"
#include "bo1/llm.h"
#include "bo1/status.h"

/* ---- retry.c ------------------------------------------------------------------------ */

/* What one HTTP attempt produced, as the classifier needs it. */
struct llm_attempt {
    int curl_code;              /* CURLcode; 0 when an HTTP response arrived whole */
    int deadline_hit;           /* the attempt was cut short by the call's overall deadline */
    long http_status;           /* 0 when no response */
    const char *should_retry;   /* x-should-retry header or NULL */
    const char *retry_after_ms; /* retry-after-ms header or NULL */
    const char *retry_after;    /* retry-after header or NULL */
    const char *body;           /* response body (may be NULL) */
    size_t body_len;
    const char *provider;   /* for messages */
    const char *curl_error; /* curl's error buffer text or NULL */
};

enum llm_breaker_effect {
    LLM_BREAKER_NEUTRAL, /* says nothing about the provider's health */
    LLM_BREAKER_SUCCESS, /* the provider answered sensibly */
    LLM_BREAKER_FAILURE, /* counts towards opening */
};

struct llm_verdict {
    enum bo1_status status; /* BO1_OK for 2xx */
    int retry;              /* 1 when another attempt is allowed by the policy */
    long wait_ms;           /* server-requested wait (retry-after*), -1 when none */
    enum llm_breaker_effect breaker;
    char message[512]; /* human sentence when status != BO1_OK */
};

/** Classify @a per MODEL_IO.md "Whether to retry". @now: wall clock for HTTP dates. */
void llm_classify(const struct llm_attempt *a, time_t now, struct llm_verdict *v);

/**
 * The server-requested wait in milliseconds: retry-after-ms if present and valid, else
 * retry-after as seconds (fractions allowed) or an HTTP date relative to @now; -1 if none.
 */
long llm_retry_after_ms(const char *retry_after_ms, const char *retry_after, time_t now);

/**
 * Full-jitter exponential backoff: u * min(cap, base * 2^(failures-1)), @failures >= 1,
 * @u in [0, 1).
 */
unsigned llm_backoff_ms(unsigned failures, unsigned base_ms, unsigned cap_ms, double u);

/** The error message and error code of a provider error body ("" when absent). */
void llm_error_fields(const char *body, size_t len, char *type, size_t type_len, char *message,
                      size_t message_len, char *code, size_t code_len);

/**
 * Replace, in place, every byte of @s that is not part of a valid UTF-8 sequence with '?'
 * (what jansson accepts: no overlong forms, surrogates or code points past U+10FFFF).
 * Messages cut to a buffer's size, or quoting provider bytes, go through it before they
 * reach JSON.
 */
void llm_utf8_sanitize(char *s);

/* A xorshift64* generator for jitter (deterministic when seeded). */
double llm_rand01(uint64_t *state);

/* Per-provider circuit breaker (loop thread only). */
enum llm_breaker_state {
    LLM_BREAKER_CLOSED,
    LLM_BREAKER_OPEN,
    LLM_BREAKER_HALF_OPEN,
};

struct llm_breaker {
    char name[16];
    unsigned threshold;
    unsigned cooldown_ms;
    enum llm_breaker_state state;
    unsigned failures; /* consecutive */
    uint64_t opened_at_ms;
    int probe_out; /* half-open: the single probe is in flight */
    unsigned long long opened_count;
};

void llm_breaker_init(struct llm_breaker *b, const char *name, unsigned threshold,
                      unsigned cooldown_ms);

/**
 * May an attempt start at @now_ms? Returns 1 (and sets *probe when it is the half-open
 * probe) or 0 when the breaker is open (fail fast).
 */
int llm_breaker_allow(struct llm_breaker *b, uint64_t now_ms, int *probe);

/** Record an attempt's effect. @probe: the attempt was the half-open probe. */
void llm_breaker_record(struct llm_breaker *b, enum llm_breaker_effect eff, int probe,
                        uint64_t now_ms);

/** A probe ended with no verdict (cancelled): let another one go. */
void llm_breaker_release_probe(struct llm_breaker *b, int probe);

/** Milliseconds until the breaker lets a probe through (0 when not open). */
uint64_t llm_breaker_retry_in(const struct llm_breaker *b, uint64_t now_ms);

/* ---- provider_anthropic.c / provider_openai.c -------------------------------------- */

/* A decoded chat answer. Strings are malloc'd (llm_answer_fini frees them). */
struct llm_answer {
    char *text;
    char *stop_reason;
    char *model;
    char *id;
    struct bo1_llm_usage usage;
};

void llm_answer_fini(struct llm_answer *a);

/** Append the request JSON for the Messages API to @out. */
enum bo1_status llm_anthropic_encode(const struct bo1_llm_request *rq, const char *model,
                                     struct bo1_buf *out);

/**
 * Decode a Messages API 200 body. Survives any bytes. Returns BO1_OK or
 * BO1_UPSTREAM_BAD_REPLY with a reason in @why.
 */
enum bo1_status llm_anthropic_decode(const char *body, size_t len, struct llm_answer *out,
                                     char *why, size_t why_len);

enum bo1_status llm_openai_encode(const struct bo1_llm_request *rq, const char *model,
                                  struct bo1_buf *out);
enum bo1_status llm_openai_decode(const char *body, size_t len, struct llm_answer *out, char *why,
                                  size_t why_len);

/* ---- curl_uv.c: curl multi on the libuv loop ------------------------------------- */

struct llm_transport;
struct llm_xfer;

typedef void llm_xfer_done_cb(struct llm_xfer *x, int curl_code, void *arg);

/* One HTTP exchange. The caller fills url/headers/body and owns the struct; the transport
 * fills the response fields. */
struct llm_xfer {
    CURL *easy;
    struct curl_slist *headers;
    struct bo1_buf resp; /* response body, limited */
    long http_status;
    long new_connections; /* connections this exchange had to open (0 = reused) */
    char *should_retry;   /* captured response headers (malloc'd or NULL) */
    char *retry_after_ms;
    char *retry_after;
    char *request_id;
    char errbuf[CURL_ERROR_SIZE];
    llm_xfer_done_cb *done;
    void *arg;
    int active;
};

enum bo1_status llm_transport_new(uv_loop_t *loop, unsigned max_connections,
                                  struct llm_transport **out);
/** Aborts every active transfer without calling it back. NULL-safe. */
void llm_transport_free(struct llm_transport *t);

/**
 * Start a POST of @body (copied by curl) to @url with @headers (taken: freed by
 * llm_xfer_fini). @timeout_ms bounds the whole exchange. @done runs on the loop once, from
 * the transport's socket/timer processing, unless llm_transport_abort() is called first.
 */
enum bo1_status llm_transport_post(struct llm_transport *t, struct llm_xfer *x, const char *url,
                                   struct curl_slist *headers, const char *body, size_t body_len,
                                   long timeout_ms, size_t max_reply, llm_xfer_done_cb *done,
                                   void *arg);

/** Stop an active transfer; its callback will not run. */
void llm_transport_abort(struct llm_transport *t, struct llm_xfer *x);

/** Release an xfer's curl handle, headers and captured data (not the struct). */
void llm_xfer_fini(struct llm_xfer *x);

/** Monotonic milliseconds. */
uint64_t llm_now_ms(void);
