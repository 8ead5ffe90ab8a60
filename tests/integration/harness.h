/* harness.h - helpers for integration tests: real processes on ephemeral ports.
 *
 * Every process a test starts is recorded and killed (SIGKILL) at exit, so a failing
 * test never leaves a server behind. HTTP goes over real loopback with libcurl. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct h_proc {
    pid_t pid;
    int port;
    char log_path[256]; /* the child's stdout+stderr */
};

struct h_resp {
    long status;
    char *body; /* NUL-terminated; caller frees with h_resp_free() */
    size_t body_len;
    char *headers; /* raw header block, lower-cased names */
    double total_s;
};

/** A TCP port on 127.0.0.1 that was free a moment ago. */
int h_free_port(void);

/** Path of a built program from the environment variable @env (e.g. BO1_TEST_BO1D). */
const char *h_env_path(const char *env);

/**
 * Start @argv (argv[0] is the path) with extra environment @envp (NAME=VALUE, NULL
 * terminated, may be NULL), stdout+stderr to a log file; wait until @port accepts TCP
 * connections (up to @wait_ms). Returns 0 on success.
 */
int h_proc_start(struct h_proc *p, char *const argv[], char *const envp[], int port, int wait_ms);

/** Send @sig and wait up to @wait_ms for exit. Returns the exit status (or 128+signal), -1 on
 * timeout. */
int h_proc_stop(struct h_proc *p, int sig, int wait_ms);

/** Start redis-server on a free port with its own temp dir. Returns 0 on success. */
int h_redis_start(struct h_proc *p);

/** Start redis-server on @port (e.g. to restart one that was stopped). Returns 0 on success. */
int h_redis_start_on(struct h_proc *p, int port);

/** Start bo1d with @envp extra settings on a free port, Redis at @redis_port. */
int h_bo1d_start(struct h_proc *p, int redis_port, char *const envp[]);

/** Start bo1-fake-llm on a free port, @latency_ms per call, seed 7. Returns 0 on success. */
int h_fake_start(struct h_proc *p, int latency_ms);

/**
 * Start bo1d against the fake on @fake_port (Anthropic and Voyage base URLs), with API key
 * @api_key, generous rate limits, a 5 s model timeout, exports under /tmp, and @extra
 * NAME=VALUE settings (NULL terminated, may be NULL) after those; wait until ready.
 * Returns 0 on success.
 */
int h_bo1d_start_fake(struct h_proc *p, int redis_port, int fake_port, const char *api_key,
                      const char *const extra[]);

/**
 * One HTTP request to 127.0.0.1:@port. @headers: NULL-terminated "Name: value" list or NULL.
 * @body may be NULL. Returns 0 when a response arrived.
 */
int h_http(struct h_resp *r, const char *method, int port, const char *path,
           const char *const headers[], const char *body, size_t body_len);

/** The value of response header @name (case-insensitive), or NULL. Caller frees. */
char *h_resp_header(const struct h_resp *r, const char *name);

/** Parse the body as JSON. Returns a new reference or NULL. */
json_t *h_resp_json(const struct h_resp *r);

void h_resp_free(struct h_resp *r);

/** Poll GET /ready on @port until 200 or @within_ms. Returns 0 when ready. */
int h_wait_ready(int port, int within_ms);

/* One unlabelled Prometheus sample from GET /metrics on @port, or -1 when it is absent
 * (or the scrape failed). */
double h_metric(int port, const char *name);

/** Milliseconds on a monotonic clock. */
long long h_now_ms(void);

/** Sleep @ms milliseconds. */
void h_sleep_ms(int ms);

/** Start redis-server on @port with an append-only file (fsync always) in a directory kept
 * per port, so stopping and starting it again on the same port reloads the data. */
int h_redis_start_aof(struct h_proc *p, int port);

/**
 * One command (hiredis format) to the Redis on 127.0.0.1:@port over a short-lived
 * connection, for tests that look at the data model directly. Returns the reply (free it
 * with freeReplyObject) or NULL when Redis did not answer.
 */
struct redisReply *h_redis(int port, const char *fmt, ...);

/** h_redis for a command answering an integer: the integer, or LLONG_MIN on any other reply. */
long long h_redis_int(int port, const char *fmt, ...);
