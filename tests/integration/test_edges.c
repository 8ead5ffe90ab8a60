/* The HTTP edge of the real bo1d over loopback: connection idle timeout, the per-IP and
 * total connection limits, the request deadline against trickling clients, 414/431/501 as
 * problem+json, over-limit chunked bodies answered 413 every time, and the SSE comment
 * heartbeat. Raw sockets where curl would hide what the server does on the wire. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct h_proc redis;
static struct h_proc bo1d;

static void setup(void)
{
    ck_assert_int_eq(h_redis_start(&redis), 0);
}

static void teardown(void)
{
    h_proc_stop(&bo1d, SIGKILL, 2000);
    h_proc_stop(&redis, SIGKILL, 2000);
}

/* Start bo1d with @extra settings (NULL terminated) and wait for /ready. */
static void start_bo1d(const char *const extra[])
{
    char *env[32];
    size_t n = 0;

    env[n++] = "BO1_MODEL_SIMULATED=true";
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        env[n++] = (char *)extra[i];
    env[n] = NULL;
    ck_assert_int_eq(h_bo1d_start(&bo1d, redis.port, env), 0);
    ck_assert_int_eq(h_wait_ready(bo1d.port, 10000), 0);
}

/* A TCP connection to bo1d from local address @from ("127.0.0.1" when NULL). */
static int raw_connect(const char *from)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)bo1d.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    if (from) {
        struct sockaddr_in local = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &local.sin_addr);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&local, sizeof(local)), 0);
    }
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the server closed; the caller looks at what it answered */
        data += n;
        len -= (size_t)n;
    }
}

/* Read what arrives on @fd for up to @within_ms, until the peer closes or @stop (may be
 * NULL) appears. Returns the bytes read (caller frees, NUL-terminated); *@closed is set to
 * 1 when the server closed (EOF or reset). */
static char *read_for(int fd, int within_ms, const char *stop, int *closed)
{
    long long deadline = h_now_ms() + within_ms;
    size_t len = 0;
    size_t cap = 4096;
    char *buf = malloc(cap);

    ck_assert_ptr_nonnull(buf);
    buf[0] = '\0';
    *closed = 0;
    while (h_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (poll(&p, 1, (int)(deadline - h_now_ms())) <= 0)
            continue;
        if (len + 4096 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            *closed = 1;
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (stop && strstr(buf, stop))
            break;
    }
    return buf;
}

/* An HTTP response read off a raw socket: status, Content-Type and the JSON body. */
static long raw_status(const char *resp)
{
    long status = 0;

    if (sscanf(resp, "HTTP/1.1 %ld", &status) != 1)
        return 0;
    return status;
}

static void assert_raw_problem(const char *resp, long status, const char *code)
{
    const char *body = strstr(resp, "\r\n\r\n");
    json_t *j;

    ck_assert_msg(raw_status(resp) == status, "want %ld, got: %.200s", status, resp);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: application/problem+json\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "\r\nX-Request-ID: "));
    ck_assert_ptr_nonnull(body);
    j = json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
    ck_assert(json_is_string(json_object_get(j, "type")));
    ck_assert(json_is_string(json_object_get(j, "title")));
    ck_assert(json_is_string(json_object_get(j, "detail")));
    json_decref(j);
}

static void assert_problem(const struct h_resp *r, long status, const char *code)
{
    char *ct = h_resp_header(r, "Content-Type");
    json_t *j = h_resp_json(r);

    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(ct);
    ck_assert_str_eq(ct, "application/problem+json");
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
    free(ct);
    json_decref(j);
}

static long health_status(void)
{
    struct h_resp r;
    long status = -1;

    if (h_http(&r, "GET", bo1d.port, "/health", NULL, NULL, 0) == 0)
        status = r.status;
    h_resp_free(&r);
    return status;
}

/* One raw exchange: send @req on a fresh connection, read the answer for up to @within_ms. */
static char *raw_exchange(const char *req, size_t len, int within_ms, int *closed)
{
    int fd = raw_connect(NULL);
    char *resp;

    send_all(fd, req, len);
    resp = read_for(fd, within_ms, NULL, closed);
    close(fd);
    return resp;
}

START_TEST(test_idle_connection_is_closed_by_the_idle_timeout)
{
    const char *extra[] = {"BO1_CONN_TIMEOUT_S=1", NULL};
    int closed;
    long long t0;
    char *got;
    int fd;

    start_bo1d(extra);
    /* A connection that never sends a byte. */
    fd = raw_connect(NULL);
    t0 = h_now_ms();
    got = read_for(fd, 6000, NULL, &closed);
    ck_assert_msg(closed, "the silent connection was still open after 6 s");
    ck_assert_int_ge(h_now_ms() - t0, 800);
    ck_assert_str_eq(got, ""); /* closed without an answer, as MHD's timeout does */
    free(got);
    close(fd);

    /* A kept-alive connection that answered one request and then went quiet. */
    fd = raw_connect(NULL);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    got = read_for(fd, 2000, "}", &closed);
    ck_assert_int_eq(raw_status(got), 200);
    ck_assert(!closed);
    free(got);
    t0 = h_now_ms();
    got = read_for(fd, 6000, NULL, &closed);
    ck_assert_msg(closed, "the idle kept-alive connection was still open after 6 s");
    ck_assert_int_ge(h_now_ms() - t0, 800);
    free(got);
    close(fd);
    ck_assert_int_eq(health_status(), 200);
}
END_TEST

START_TEST(test_per_ip_limit_refuses_the_next_connection_from_that_address)
{
    const char *extra[] = {"BO1_MAX_CONNECTIONS_PER_IP=3", NULL};
    int held[3];
    int closed;
    char *got;
    int fd;

    start_bo1d(extra);
    for (int i = 0; i < 3; i++) {
        held[i] = raw_connect("127.0.0.1");
        /* A request on each proves the server took the connection. */
        send_all(held[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        got = read_for(held[i], 3000, "}", &closed);
        ck_assert_int_eq(raw_status(got), 200);
        free(got);
    }
    /* The fourth from the same address: the kernel completes the handshake, MHD closes it
     * at once and never answers. */
    fd = raw_connect("127.0.0.1");
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    got = read_for(fd, 3000, NULL, &closed);
    ck_assert_msg(closed, "the connection over the per-IP limit was not closed");
    ck_assert_msg(raw_status(got) == 0, "the connection over the limit was answered: %.80s", got);
    free(got);
    close(fd);

    /* Another address is not affected. */
    fd = raw_connect("127.0.0.2");
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    got = read_for(fd, 3000, "}", &closed);
    ck_assert_int_eq(raw_status(got), 200);
    free(got);
    close(fd);

    /* One held connection goes away: the address is served again. */
    close(held[0]);
    h_sleep_ms(200);
    ck_assert_int_eq(health_status(), 200);
    close(held[1]);
    close(held[2]);
}
END_TEST

START_TEST(test_total_limit_holds_the_next_connection_and_serves_after)
{
    /* 16 is the smallest total the configuration allows; one HTTP thread so the limit is
     * not split between worker threads. */
    const char *extra[] = {"BO1_MAX_CONNECTIONS=16", "BO1_HTTP_THREADS=1", NULL};
    int held[16];
    int closed;
    char *got;
    int fd;

    start_bo1d(extra);
    for (int i = 0; i < 16; i++) {
        held[i] = raw_connect(NULL);
        send_all(held[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        got = read_for(held[i], 3000, "}", &closed);
        ck_assert_msg(raw_status(got) == 200, "held connection %d not served: %.80s", i, got);
        free(got);
    }
    /* The 17th gets no answer while the 16 are held. */
    fd = raw_connect(NULL);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    got = read_for(fd, 1500, NULL, &closed);
    ck_assert_msg(raw_status(got) == 0, "the 17th connection was served: %.80s", got);
    free(got);
    /* Release the held ones: the server serves again. The 17th either waited in the listen
     * queue and is answered now, or was closed; both leave the server healthy. */
    for (int i = 0; i < 16; i++)
        close(held[i]);
    if (!closed) {
        got = read_for(fd, 3000, "}", &closed);
        ck_assert_msg(raw_status(got) == 200 || closed, "17th: %.80s", got);
        free(got);
    }
    close(fd);
    ck_assert_int_eq(health_status(), 200);
}
END_TEST

START_TEST(test_trickling_request_is_cut_at_the_request_deadline)
{
    const char *extra[] = {"BO1_REQUEST_TIMEOUT_S=2", "BO1_CONN_TIMEOUT_S=30", NULL};
    const char *req =
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        "\r\n";
    const char *post_head = "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    long long t0;
    int closed = 0;
    char *got;
    int fd;

    start_bo1d(extra);
    /* Headers: one byte every 300 ms resets an idle timeout forever; the deadline cuts it. */
    fd = raw_connect(NULL);
    t0 = h_now_ms();
    for (size_t i = 0; i < strlen(req) && !closed; i++) {
        send_all(fd, req + i, 1);
        got = read_for(fd, 300, NULL, &closed);
        ck_assert_msg(raw_status(got) == 0, "answered a request that never arrived: %.80s", got);
        free(got);
    }
    ck_assert_msg(closed, "the trickling connection was not cut");
    ck_assert_int_ge(h_now_ms() - t0, 1800);
    ck_assert_int_le(h_now_ms() - t0, 4500);
    close(fd);

    /* Body: headers at once, then the body one byte every 300 ms. */
    fd = raw_connect(NULL);
    send_all(fd, post_head, strlen(post_head));
    t0 = h_now_ms();
    closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        send_all(fd, "{", 1);
        got = read_for(fd, 300, NULL, &closed);
        free(got);
    }
    ck_assert_msg(closed, "the trickling body was not cut");
    ck_assert_int_le(h_now_ms() - t0, 4500);
    close(fd);

    /* A slow request that arrives within the deadline is served. */
    fd = raw_connect(NULL);
    send_all(fd, "GET /health HTTP/1.1\r\n", 22);
    h_sleep_ms(800);
    send_all(fd, "Host: x\r\n\r\n", 11);
    got = read_for(fd, 3000, "}", &closed);
    ck_assert_int_eq(raw_status(got), 200);
    free(got);
    /* The deadline restarts for the next request on a kept-alive connection. */
    h_sleep_ms(1000);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    got = read_for(fd, 3000, "}", &closed);
    ck_assert_int_eq(raw_status(got), 200);
    free(got);
    close(fd);
    ck_assert_int_eq(health_status(), 200);
    /* The two cut connections are counted. */
    {
        struct h_resp r;
        ck_assert_int_eq(h_http(&r, "GET", bo1d.port, "/metrics", NULL, NULL, 0), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(strstr(r.body, "\nbo1_http_connections_cut_total 2\n") != NULL, "%s",
                      strstr(r.body, "bo1_http_connections_cut_total")
                          ? strstr(r.body, "bo1_http_connections_cut_total")
                          : "(no family)");
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(test_long_target_and_large_headers_are_problem_json)
{
    const char *extra[] = {"BO1_MAX_URI_BYTES=1024", "BO1_MAX_HEADER_BYTES=2048", NULL};
    char path[1200];
    char big[3000];
    const char *hs[] = {big, NULL};
    struct h_resp r;
    char *req;
    int closed;
    char *got;
    size_t n;

    start_bo1d(extra);
    /* Request target: 1024 bytes pass, 1025 get 414. */
    snprintf(path, sizeof(path), "/health?x=");
    n = strlen(path);
    memset(path + n, 'a', 1024 - n);
    path[1024] = '\0';
    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, path, NULL, NULL, 0), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    path[1024] = 'a';
    path[1025] = '\0';
    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, path, NULL, NULL, 0), 0);
    assert_problem(&r, 414, "URI_TOO_LONG");
    ck_assert_ptr_nonnull(strstr(r.body, "1025 bytes"));
    h_resp_free(&r);

    /* Headers over 2048 bytes get 431 (curl adds Host and Accept to the one here). */
    snprintf(big, sizeof(big), "X-Big: ");
    n = strlen(big);
    memset(big + n, 'b', 2100);
    big[n + 2100] = '\0';
    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, "/health", hs, NULL, 0), 0);
    assert_problem(&r, 431, "HEADERS_TOO_LARGE");
    h_resp_free(&r);
    big[n + 1500] = '\0';
    ck_assert_int_eq(h_http(&r, "GET", bo1d.port, "/health", hs, NULL, 0), 0);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);

    /* Far over our limits but inside MHD's memory pool: still ours, not MHD's HTML. */
    req = malloc(40000);
    ck_assert_ptr_nonnull(req);
    n = (size_t)snprintf(req, 40000, "GET /health?x=");
    memset(req + n, 'a', 20000);
    n += 20000;
    n += (size_t)snprintf(req + n, 40000 - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    got = raw_exchange(req, n, 3000, &closed);
    assert_raw_problem(got, 414, "URI_TOO_LONG");
    free(got);
    n = (size_t)snprintf(req, 40000, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'b', 20000);
    n += 20000;
    n += (size_t)snprintf(req + n, 40000 - n, "\r\n\r\n");
    got = raw_exchange(req, n, 3000, &closed);
    assert_raw_problem(got, 431, "HEADERS_TOO_LARGE");
    free(got);

    /* A transfer coding bo1d does not implement: 501 before any body is read. */
    n = (size_t)snprintf(req, 40000,
                         "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nTransfer-Encoding: gzip\r\n\r\n");
    got = raw_exchange(req, n, 3000, &closed);
    assert_raw_problem(got, 501, "NOT_IMPLEMENTED");
    free(got);
    free(req);
    ck_assert_int_eq(health_status(), 200);
}
END_TEST

/* The chaos case "chunked 1 MiB": the whole body is sent before the answer is read. */
static char *chunked_request(size_t chunks, size_t *len)
{
    const char *head = "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    size_t cap = strlen(head) + chunks * (0x4000 + 8) + 8;
    char *req = malloc(cap);
    size_t n;

    ck_assert_ptr_nonnull(req);
    n = (size_t)snprintf(req, cap, "%s", head);
    for (size_t i = 0; i < chunks; i++) {
        n += (size_t)snprintf(req + n, cap - n, "4000\r\n");
        memset(req + n, 'x', 0x4000);
        n += 0x4000;
        memcpy(req + n, "\r\n", 2);
        n += 2;
    }
    memcpy(req + n, "0\r\n\r\n", 5);
    n += 5;
    *len = n;
    return req;
}

START_TEST(test_chunked_body_over_the_limit_is_413_every_time)
{
    size_t len;
    char *req = chunked_request(64, &len);

    start_bo1d(NULL);
    for (int i = 0; i < 50; i++) {
        int fd = raw_connect(NULL);
        int closed;
        char *got;
        send_all(fd, req, len);
        shutdown(fd, SHUT_WR);
        got = read_for(fd, 10000, NULL, &closed);
        ck_assert_msg(raw_status(got) == 413, "run %d of 50: got %.80s", i + 1,
                      got[0] ? got : "(closed without an answer)");
        assert_raw_problem(got, 413, "TOO_LARGE");
        ck_assert_msg(closed, "run %d of 50: the connection stayed open after the 413", i + 1);
        ck_assert_ptr_nonnull(strstr(got, "\r\nConnection: close\r\n"));
        free(got);
        close(fd);
    }
    free(req);
    ck_assert_int_eq(health_status(), 200);
}
END_TEST

START_TEST(test_chunked_body_past_the_discard_limit_is_cut)
{
    const char *extra[] = {"BO1_MAX_DISCARD_BYTES=131072", NULL};
    size_t len;
    char *req = chunked_request(64, &len);
    int closed;
    char *got;

    start_bo1d(extra);
    /* 1 MiB is more than bo1d reads to drop: the connection is cut, without an answer. */
    got = raw_exchange(req, len, 5000, &closed);
    ck_assert(closed);
    ck_assert_msg(raw_status(got) == 0, "got %.80s", got);
    free(got);
    /* 96 KiB is within it: read, dropped, answered 413. */
    free(req);
    req = chunked_request(6, &len);
    got = raw_exchange(req, len, 5000, &closed);
    assert_raw_problem(got, 413, "TOO_LARGE");
    free(got);
    free(req);
    ck_assert_int_eq(health_status(), 200);
}
END_TEST

START_TEST(test_sse_stream_carries_the_comment_heartbeat)
{
    const char *extra[] = {"BO1_SSE_HEARTBEAT_S=1", NULL};
    const char *hj[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"problem\":{\"statement\":\"Should we move our monolith to "
                       "microservices this year?\"},\"options\":{\"start\":false}}";
    char req[512];
    struct h_resp r;
    json_t *j;
    int closed;
    char *got;
    int beats = 0;
    int fd;

    start_bo1d(extra);
    ck_assert_int_eq(h_http(&r, "POST", bo1d.port, "/api/v1/sessions", hj, body, strlen(body)), 0);
    ck_assert_int_eq(r.status, 201);
    j = h_resp_json(&r);
    snprintf(
        req, sizeof(req),
        "GET /api/v1/sessions/%s/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);

    /* A session that was never started: its stream stays open with nothing to say but the
     * heartbeat. */
    fd = raw_connect(NULL);
    send_all(fd, req, strlen(req));
    got = read_for(fd, 3500, NULL, &closed);
    ck_assert_int_eq(raw_status(got), 200);
    ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Type: text/event-stream"));
    ck_assert(!closed);
    for (const char *p = got; (p = strstr(p, "\n: heartbeat\n\n")) != NULL; p++)
        beats++;
    ck_assert_msg(beats >= 2 && beats <= 5, "%d heartbeats in 3.5 s at 1 s: %s", beats, got);
    free(got);
    close(fd);
}
END_TEST

static Suite *edges_suite(void)
{
    Suite *s = suite_create("edges");
    TCase *tc = tcase_create("edges");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_idle_connection_is_closed_by_the_idle_timeout);
    tcase_add_test(tc, test_per_ip_limit_refuses_the_next_connection_from_that_address);
    tcase_add_test(tc, test_total_limit_holds_the_next_connection_and_serves_after);
    tcase_add_test(tc, test_trickling_request_is_cut_at_the_request_deadline);
    tcase_add_test(tc, test_long_target_and_large_headers_are_problem_json);
    tcase_add_test(tc, test_chunked_body_over_the_limit_is_413_every_time);
    tcase_add_test(tc, test_chunked_body_past_the_discard_limit_is_cut);
    tcase_add_test(tc, test_sse_stream_carries_the_comment_heartbeat);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(edges_suite());
    int failed;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
