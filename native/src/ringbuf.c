// SPDX-License-Identifier: Apache-2.0
/* BPF ring buffer consumption on Node's own event loop: libuv polls the ring buffer's epoll fd,
 * and when it is readable we drain it without blocking and hand JavaScript one array of records. */
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct ms_ringbuf {
	struct ms_ringbuf *next;
	struct ring_buffer *rb;
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context async;
	/* records of the drain in progress */
	char **recs;
	size_t *lens;
	size_t n, cap;
	bool closing;
};

static int collect(void *ctx, void *data, size_t size)
{
	struct ms_ringbuf *r = ctx;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		char **recs = realloc(r->recs, cap * sizeof(*recs));
		if (!recs)
			return -ENOMEM;
		r->recs = recs;
		size_t *lens = realloc(r->lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		r->lens = lens;
		r->cap = cap;
	}
	char *copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, size);
	r->recs[r->n] = copy;
	r->lens[r->n] = size;
	r->n++;
	/* bound one delivery so a flood cannot starve the rest of the loop */
	return r->n >= 65536 ? 1 : 0;
}

static void deliver(struct ms_ringbuf *r)
{
	napi_env env = r->env;
	napi_handle_scope scope;
	napi_open_handle_scope(env, &scope);
	napi_value arr;
	napi_create_array_with_length(env, r->n, &arr);
	for (size_t i = 0; i < r->n; i++) {
		napi_value b;
		napi_create_buffer_copy(env, r->lens[i], r->recs[i], NULL, &b);
		napi_set_element(env, arr, (uint32_t)i, b);
		free(r->recs[i]);
	}
	r->n = 0;
	napi_value cb, recv, result;
	napi_get_reference_value(env, r->callback, &cb);
	napi_get_global(env, &recv);
	napi_make_callback(env, r->async, recv, cb, 1, &arr, &result);
	napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct ms_ringbuf *r = handle->data;
	if (r->closing)
		return;
	ring_buffer__consume(r->rb);
	if (r->n > 0)
		deliver(r);
}

static void on_closed(uv_handle_t *h)
{
	struct ms_ringbuf *r = h->data;
	free(r->recs);
	free(r->lens);
	free(r);
}

/* ringbufOpen(obj, mapName, callback(records: Buffer[])) */
napi_value ms_ringbuf_open(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_map *m = ms_find_map(env, o, argv[1]);
	if (!m)
		return NULL;
	struct ms_ringbuf *r = calloc(1, sizeof(*r));
	if (!r)
		return ms_throw(env, "out of memory", false);
	r->rb = ring_buffer__new(bpf_map__fd(m), collect, r, NULL);
	if (!r->rb) {
		int e = errno;
		free(r);
		return ms_throw_errno(env, "cannot open ring buffer", e);
	}
	r->env = env;
	napi_create_reference(env, argv[2], 1, &r->callback);
	napi_value name;
	napi_create_string_utf8(env, "memscope:ringbuf", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &r->async);
	uv_loop_t *loop;
	napi_get_uv_event_loop(env, &loop);
	uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	r->poll.data = r;
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
	r->next = o->ringbufs;
	o->ringbufs = r;
	return ms_undefined(env);
}

void ms_ringbufs_drain(struct ms_object *o)
{
	for (struct ms_ringbuf *r = o->ringbufs; r; r = r->next) {
		ring_buffer__consume(r->rb);
		if (r->n > 0)
			deliver(r);
	}
}

void ms_ringbufs_close(struct ms_object *o)
{
	struct ms_ringbuf *r = o->ringbufs;
	while (r) {
		struct ms_ringbuf *next = r->next;
		/* a last drain so records written just before detach still reach the tool */
		ring_buffer__consume(r->rb);
		if (r->n > 0)
			deliver(r);
		r->closing = true;
		uv_poll_stop(&r->poll);
		ring_buffer__free(r->rb);
		napi_delete_reference(r->env, r->callback);
		napi_async_destroy(r->env, r->async);
		uv_close((uv_handle_t *)&r->poll, on_closed);
		r = next;
	}
	o->ringbufs = NULL;
}
