/* bo1/store.h - the Redis connections of this instance, owned by the loop thread.
 *
 * hiredis async attached to the libuv loop, with its own reconnect: when Redis goes
 * away (closed socket, or no PING answer within the watchdog time) the store is marked
 * down at once and reconnects with capped backoff; readiness follows within ~2 s either
 * way. Commands issued while down fail at once with BO1_STORE_DOWN.
 *
 * Optionally a second, dedicated connection holds a set of Pub/Sub channels (plain
 * SUBSCRIBE, changed at any time) and hands every message to a callback; it reconnects
 * the same way, on its own, and subscribes the whole set again. Pub/Sub delivers at most
 * once: what is published before a channel's subscription is confirmed (or while the
 * subscriber is away) is lost, which the "subscribed" callback announces each time a
 * channel's subscription is (re)established. */
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
    unsigned ping_interval_ms;   /* default 250 */
    unsigned ping_timeout_ms;    /* default 1250: no answer -> down; a hung Redis turns
                                  * /ready 503 in 1.3-1.7 s (measured, ASan), inside
                                  * API.md's 2 s */
    unsigned connect_timeout_ms; /* default 1000 */
    unsigned backoff_max_ms;     /* default 1000 */
};

/**
 * Called once per command on the loop thread. @reply is borrowed (NULL when the store went
 * down before the answer: @st is then BO1_STORE_DOWN). An error reply from Redis gives
 * @st BO1_IO_ERROR with the reply.
 */
typedef void bo1_store_reply_cb(enum bo1_status st, const redisReply *reply, void *arg);

/** A Pub/Sub message on @channel (one of the set), borrowed. Thread: the loop's. */
typedef void bo1_store_message_cb(const char *channel, const char *payload, void *arg);

/**
 * Redis confirmed the subscription of @channel (after bo1_store_subscribe(), and again
 * after every reconnect of the subscriber): messages published before were not received,
 * so read whatever they announced. Thread: the loop's.
 */
typedef void bo1_store_subscribed_cb(const char *channel, void *arg);

/** The channel the subscriber always holds: its watchdog re-SUBSCRIBEs it (nobody publishes). */
#define BO1_STORE_KEEPALIVE_CHANNEL "bo1:sub:keepalive"

/** Create the store (copies @opt). Nothing connects until bo1_store_start(). */
enum bo1_status bo1_store_new(struct bo1_loop *loop, const struct bo1_store_options *opt,
                              struct bo1_store **out);

/**
 * Keep a dedicated Pub/Sub connection and call @on_message for each message of the
 * channels subscribed with bo1_store_subscribe(). Call once, before bo1_store_start().
 */
enum bo1_status bo1_store_pubsub(struct bo1_store *store, bo1_store_message_cb *on_message,
                                 bo1_store_subscribed_cb *on_subscribed, void *arg);

/**
 * Add @channel (copied) to the set: SUBSCRIBE now if connected, else at the next connect;
 * @on_subscribed follows the confirmation. Idempotent. Thread: the loop's.
 * Returns BO1_NO_MEMORY, or BO1_INTERNAL without bo1_store_pubsub().
 */
enum bo1_status bo1_store_subscribe(struct bo1_store *store, const char *channel);

/** Remove @channel from the set (UNSUBSCRIBE if subscribed). Thread: the loop's. */
void bo1_store_unsubscribe(struct bo1_store *store, const char *channel);

/** Begin connecting (and keep reconnecting). Thread: the loop's. */
void bo1_store_start(struct bo1_store *store);

/** Close the connection and stop reconnecting. Thread: the loop's. */
void bo1_store_stop(struct bo1_store *store);

/** Free a stopped store. NULL-safe. Thread: any, after the loop has finished. */
void bo1_store_free(struct bo1_store *store);

/** True while connected, authenticated and answering PINGs. Thread: any. */
int bo1_store_is_up(const struct bo1_store *store);

/** True while the subscription is established and its connection answers. Thread: any. */
int bo1_store_pubsub_is_up(const struct bo1_store *store);

/**
 * Send a command (hiredis format string). Thread: the loop's.
 * Returns BO1_STORE_DOWN (callback never runs) when not connected.
 */
enum bo1_status bo1_store_command(struct bo1_store *store, bo1_store_reply_cb *cb, void *arg,
                                  const char *fmt, ...);

/** Send a command given as argv. Same contract as bo1_store_command(). */
enum bo1_status bo1_store_command_argv(struct bo1_store *store, bo1_store_reply_cb *cb, void *arg,
                                       int argc, const char **argv, const size_t *argvlen);

/** Append Prometheus lines (connection state, errors, reconnects, Pub/Sub) to @out. Thread: any. */
enum bo1_status bo1_store_metrics(const struct bo1_store *store, struct bo1_buf *out);
