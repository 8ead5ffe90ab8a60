/* curl multi driven by the libuv loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> uv_poll) and when to wake it (CURLMOPT_TIMERFUNCTION ->
 * uv_timer); we hand readiness back with curl_multi_socket_action(). One multi handle keeps
 * the connection cache, so keep-alive connections are reused across calls.
 *
 * Completions are reported from on_poll/on_timer after curl_multi_socket_action() has
 * returned, never from inside a curl callback, so a completion may start new transfers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "llm_internal.h"

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct llm_transport *t;
    struct sock_ctx *prev, *next; /* in t->socks until closed */
};

struct llm_transport {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int timer_open;
    struct sock_ctx *socks;
    int in_action; /* guards against nested socket_action from a completion */
};

uint64_t llm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_unlink(struct llm_transport *t, struct sock_ctx *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        t->socks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void sock_close(struct llm_transport *t, struct sock_ctx *c)
{
    sock_unlink(t, c);
    if (uv_is_closing((uv_handle_t *)&c->poll)) {
        /* Closed by someone walking the loop (bo1_loop_stop) without our callback. */
        free(c);
        return;
    }
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void report_done(struct llm_transport *t)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(t->multi, &left)) != NULL) {
        struct llm_xfer *x = NULL;
        CURLcode code;

        if (msg->msg != CURLMSG_DONE)
            continue;
        code = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(t->multi, msg->easy_handle);
        if (!x)
            continue;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http_status);
        x->new_connections = 0;
        curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &x->new_connections);
        x->active = 0;
        x->done(x, (int)code, x->arg);
    }
}

static void socket_action(struct llm_transport *t, curl_socket_t fd, int flags)
{
    int running = 0;

    t->in_action++;
    curl_multi_socket_action(t->multi, fd, flags, &running);
    t->in_action--;
    if (t->in_action == 0)
        report_done(t);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *c = h->data;
    int flags = 0;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(c->t, c->fd, flags);
}

static void on_timer(uv_timer_t *h)
{
    socket_action(h->data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct llm_transport *t = userp;
    struct sock_ctx *c = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            curl_multi_assign(t->multi, fd, NULL);
            sock_close(t, c);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return -1;
        if (uv_poll_init_socket(t->loop, &c->poll, fd) != 0) {
            free(c);
            return -1;
        }
        c->fd = fd;
        c->t = t;
        c->poll.data = c;
        c->next = t->socks;
        if (t->socks)
            t->socks->prev = c;
        t->socks = c;
        curl_multi_assign(t->multi, fd, c);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&c->poll, events, on_poll);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct llm_transport *t = userp;

    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&t->timer);
        return 0;
    }
    /* A 0 timeout still goes through the loop: curl forbids socket_action from here. */
    uv_timer_start(&t->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

enum bo1_status llm_transport_new(uv_loop_t *loop, unsigned max_connections,
                                  struct llm_transport **out)
{
    struct llm_transport *t = calloc(1, sizeof(*t));

    if (!t)
        return BO1_NO_MEMORY;
    t->loop = loop;
    t->multi = curl_multi_init();
    if (!t->multi) {
        free(t);
        return BO1_INTERNAL;
    }
    if (uv_timer_init(loop, &t->timer) != 0) {
        curl_multi_cleanup(t->multi);
        free(t);
        return BO1_INTERNAL;
    }
    t->timer.data = t;
    t->timer_open = 1;
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    /* Keep an idle connection per possible concurrent exchange. */
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)(max_connections + 4));
    *out = t;
    return BO1_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void llm_transport_free(struct llm_transport *t)
{
    if (!t)
        return;
    /* curl_multi_cleanup() closes the cached connections and reports CURL_POLL_REMOVE for
     * their sockets, which closes our poll handles. */
    curl_multi_cleanup(t->multi);
    t->multi = NULL;
    while (t->socks)
        sock_close(t, t->socks);
    if (uv_is_closing((uv_handle_t *)&t->timer)) {
        free(t);
        return;
    }
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct llm_xfer *x = arg;
    size_t n = size * nmemb;

    if (bo1_buf_append(&x->resp, ptr, n) != BO1_OK)
        return 0; /* CURLE_WRITE_ERROR: too large or out of memory */
    return n;
}

static void capture(char **slot, const char *v, size_t n)
{
    free(*slot);
    *slot = strndup(v, n);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct llm_xfer *x = arg;
    size_t n = size * nmemb;
    const char *colon;
    size_t name_len;
    const char *v;
    size_t vlen;

    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): forget the earlier headers. */
        free(x->should_retry);
        free(x->retry_after_ms);
        free(x->retry_after);
        free(x->request_id);
        x->should_retry = x->retry_after_ms = x->retry_after = x->request_id = NULL;
        return n;
    }
    colon = memchr(ptr, ':', n);
    if (!colon)
        return n;
    name_len = (size_t)(colon - ptr);
    v = colon + 1;
    vlen = n - name_len - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(ptr, name, name_len) == 0)
    if (IS("x-should-retry"))
        capture(&x->should_retry, v, vlen);
    else if (IS("retry-after-ms"))
        capture(&x->retry_after_ms, v, vlen);
    else if (IS("retry-after"))
        capture(&x->retry_after, v, vlen);
    else if (IS("request-id") || (IS("x-request-id") && !x->request_id))
        capture(&x->request_id, v, vlen);
#undef IS
    return n;
}

void llm_xfer_fini(struct llm_xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    bo1_buf_fini(&x->resp);
    free(x->should_retry);
    free(x->retry_after_ms);
    free(x->retry_after);
    free(x->request_id);
    x->should_retry = x->retry_after_ms = x->retry_after = x->request_id = NULL;
    x->http_status = 0;
    x->active = 0;
}

enum bo1_status llm_transport_post(struct llm_transport *t, struct llm_xfer *x, const char *url,
                                   struct curl_slist *headers, const char *body, size_t body_len,
                                   long timeout_ms, size_t max_reply, llm_xfer_done_cb *done,
                                   void *arg)
{
    CURL *e;

    llm_xfer_fini(x);
    x->headers = headers;
    bo1_buf_init(&x->resp, max_reply);
    x->errbuf[0] = '\0';
    e = curl_easy_init();
    if (!e)
        return BO1_NO_MEMORY;
    x->easy = e;
    x->done = done;
    x->arg = arg;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Wait for a reused connection rather than opening a new one when multiplexing. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (curl_multi_add_handle(t->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        x->easy = NULL;
        return BO1_INTERNAL;
    }
    x->active = 1;
    return BO1_OK;
}

void llm_transport_abort(struct llm_transport *t, struct llm_xfer *x)
{
    if (!x->active || !x->easy)
        return;
    curl_multi_remove_handle(t->multi, x->easy);
    x->active = 0;
}
