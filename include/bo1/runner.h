/* bo1/runner.h - runs deliberations on this instance: claims work from the Redis job
 * stream (consumer group "bo1"), holds a renewed lease per running session, drives the
 * engine with real effects (model gateway, embeddings, Redis checkpoints and events), acts
 * on pause/cancel/answers/interjections written by any instance, and takes over sessions
 * whose instance died (lease expired). Owned by the loop thread. */
#pragma once

#include "bo1/loop.h"
#include "bo1/status.h"

struct bo1_runner;
struct bo1_store;
struct bo1_llm;
struct bo1_embedder;
struct bo1_hub;
struct bo1_engine_config;
struct bo1_buf;

struct bo1_runner_options {
    unsigned max_running; /* sessions this instance runs at once; default 200 */
    unsigned lease_ms;    /* default 10000 */
    unsigned poll_ms;     /* job stream and user-action poll; default 250 */
    unsigned ttl_s;       /* finished sessions kept */
    unsigned events_max;  /* stream bound */
    const char *exports_dir;
};

/**
 * Create the runner. Borrowed: @store, @gw, @emb, @hub, @ecfg (must outlive the runner).
 * Thread: the loop's (or before it runs).
 */
enum bo1_status bo1_runner_new(struct bo1_loop *loop, struct bo1_store *store, struct bo1_llm *gw,
                               struct bo1_embedder *emb, struct bo1_hub *hub,
                               const struct bo1_engine_config *ecfg,
                               const struct bo1_runner_options *opt, struct bo1_runner **out);

/** Begin claiming work. Thread: the loop's. */
void bo1_runner_start(struct bo1_runner *r);

/**
 * Hand every running session back (lease released, job re-queued for any instance; the
 * last checkpoint is in Redis) and stop claiming. Thread: the loop's.
 */
void bo1_runner_stop(struct bo1_runner *r);

/**
 * A request on this instance queued work for @session_id (create, start, resume) or wrote to
 * its inbox (pause, cancel, answers, interjections): act now instead of at the next poll
 * (250 ms): read its inbox if it runs here, else claim jobs. Other instances still learn of
 * it by polling. Thread: the loop's.
 */
void bo1_runner_poke(struct bo1_runner *r, const char *session_id);

/** Free a stopped runner. NULL-safe. */
void bo1_runner_free(struct bo1_runner *r);

/** Hand-back writes still waiting for Redis (shutdown waits for 0). Thread: any. */
unsigned bo1_runner_releases_pending(const struct bo1_runner *r);

/** Sessions running here now. Thread: any. */
unsigned bo1_runner_running(const struct bo1_runner *r);

/** Prometheus lines (sessions by outcome, running). Thread: any. */
enum bo1_status bo1_runner_metrics(const struct bo1_runner *r, struct bo1_buf *out);
