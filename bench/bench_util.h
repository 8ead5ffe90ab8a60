/* bench_util.h - what the benchmark programs share: clocks, the process's CPU time and
 * peak RSS, and starting bo1-fake-llm on a free loopback port. */
#pragma once

#include <sys/types.h>

/** Monotonic time in seconds. */
double bench_mono_s(void);

/** User + system CPU seconds of this process so far. */
double bench_cpu_s(void);

/** Peak resident set size of this process, KiB. */
long bench_peak_rss_kb(void);

/** A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int bench_free_port(void);

/**
 * Start bo1-fake-llm at @path on @port with a fixed @latency_ms per call and @seed, its
 * output discarded; wait (up to 5 s) until it accepts connections. Returns its pid, or -1
 * (the child is killed when it never answered).
 */
pid_t bench_start_fake(const char *path, int port, unsigned latency_ms, unsigned seed);
