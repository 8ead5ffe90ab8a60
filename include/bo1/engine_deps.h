/* bo1/engine_deps.h - the contracts the engine uses from the llm, embed and persona modules.
 *
 * The engine is written against the interfaces fixed in HELPERS.md. While the branches that
 * own those headers have not been merged, this file carries temporary copies of exactly the
 * declarations the engine needs, each guarded by __has_include so the real header wins as
 * soon as it exists. Remove a block once its real header is on main. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "bo1/status.h"

#if __has_include("bo1/llm.h")
#include "bo1/llm.h"
#else
enum bo1_llm_tier { BO1_LLM_TIER_FAST, BO1_LLM_TIER_DEEP };
struct bo1_llm_block {
    const char *text;
    int cache;
};
struct bo1_llm_message {
    const char *role;
    const char *content;
};
struct bo1_llm_request {
    const char *task;
    const char *session_id;
    enum bo1_llm_tier tier;
    const char *model;
    const struct bo1_llm_block *system;
    size_t n_system;
    const struct bo1_llm_message *messages;
    size_t n_messages;
    unsigned max_tokens;
    double temperature;
    const char *const *stop;
    size_t n_stop;
    unsigned deadline_ms;
};
struct bo1_llm_usage {
    long input, output, cache_write, cache_read;
};
struct bo1_llm_response {
    enum bo1_status status;
    const char *text;
    const char *stop_reason;
    struct bo1_llm_usage usage;
    double cost_usd;
    int cost_known;
    const char *model;
    const char *provider;
    const char *request_id;
    unsigned latency_ms;
    unsigned attempts;
    long http_status;
    const char *error_message;
};
typedef void bo1_llm_done_cb(const struct bo1_llm_response *resp, void *arg);
#endif

#if __has_include("bo1/embed.h")
#include "bo1/embed.h"
#else
typedef void bo1_embed_done_cb(enum bo1_status st, const float *const *vecs, size_t n, size_t dim,
                               void *arg);
#endif

#if __has_include("bo1/persona.h")
#include "bo1/persona.h"
#else
struct bo1_persona {
    const char *code, *name, *role, *category, *style, *identity;
    const char *const *tags;
    size_t n_tags;
    double traits[5];
    int hidden;
};
#endif
