/* bo1/loop.h - the libuv loop that owns the world (STYLE R6).
 *
 * The engine, curl multi, hiredis and the event fan-out live on one loop thread.
 * Other threads (MHD) hand work to it with bo1_loop_post(): a mutex-guarded queue plus
 * uv_async_send(); the loop drains the whole queue on each wake-up. */
#pragma once

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <uv.h>

#include "bo1/status.h"

struct bo1_loop;

/** A unit of work run on the loop thread. */
typedef void bo1_loop_fn_cb(void *arg);

/** Create a loop (not yet running). Returns BO1_NO_MEMORY or BO1_INTERNAL on failure. */
enum bo1_status bo1_loop_new(struct bo1_loop **out);

/** The underlying uv loop. Borrowed. Use it only on the loop thread. */
uv_loop_t *bo1_loop_uv(struct bo1_loop *loop);

/** Run the loop on a new thread. Returns BO1_INTERNAL if the thread cannot start. */
enum bo1_status bo1_loop_start(struct bo1_loop *loop);

/**
 * Run the loop on the calling thread until bo1_loop_stop() is called (from a posted
 * function or another thread). For tests and tools that need no separate thread.
 */
void bo1_loop_run(struct bo1_loop *loop);

/**
 * Queue @fn(@arg) to run on the loop thread. Thread: any.
 * Returns BO1_NO_MEMORY (fn will never run) or BO1_UNAVAILABLE once the loop is stopping.
 */
enum bo1_status bo1_loop_post(struct bo1_loop *loop, bo1_loop_fn_cb *fn, void *arg);

/** True when called on the thread running the loop. */
int bo1_loop_on_thread(const struct bo1_loop *loop);

/**
 * Ask the loop to finish: already-posted work runs, then every handle still open is
 * closed and the loop returns (joining its thread if bo1_loop_start() made one).
 * Modules should close their own handles first. Thread: any but the loop's when a
 * thread was started (it joins); from inside the loop only after bo1_loop_run().
 */
void bo1_loop_stop(struct bo1_loop *loop);

/** Free a stopped (or never started) loop. NULL-safe. */
void bo1_loop_free(struct bo1_loop *loop);
