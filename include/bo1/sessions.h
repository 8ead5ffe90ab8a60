/* bo1/sessions.h - the session data model in Redis (docs/internals/store.md).
 *
 * Every script touches the keys of one hash slot only (Redis Cluster safe): keys of one
 * session share the hash tag {<id>}, keys of one owner the tag {o:<owner>}, the fleet's
 * status counts the tag {stats}; the job stream is the single key BO1_SESSIONS_JOBS_KEY.
 * An operation that spans slots runs as ordered steps, each checked before anything is
 * written, so a request refused for its input, key, rate or state changes nothing
 * (docs/internals/store.md). Thread: the loop's (it uses bo1_store). */
#pragma once

#include <jansson.h>

#include "bo1/status.h"

struct bo1_store;

/**
 * Every script that appends events publishes on bo1:{<id>}:notify (this format, with the
 * session id) the id of the last event it appended ("deleted" when the session was deleted).
 */
#define BO1_SESSIONS_NOTIFY_FMT "bo1:{%s}:notify"

/** The job stream (consumer group "bo1"): one key, so every command on it is one slot. */
#define BO1_SESSIONS_JOBS_KEY "bo1:jobs"

/**
 * A job entry younger than this whose session is missing, created or paused may belong to a
 * create, start or resume still between its steps (the job is added first): the claim
 * leaves it pending instead of acknowledging it.
 */
#define BO1_SESSIONS_JOB_GRACE_MS 5000

/**
 * An active slot or owner index entry younger than this whose session does not exist may
 * belong to a create still between its steps: it is kept (older ones are repaired away).
 */
#define BO1_SESSIONS_STEP_GRACE_MS 60000

/**
 * Result of a session operation. @st: BO1_OK, or NOT_FOUND, WRONG_STATE (@detail holds the
 * current status), RATE_LIMITED (@retry_after_ms set), IDEMPOTENCY_MISMATCH, STORE_DOWN,
 * INTERNAL. @result: borrowed JSON (a session document, a list page, an event page...) or NULL.
 * @replayed: 1 when an idempotent create returned the earlier session.
 */
struct bo1_sessions_result {
    enum bo1_status st;
    json_t *result;
    const char *detail;
    long long retry_after_ms;
    int replayed;
};

typedef void bo1_sessions_cb(const struct bo1_sessions_result *res, void *arg);

struct bo1_sessions_limits {
    unsigned create_per_window; /* per key */
    unsigned control_per_window;
    unsigned reads_per_window;
    unsigned window_ms;
    unsigned max_active;      /* queued, running or awaiting input, per key */
    unsigned ttl_s;           /* finished sessions expire after this */
    unsigned unstarted_ttl_s; /* sessions created without start and never started */
    unsigned events_max;      /* stream length bound per session */
};

enum bo1_rate_class { BO1_RATE_CREATE, BO1_RATE_CONTROL, BO1_RATE_READ };

/**
 * Create a session from the validated @doc (takes: @doc). @idem_key may be NULL;
 * @body_hash identifies the request body for idempotency. @start queues it at once.
 */
enum bo1_status bo1_sessions_create(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                    const char *owner, const char *id, json_t *doc, int start,
                                    const char *idem_key, const char *body_hash,
                                    bo1_sessions_cb *cb, void *arg);

/** Count one request of @cls against @owner's rate limit; RATE_LIMITED when over. */
enum bo1_status bo1_sessions_rate(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                  const char *owner, enum bo1_rate_class cls, bo1_sessions_cb *cb,
                                  void *arg);

/** The session document (NOT_FOUND when absent or not @owner's). */
enum bo1_status bo1_sessions_get(struct bo1_store *store, const char *owner, const char *id,
                                 bo1_sessions_cb *cb, void *arg);

/**
 * @owner's sessions, newest first: {"items":[summary…], "next_cursor": …|null}; a summary
 * is {id, status, phase, statement (excerpt), created_at, updated_at, finished_at|null,
 * cost_usd}. next_cursor is null when no later page can hold anything.
 */
enum bo1_status bo1_sessions_list(struct bo1_store *store, const char *owner, const char *status,
                                  const char *cursor, unsigned limit, bo1_sessions_cb *cb,
                                  void *arg);

/** "start" | "pause" | "resume" | "cancel" | "delete". WRONG_STATE when not allowed. */
enum bo1_status bo1_sessions_control(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                     const char *owner, const char *id, const char *action,
                                     bo1_sessions_cb *cb, void *arg);

/**
 * Queue user input for the running engine: @kind "answers" (allowed while awaiting_input)
 * or "interjection" (until the session has finished). Takes: @payload. The log is trimmed
 * at @lim->events_max.
 */
enum bo1_status bo1_sessions_input(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                   const char *owner, const char *id, const char *kind,
                                   json_t *payload, bo1_sessions_cb *cb, void *arg);

/** Events after stream id @after ("0" = from the start): {"events":[…], "next": id}. */
enum bo1_status bo1_sessions_events(struct bo1_store *store, const char *owner, const char *id,
                                    const char *after, unsigned limit, bo1_sessions_cb *cb,
                                    void *arg);

/**
 * The session's status, document and report: {"status", "doc", "report_json" (object or
 * null), "report_md" (string or null)}.
 */
enum bo1_status bo1_sessions_artifacts(struct bo1_store *store, const char *owner, const char *id,
                                       bo1_sessions_cb *cb, void *arg);

#define BO1_SESSIONS_N_STATUSES 8

/** The API statuses, in the order bo1_sessions_stats() counts them. */
extern const char *const bo1_sessions_statuses[BO1_SESSIONS_N_STATUSES];

/** Sessions by status across every instance sharing the Redis: result is an object
 * {status: count} with every status. Thread: the loop's. */
enum bo1_status bo1_sessions_stats(struct bo1_store *store, bo1_sessions_cb *cb, void *arg);

/**
 * Move one session's count in the fleet's status counts from @old to @new_status ("" or
 * NULL = none; delete: @new_status NULL); @ttl_s is the TTL the session got with
 * @new_status (for created, completed, failed, cancelled). Fire and forget: a failure
 * only makes /metrics drift. Thread: the loop's.
 */
void bo1_sessions_stat_move(struct bo1_store *store, const char *id, const char *old,
                            const char *new_status, unsigned ttl_s);

/**
 * The session @id of @owner left the active statuses (the runner wrote a terminal status):
 * free its active slot. Fire and forget: a slot left behind is repaired at the cap.
 */
void bo1_sessions_active_leave(struct bo1_store *store, const char *owner, const char *id);

/** The session id of a notify channel into @out; BO1_BAD_FIELD when @channel is not one. */
enum bo1_status bo1_sessions_notify_parse(const char *channel, char out[32]);

/* List summaries carry the problem statement cut to this many characters (plus "…"). */
#define BO1_SESSIONS_EXCERPT_CHARS 200
#define BO1_SESSIONS_EXCERPT_BYTES (BO1_SESSIONS_EXCERPT_CHARS * 4 + 4)

/** @text cut to BO1_SESSIONS_EXCERPT_CHARS characters at a character boundary, with "…"
 * when cut ("" for NULL). */
void bo1_sessions_excerpt(const char *text, char out[BO1_SESSIONS_EXCERPT_BYTES]);

/** A new unguessable session id (128 random bits, URL-safe base64url, 22 characters). */
void bo1_sessions_new_id(char out[32]);

/** True when @id has the shape of a session id (so bad ids never reach Redis). */
int bo1_sessions_id_valid(const char *id);
