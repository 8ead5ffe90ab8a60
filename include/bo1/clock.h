/* bo1/clock.h - wall-clock and monotonic time helpers. Thread: any. */
#pragma once

#include <stdint.h>

/** Milliseconds since the Unix epoch (wall clock). */
int64_t bo1_clock_wall_ms(void);

/** Monotonic milliseconds (for durations). */
int64_t bo1_clock_mono_ms(void);

/** Format @wall_ms as RFC 3339 UTC with milliseconds, e.g. 2026-11-28T21:30:00.123Z. */
void bo1_clock_iso(int64_t wall_ms, char out[40]);
