/* bo1/config.h - the service configuration: one struct, loaded once, then immutable.
 *
 * Values come from the process environment, then an optional .env file (the process
 * environment wins), then the defaults in the knob table of src/config/config.c. Every
 * value is validated once at start; an invalid value stops start-up with a message that
 * names the variable and the allowed range. Thread: load on the main thread, then any. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "bo1/status.h"

enum bo1_env { BO1_ENV_DEVELOPMENT, BO1_ENV_PRODUCTION };
enum bo1_provider { BO1_PROVIDER_ANTHROPIC, BO1_PROVIDER_OPENAI };
enum bo1_cfg_embed {
    BO1_CFG_EMBED_AUTO, /* voyage if a key is set, else local */
    BO1_CFG_EMBED_LOCAL,
    BO1_CFG_EMBED_VOYAGE,
    BO1_CFG_EMBED_OPENAI,
};

struct bo1_engine_config;

struct bo1_config {
    /* service */
    unsigned port;
    char *bind_address;
    unsigned env;          /* enum bo1_env */
    unsigned http_threads; /* 0 = online CPUs */
    unsigned max_body_bytes;
    unsigned conn_timeout_s;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned request_timeout_s; /* whole request (line, headers, body) */
    unsigned max_uri_bytes;
    unsigned max_header_bytes;
    unsigned max_discard_bytes; /* over-limit body read and dropped up to this */
    unsigned sse_heartbeat_s;
    unsigned shutdown_grace_s;
    char *cors_origins; /* comma-separated; "" = CORS off */
    char *log_level;
    char *data_dir;
    char *exports_dir;
    char *api_keys; /* secret: comma-separated bearer keys */

    /* Redis */
    char *redis_url;
    char *redis_password; /* secret; overrides a password in the URL */
    char *redis_host;     /* derived from redis_url */
    unsigned redis_port;  /* derived */
    unsigned redis_db;    /* derived */

    /* model providers */
    unsigned llm_provider; /* enum bo1_provider */
    char *anthropic_api_key;
    char *anthropic_base_url;
    char *anthropic_version;
    char *openai_api_key;
    char *openai_base_url;
    char *voyage_api_key;
    char *voyage_base_url;
    unsigned embed_provider; /* enum bo1_cfg_embed */
    char *embed_model;
    char *model_deep;
    char *model_fast;
    unsigned llm_timeout_ms;
    unsigned llm_max_inflight;
    unsigned llm_max_attempts;
    unsigned model_simulated; /* 1 when the provider is bo1-fake-llm */

    /* deliberation defaults */
    double session_budget_usd;
    unsigned session_wall_s;
    unsigned session_idle_s;
    unsigned clarify_timeout_s;
    unsigned hard_max_rounds;
    unsigned max_research;
    unsigned max_clarify;
    double convergence_min;
    double novelty_max;
    double deadlock_conflict;
    double deadlock_novelty;
    unsigned deadlock_rounds;
    double budget_vote_share;
    double one_way_door_share;
    double dissent_commit;
    double confidence_commit;
    double confidence_spread;
    unsigned max_tokens_contribution;
    unsigned max_tokens_structured;
    unsigned max_tokens_synthesis;
    double provider_wait_s;
    double provider_wait_max_s;
    unsigned session_ttl_s;
    unsigned unstarted_ttl_s;
    unsigned rate_create_per_min;
    unsigned rate_control_per_min;
    unsigned rate_reads_per_min;
    unsigned max_active_sessions;
    unsigned events_max;
    unsigned lease_ms;
    unsigned max_running;
};

/**
 * Fill @cfg from @envp (NAME=VALUE strings, NULL-terminated), the .env file named by
 * BO1_ENV_FILE (default ".env"; a missing file is fine) and the defaults.
 * Returns BO1_OK, or BO1_CONFIG_INVALID with *why (caller frees) naming the variable and
 * its allowed values; BO1_NO_MEMORY. On failure @cfg holds nothing to free.
 */
enum bo1_status bo1_config_load(struct bo1_config *cfg, char *const envp[], char **why);

/**
 * As bo1_config_load(), with the contents of the .env file given as @dotenv (@dotenv_len
 * bytes, need not be NUL-terminated; NULL = no file) instead of read from BO1_ENV_FILE.
 * @dotenv_name labels line numbers in *why. Pure: no I/O (tests and fuzzing use it).
 */
enum bo1_status bo1_config_load_text(struct bo1_config *cfg, char *const envp[], const char *dotenv,
                                     size_t dotenv_len, const char *dotenv_name, char **why);

/**
 * Copy the deliberation knobs of @c (models, budget, clocks, round and vote numbers, token
 * limits, provider waits) into @ec. Fields without a knob (personas, prompts) are left as
 * they are. The strings stay owned by @c.
 */
void bo1_config_engine(const struct bo1_config *c, struct bo1_engine_config *ec);

/** Free the strings of a loaded configuration. NULL-safe; @cfg is zeroed. */
void bo1_config_fini(struct bo1_config *cfg);

/**
 * The effective configuration as a JSON object, secrets replaced by "[redacted]"
 * (or "" when unset). Returns: new reference, NULL when out of memory.
 */
json_t *bo1_config_to_json_redacted(const struct bo1_config *cfg);

/**
 * Write the knob table as Markdown (variable, default, allowed, meaning) to @out.
 * Used to keep README.md and .env.example honest.
 */
void bo1_config_write_table(FILE *out, int env_example);
