/* hiredis <-> libuv glue. Unlike the adapter shipped with hiredis 0.14, a poll error
 * (e.g. connection refused) is passed on to hiredis as a read/write event so that it
 * notices the failure and calls the connect or disconnect callback. */
#include <stdlib.h>

#include "store_internal.h"

struct uv_events {
    redisAsyncContext *ac;
    uv_poll_t handle;
    int events;
};

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct uv_events *p = handle->data;

    if (status < 0)
        events = p->events ? p->events : UV_WRITABLE;
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void update(struct uv_events *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *data)
{
    struct uv_events *p = data;

    p->events |= UV_READABLE;
    update(p);
}

static void del_read(void *data)
{
    struct uv_events *p = data;

    p->events &= ~UV_READABLE;
    update(p);
}

static void add_write(void *data)
{
    struct uv_events *p = data;

    p->events |= UV_WRITABLE;
    update(p);
}

static void del_write(void *data)
{
    struct uv_events *p = data;

    p->events &= ~UV_WRITABLE;
    update(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    free(h->data);
}

static void cleanup(void *data)
{
    struct uv_events *p = data;

    p->ac = NULL;
    uv_close((uv_handle_t *)&p->handle, on_handle_closed);
}

int bo1_store_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    struct uv_events *p;

    if (ac->ev.data)
        return REDIS_ERR;
    p = calloc(1, sizeof(*p));
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}
