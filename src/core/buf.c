/* Growable byte buffer; doubles its allocation and never exceeds its limit. */
#include "bo1/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bo1_buf_init(struct bo1_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void bo1_buf_fini(struct bo1_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void bo1_buf_reset(struct bo1_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum bo1_status reserve(struct bo1_buf *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *p;

    if (extra > (size_t)-1 - b->len - 1)
        return BO1_TOO_LARGE;
    if (b->limit && b->len + extra > b->limit)
        return BO1_TOO_LARGE;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return BO1_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return BO1_NO_MEMORY;
    b->data = p;
    b->cap = cap;
    return BO1_OK;
}

enum bo1_status bo1_buf_append(struct bo1_buf *b, const void *p, size_t n)
{
    enum bo1_status st = reserve(b, n);

    if (st != BO1_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BO1_OK;
}

enum bo1_status bo1_buf_puts(struct bo1_buf *b, const char *s)
{
    return bo1_buf_append(b, s, strlen(s));
}

enum bo1_status bo1_buf_vprintf(struct bo1_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    enum bo1_status st;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return BO1_INTERNAL;
    st = reserve(b, (size_t)n);
    if (st != BO1_OK)
        return st;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return BO1_OK;
}

enum bo1_status bo1_buf_printf(struct bo1_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum bo1_status st;

    va_start(ap, fmt);
    st = bo1_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

const char *bo1_buf_str(const struct bo1_buf *b)
{
    return b->data ? b->data : "";
}

char *bo1_buf_take(struct bo1_buf *b)
{
    char *p = b->data;

    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
