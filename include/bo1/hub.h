/* bo1/hub.h - per-instance fan-out of session events to Server-Sent Events clients.
 *
 * One reader per session per instance: a topic follows the session's Redis Stream and
 * copies each event to every client of the topic. It reads when told that events were
 * appended: by the notify message every writer publishes (bo1:{<id>}:notify, received on
 * the store's Pub/Sub connection, so writes of any instance arrive at once) or by
 * bo1_hub_notify() for this instance's own writes. A topic SUBSCRIBEs its session's
 * channel while it lives (from its first client to its last) and reads its stream each
 * time Redis confirms the subscription, so an event whose message came before the
 * confirmation is not missed. A slow safety poll (3 s) covers lost messages; while the
 * subscriber is down, topics poll every 250 ms as before.
 * Owned by the loop thread; clients' byte queues are drained by MHD's content reader. */
#pragma once

#include "bo1/buf.h"
#include "bo1/loop.h"
#include "bo1/status.h"

struct bo1_hub;
struct bo1_store;
struct bo1_http_req;

/** Create the hub; it subscribes to the notify messages through @store (before the store starts).
 */
enum bo1_status bo1_hub_new(struct bo1_loop *loop, struct bo1_store *store, struct bo1_hub **out);

/** Set the interval of the comment heartbeat (default 15000 ms); call before
 * bo1_hub_start(). */
void bo1_hub_set_heartbeat(struct bo1_hub *hub, unsigned ms);

/** Start the heartbeat timer. Thread: the loop's. */
void bo1_hub_start(struct bo1_hub *hub);

/** End every stream and stop the timers. Thread: the loop's. */
void bo1_hub_stop(struct bo1_hub *hub);

/**
 * Shutting down: end every open stream after what is already buffered, so the clients
 * reconnect (with Last-Event-ID) to another instance instead of holding the drain for its
 * whole grace period. Thread: the loop's.
 */
void bo1_hub_drain(struct bo1_hub *hub);

/** Free a stopped hub. NULL-safe. */
void bo1_hub_free(struct bo1_hub *hub);

/**
 * Events up to stream id @upto (NULL: not known) were appended to session @id: read them
 * now unless already read. Without @upto it only acts while the subscriber is down (its
 * message will tell). Thread: the loop's.
 */
void bo1_hub_notify(struct bo1_hub *hub, const char *id, const char *upto);

/** Connected SSE clients. Thread: any. */
unsigned bo1_hub_clients(const struct bo1_hub *hub);

/** Append Prometheus lines (clients, stream reads, notify messages) to @out. Thread: any. */
enum bo1_status bo1_hub_metrics(const struct bo1_hub *hub, struct bo1_buf *out);

/**
 * Open a stream for the suspended @req: replay the events of session @id after @after
 * (owned by @owner), then follow live. Answers 404 through @req when not found.
 * Thread: the loop's.
 */
void bo1_hub_open(struct bo1_hub *hub, struct bo1_http_req *req, const char *owner, const char *id,
                  const char *after);
