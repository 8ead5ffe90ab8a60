/* The loop thread and its inbox. The inbox is a singly linked FIFO under a mutex;
 * uv_async_send() coalesces wake-ups, so each wake-up drains the whole inbox. */
#include "bo1/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>

struct job {
    struct job *next;
    bo1_loop_fn_cb *fn;
    void *arg;
};

struct bo1_loop {
    uv_loop_t uv;
    uv_async_t wake;
    pthread_mutex_t lock;
    struct job *head;
    struct job *tail;
    int stopping; /* under lock */
    atomic_int have_thread;
    pthread_t thread;
    pthread_t runner; /* the thread inside uv_run */
    atomic_int running;
};

static void on_close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void drain(struct bo1_loop *loop)
{
    struct job *list;
    int stopping;

    pthread_mutex_lock(&loop->lock);
    list = loop->head;
    loop->head = NULL;
    loop->tail = NULL;
    stopping = loop->stopping;
    pthread_mutex_unlock(&loop->lock);

    while (list) {
        struct job *next = list->next;
        list->fn(list->arg);
        free(list);
        list = next;
    }
    /* Posted work may have posted more; run it before closing anything. */
    pthread_mutex_lock(&loop->lock);
    if (loop->head) {
        pthread_mutex_unlock(&loop->lock);
        uv_async_send(&loop->wake);
        return;
    }
    pthread_mutex_unlock(&loop->lock);
    if (stopping)
        uv_walk(&loop->uv, on_close_any, NULL);
}

static void on_wake(uv_async_t *async)
{
    drain(async->data);
}

enum bo1_status bo1_loop_new(struct bo1_loop **out)
{
    struct bo1_loop *loop = calloc(1, sizeof(*loop));

    if (!loop)
        return BO1_NO_MEMORY;
    if (uv_loop_init(&loop->uv) != 0) {
        free(loop);
        return BO1_INTERNAL;
    }
    if (uv_async_init(&loop->uv, &loop->wake, on_wake) != 0) {
        uv_loop_close(&loop->uv);
        free(loop);
        return BO1_INTERNAL;
    }
    loop->wake.data = loop;
    loop->uv.data = loop;
    pthread_mutex_init(&loop->lock, NULL);
    *out = loop;
    return BO1_OK;
}

uv_loop_t *bo1_loop_uv(struct bo1_loop *loop)
{
    return &loop->uv;
}

void bo1_loop_run(struct bo1_loop *loop)
{
    loop->runner = pthread_self();
    atomic_store(&loop->running, 1);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    /* Close whatever is left so uv_loop_close() succeeds. */
    uv_walk(&loop->uv, on_close_any, NULL);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    atomic_store(&loop->running, 0);
}

static void *thread_main(void *arg)
{
    /* Named so that profiles and benchmarks can find it (/proc/<pid>/task/<tid>/comm). */
    prctl(PR_SET_NAME, "bo1-loop", 0, 0, 0);
    bo1_loop_run(arg);
    return NULL;
}

enum bo1_status bo1_loop_start(struct bo1_loop *loop)
{
    if (pthread_create(&loop->thread, NULL, thread_main, loop) != 0)
        return BO1_INTERNAL;
    atomic_store(&loop->have_thread, 1);
    return BO1_OK;
}

enum bo1_status bo1_loop_post(struct bo1_loop *loop, bo1_loop_fn_cb *fn, void *arg)
{
    struct job *j = malloc(sizeof(*j));

    if (!j)
        return BO1_NO_MEMORY;
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&loop->lock);
    if (loop->stopping) {
        pthread_mutex_unlock(&loop->lock);
        free(j);
        return BO1_UNAVAILABLE;
    }
    if (loop->tail)
        loop->tail->next = j;
    else
        loop->head = j;
    loop->tail = j;
    /* Sent under the lock so bo1_loop_stop() cannot close the handle in between. */
    uv_async_send(&loop->wake);
    pthread_mutex_unlock(&loop->lock);
    return BO1_OK;
}

int bo1_loop_on_thread(const struct bo1_loop *loop)
{
    return atomic_load(&loop->running) && pthread_equal(loop->runner, pthread_self());
}

void bo1_loop_stop(struct bo1_loop *loop)
{
    if (!loop)
        return;
    pthread_mutex_lock(&loop->lock);
    if (!loop->stopping) {
        loop->stopping = 1;
        uv_async_send(&loop->wake);
    }
    pthread_mutex_unlock(&loop->lock);
    if (atomic_load(&loop->have_thread) && !pthread_equal(loop->thread, pthread_self())) {
        pthread_join(loop->thread, NULL);
        atomic_store(&loop->have_thread, 0);
    }
}

void bo1_loop_free(struct bo1_loop *loop)
{
    if (!loop)
        return;
    if (!uv_is_closing((uv_handle_t *)&loop->wake)) {
        uv_close((uv_handle_t *)&loop->wake, NULL);
        uv_run(&loop->uv, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop->uv);
    while (loop->head) {
        struct job *j = loop->head;
        loop->head = j->next;
        free(j);
    }
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}
