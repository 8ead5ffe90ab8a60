/* Private to the store module. */
#pragma once

#include <hiredis/async.h>

#include "bo1/store.h"

/** Attach @ac to @loop (our own adapter, see uv_adapter.c). Returns REDIS_OK/REDIS_ERR. */
int bo1_store_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);
