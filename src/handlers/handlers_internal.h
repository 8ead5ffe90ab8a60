/* Handler functions shared between the files of the handlers module and its route table. */
#pragma once

#include "bo1/http.h"

double bo1_handlers_now(void);

enum bo1_status h_health(struct bo1_http_req *req);
enum bo1_status h_ready(struct bo1_http_req *req);
enum bo1_status h_metrics(struct bo1_http_req *req);

enum bo1_status h_personas_list(struct bo1_http_req *req);
enum bo1_status h_personas_get(struct bo1_http_req *req);
enum bo1_status h_sessions_create(struct bo1_http_req *req);
enum bo1_status h_sessions_list(struct bo1_http_req *req);
enum bo1_status h_sessions_get(struct bo1_http_req *req);
enum bo1_status h_sessions_delete(struct bo1_http_req *req);
enum bo1_status h_sessions_start(struct bo1_http_req *req);
enum bo1_status h_sessions_pause(struct bo1_http_req *req);
enum bo1_status h_sessions_resume(struct bo1_http_req *req);
enum bo1_status h_sessions_cancel(struct bo1_http_req *req);
enum bo1_status h_sessions_answers(struct bo1_http_req *req);
enum bo1_status h_sessions_interjections(struct bo1_http_req *req);
enum bo1_status h_sessions_events(struct bo1_http_req *req);
enum bo1_status h_sessions_events_page(struct bo1_http_req *req);
enum bo1_status h_sessions_report(struct bo1_http_req *req);
enum bo1_status h_sessions_costs(struct bo1_http_req *req);

/* query.c: pure checks of query and header values (fuzzed by tests/fuzz/fuzz_query.c). */

/** True for a Redis stream id "ms-seq" or "0" (Last-Event-ID, ?after=). */
int bo1_handlers_stream_id_valid(const char *s);

/** ?limit= as an integer in [1, @max]; @def when @s is NULL; 0 when invalid. */
unsigned bo1_handlers_parse_limit(const char *s, unsigned def, unsigned max);

/** True for a ?cursor= of the form "<score digits>.<session id>" (a next_cursor). */
int bo1_handlers_cursor_valid(const char *cursor);

/** True for a session status name accepted by ?status=. */
int bo1_handlers_status_known(const char *s);
