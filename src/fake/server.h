/* server.h - the HTTP side of bo1-fake-llm: one MHD daemon plus a timer thread that
 * resumes suspended connections when their simulated latency has passed. */
#pragma once

#include "bo1/status.h"
#include "fake_internal.h"

struct fake_server;

struct fake_server_opts {
    const char *host; /* numeric IPv4 address */
    unsigned port;
    unsigned threads; /* MHD pool threads */
};

/**
 * Start serving on @opts. @st must outlive the server.
 * Returns BO1_OK and a running server in *out, or BO1_INTERNAL (port busy, ...).
 */
enum bo1_status fake_server_start(const struct fake_server_opts *opts, struct fake_state *st,
                                  struct fake_server **out);
/** Resume every waiting connection, stop the daemon and the timer, free. NULL-safe. */
void fake_server_stop(struct fake_server *srv);
