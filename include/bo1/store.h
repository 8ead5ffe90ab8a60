/* bo1/store.h - the Redis connection of this instance, owned by the loop thread.
 *
 * hiredis async attached to the libuv loop, with its own reconnect: when Redis goes
 * away (closed socket, or no PING answer within the watchdog time) the store is marked
 * down at once and reconnects with capped backoff; readiness follows within ~2 s either
 * way. Commands issued while down fail at once with BO1_STORE_DOWN. */
#pragma once

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "bo1/buf.h"
#include "bo1/loop.h"
#include "bo1/status.h"

struct bo1_store;

struct bo1_store_options {
    const char *host;
    unsigned port;
    unsigned db;
    const char *password;        /* NULL or "" = no AUTH */
    unsigned ping_interval_ms;   /* default 500 */
    unsigned ping_timeout_ms;    /* default 1500: no answer -> down */
    unsigned connect_timeout_ms; /* default 1000 */
    unsigned backoff_max_ms;     /* default 1000 */
};

/**
 * Called once per command on the loop thread. @reply is borrowed (NULL when the store went
 * down before the answer: @st is then BO1_STORE_DOWN). An error reply from Redis gives
 * @st BO1_IO_ERROR with the reply.
 */
typedef void bo1_store_reply_cb(enum bo1_status st, const redisReply *reply, void *arg);

/** Create the store (copies @opt). Nothing connects until bo1_store_start(). */
enum bo1_status bo1_store_new(struct bo1_loop *loop, const struct bo1_store_options *opt,
                              struct bo1_store **out);

/** Begin connecting (and keep reconnecting). Thread: the loop's. */
void bo1_store_start(struct bo1_store *store);

/** Close the connection and stop reconnecting. Thread: the loop's. */
void bo1_store_stop(struct bo1_store *store);

/** Free a stopped store. NULL-safe. Thread: any, after the loop has finished. */
void bo1_store_free(struct bo1_store *store);

/** True while connected, authenticated and answering PINGs. Thread: any. */
int bo1_store_is_up(const struct bo1_store *store);

/**
 * Send a command (hiredis format string). Thread: the loop's.
 * Returns BO1_STORE_DOWN (callback never runs) when not connected.
 */
enum bo1_status bo1_store_command(struct bo1_store *store, bo1_store_reply_cb *cb, void *arg,
                                  const char *fmt, ...);

/** Send a command given as argv. Same contract as bo1_store_command(). */
enum bo1_status bo1_store_command_argv(struct bo1_store *store, bo1_store_reply_cb *cb, void *arg,
                                       int argc, const char **argv, const size_t *argvlen);

/** Append Prometheus lines (connection state, errors, reconnects) to @out. Thread: any. */
enum bo1_status bo1_store_metrics(const struct bo1_store *store, struct bo1_buf *out);
