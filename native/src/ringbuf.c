// SPDX-License-Identifier: Apache-2.0
/* BPF ring buffer consumption on Node's own event loop: libuv polls the ring buffer's epoll fd,
 * and when it is readable we drain it without blocking and hand JavaScript one array of records. */
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

/* the most record bytes one delivery hands JavaScript (ARCHITECTURE.md, "Memory bound") */
#define MS_DELIVERY_BYTES (16u << 20)
/* the most records one delivery hands JavaScript, unless the ring was opened with fewer: each
 * delivery is one callback on the loop, and a signal (SIGTERM, Ctrl-C) waits for the callbacks under
 * way; the ring stays readable, so the rest comes on the loop's next turn. A consumer whose records
 * are costly asks for fewer: the agent's process notes are a /proc read each (252 took 104 ms of CPU
 * in a fork storm), and with 65,536 an agent held to 2% of a CPU did not act on SIGTERM within 90 s.
 * Fewer for every ring made DWARF samples and their mapping records reach the unwinder in other
 * batches (faults-conditions' exec test failed 3 times in 8 with 256, 0-1 with 65,536). */
#define MS_DELIVERY_RECORDS 65536u
/* collect's "this delivery is full" (any negative value stops libbpf's consume) */
#define MS_DELIVERY_FULL (-EFBIG)
/* the largest record buffer kept between deliveries (see deliver) */
#define MS_KEEP_BYTES (1u << 20)

struct ms_ringbuf {
	struct ms_ringbuf *next;
	struct ring_buffer *rb;
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context async;
	/* records of the drain in progress, one after the other in data (reused up to MS_KEEP_BYTES;
	 * it never holds more than MS_DELIVERY_BYTES plus one record), and their lengths */
	char *data;
	size_t bytes, data_cap;
	uint32_t *lens;
	size_t n, cap;
	/* closing: freed at the next close; discarded: delivers nothing more (ringbufsDiscard) */
	bool closing, discarded;
	uint32_t max_records; /* per delivery: MS_DELIVERY_RECORDS or fewer */
	/* a ring opened with reuseBytes: data is one JavaScript buffer (jsbuf) handed over at every
	 * delivery, its records valid only during the callback; a delivery ends past reuse_bytes.
	 * A new buffer per delivery (napi_create_buffer_copy, and the C buffer grown to it) was fresh
	 * memory each time: at 30-40k DWARF samples/s that was 40-80k page faults/s of memscope's own,
	 * 94% of them, with their kernel time and the collector's sweeping of the buffers. */
	napi_ref jsbuf;
	size_t reuse_bytes;
	/* idle_ms: after a delivery that emptied the ring, the ring is not polled for this long (timer).
	 * BPF wakes the reader when a record lands in an empty ring: a reader that keeps up empties it
	 * every time, and was woken for every record or two (10k context switches a second at 20k
	 * samples/s, a third of its CPU). Left unread a moment, the ring fills without wake-ups and the
	 * next delivery takes them all. handles: open libuv handles, freed at the last close. */
	uint32_t idle_ms;
	uv_timer_t timer;
	int handles;
};

/* A reusing ring's buffer made at least need bytes, the records collected so far kept (a record
 * larger than the room left past reuse_bytes: the ring's caller said how large its records are,
 * so this is for a record larger than that). */
static bool grow_jsbuf(struct ms_ringbuf *r, size_t need)
{
	napi_env env = r->env;
	size_t cap = r->data_cap * 2;
	while (cap < need)
		cap *= 2;
	napi_handle_scope scope;
	napi_open_handle_scope(env, &scope);
	void *data;
	napi_value buf;
	bool ok = napi_create_buffer(env, cap, &data, &buf) == napi_ok;
	if (ok) {
		memcpy(data, r->data, r->bytes);
		napi_delete_reference(env, r->jsbuf);
		napi_create_reference(env, buf, 1, &r->jsbuf);
		r->data = data;
		r->data_cap = cap;
	}
	napi_close_handle_scope(env, scope);
	return ok;
}

static int collect(void *ctx, void *rec, size_t size)
{
	struct ms_ringbuf *r = ctx;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		uint32_t *lens = realloc(r->lens, cap * sizeof(*lens));
		if (!lens)
			return -ENOMEM;
		r->lens = lens;
		r->cap = cap;
	}
	if (r->jsbuf && r->bytes + size > r->data_cap) {
		if (!grow_jsbuf(r, r->bytes + size))
			return -ENOMEM;
	} else if (r->bytes + size > r->data_cap) {
		size_t cap = r->data_cap ? r->data_cap : 1 << 16;
		while (cap < r->bytes + size)
			cap *= 2;
		char *data = realloc(r->data, cap);
		if (!data)
			return -ENOMEM;
		r->data = data;
		r->data_cap = cap;
	}
	memcpy(r->data + r->bytes, rec, size);
	r->lens[r->n++] = (uint32_t)size;
	r->bytes += size;
	/* bound one delivery so a flood cannot starve the rest of the loop, and its memory: 16 MiB of
	 * records (copied here, then once into one JavaScript buffer), whatever their size (DWARF
	 * samples are up to 16 KiB each: 65,536 of them would be 1 GiB). libbpf goes on after a
	 * positive return: only a negative one stops consume (this record is consumed already, and kept) */
	size_t most = r->jsbuf ? r->reuse_bytes : MS_DELIVERY_BYTES;
	return r->n >= r->max_records || r->bytes >= most ? MS_DELIVERY_FULL : 0;
}

/* Hands JavaScript the records as one buffer and their lengths (bpf-object.ts splits it into
 * views): one backing store per delivery, not one per record, so what the garbage collector has
 * to find stays small whatever the event rate. */
static void deliver(struct ms_ringbuf *r)
{
	napi_env env = r->env;
	napi_handle_scope scope;
	napi_open_handle_scope(env, &scope);
	napi_value args[2];
	if (r->jsbuf)
		napi_get_reference_value(env, r->jsbuf, &args[0]);
	else
		napi_create_buffer_copy(env, r->bytes, r->data, NULL, &args[0]);
	napi_create_buffer_copy(env, r->n * sizeof(*r->lens), r->lens, NULL, &args[1]);
	r->n = 0;
	r->bytes = 0;
	/* a drain after a stall (a full 8 MiB ring) grew the buffer to 8-32 MiB: kept for reuse, its
	 * pages stayed in the RSS for good (the agent's). Given back past 1 MiB; ordinary deliveries
	 * stay below that and keep reusing it. */
	if (!r->jsbuf && r->data_cap > MS_KEEP_BYTES) {
		free(r->data);
		r->data = NULL;
		r->data_cap = 0;
	}
	napi_value cb, recv, result;
	napi_get_reference_value(env, r->callback, &cb);
	napi_get_global(env, &recv);
	napi_make_callback(env, r->async, recv, cb, 2, args, &result);
	napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events);

static void on_idle_end(uv_timer_t *t)
{
	struct ms_ringbuf *r = t->data;
	if (r->closing || r->discarded)
		return;
	/* level-triggered: records that came meanwhile are delivered on the loop's next poll */
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct ms_ringbuf *r = handle->data;
	if (r->closing || r->discarded)
		return;
	int err = ring_buffer__consume(r->rb);
	if (r->n > 0)
		deliver(r);
	/* emptied (not stopped by a full delivery): let records gather without wake-ups a moment */
	if (r->idle_ms && err != MS_DELIVERY_FULL && !r->closing && !r->discarded) {
		uv_poll_stop(&r->poll);
		uv_timer_start(&r->timer, on_idle_end, r->idle_ms, 0);
	}
}

static void on_closed(uv_handle_t *h)
{
	struct ms_ringbuf *r = h->data;
	if (--r->handles > 0)
		return;
	if (!r->jsbuf)
		free(r->data);
	free(r->lens);
	free(r);
}

/* ringbufOpen(obj, mapName, callback(data, lengths)[, maxRecords[, reuseBytes, recordBytes[, idleMs]]]):
 * with reuseBytes, every delivery hands over the same buffer (records valid only during the
 * callback), ending past reuseBytes; recordBytes: the ring's largest record, so that one always
 * fits after them; idleMs: the ring is left unpolled that long after a delivery that emptied it */
napi_value ms_ringbuf_open(napi_env env, napi_callback_info info)
{
	ARGS_RANGE(3, 7);
	uint32_t max_records = MS_DELIVERY_RECORDS;
	if (argc > 3 && (napi_get_value_uint32(env, argv[3], &max_records) != napi_ok || !max_records || max_records > MS_DELIVERY_RECORDS))
		return ms_throw(env, "maxRecords: expected 1 to 65536", false);
	uint32_t reuse_bytes = 0, record_bytes = 0;
	if (argc > 5 && (napi_get_value_uint32(env, argv[4], &reuse_bytes) != napi_ok || napi_get_value_uint32(env, argv[5], &record_bytes) != napi_ok ||
			 !reuse_bytes || reuse_bytes > MS_DELIVERY_BYTES || !record_bytes || record_bytes > MS_DELIVERY_BYTES))
		return ms_throw(env, "reuseBytes, recordBytes: expected 1 to 16 MiB", false);
	uint32_t idle_ms = 0;
	if (argc > 6 && (napi_get_value_uint32(env, argv[6], &idle_ms) != napi_ok || idle_ms > 100))
		return ms_throw(env, "idleMs: expected 0 to 100", false);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_map *m = ms_find_map(env, o, argv[1]);
	if (!m)
		return NULL;
	struct ms_ringbuf *r = calloc(1, sizeof(*r));
	if (!r)
		return ms_throw(env, "out of memory", false);
	r->max_records = max_records;
	r->rb = ring_buffer__new(bpf_map__fd(m), collect, r, NULL);
	if (!r->rb) {
		int e = errno;
		free(r);
		return ms_throw_errno(env, "cannot open ring buffer", e);
	}
	r->env = env;
	if (reuse_bytes) {
		void *data;
		napi_value buf;
		if (napi_create_buffer(env, (size_t)reuse_bytes + record_bytes, &data, &buf) != napi_ok) {
			ring_buffer__free(r->rb);
			free(r);
			return NULL;
		}
		napi_create_reference(env, buf, 1, &r->jsbuf);
		r->data = data;
		r->data_cap = (size_t)reuse_bytes + record_bytes;
		r->reuse_bytes = reuse_bytes;
	}
	napi_create_reference(env, argv[2], 1, &r->callback);
	napi_value name;
	napi_create_string_utf8(env, "memscope:ringbuf", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &r->async);
	uv_loop_t *loop;
	napi_get_uv_event_loop(env, &loop);
	uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	r->poll.data = r;
	r->handles = 1;
	r->idle_ms = idle_ms;
	if (idle_ms) {
		uv_timer_init(loop, &r->timer);
		r->timer.data = r;
		r->handles++;
	}
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
	r->next = o->ringbufs;
	o->ringbufs = r;
	return ms_undefined(env);
}

/* Delivers what the ring holds, one bounded delivery at a time, at most max_deliveries of them; a
 * handler that discards the rings stops it after its delivery. */
static void drain(struct ms_ringbuf *r, uint32_t max_deliveries)
{
	int err;
	do {
		if (r->discarded || r->closing)
			return;
		err = ring_buffer__consume(r->rb);
		if (r->n > 0)
			deliver(r);
	} while (err == MS_DELIVERY_FULL && --max_deliveries);
}

/* Everything the ring holds (after detach: no producer refills it, so this ends). */
static void drain_all(struct ms_ringbuf *r)
{
	drain(r, UINT32_MAX);
}

/* ringbufsConsume(obj, maxDeliveries): delivers what the object's rings hold now, without waiting
 * for their wake-up (BPF wakes the agent only past a fill level: memscope.h ms_batch_wakeups), at
 * most maxDeliveries bounded deliveries per ring: records a producer adds meanwhile past that come
 * with the ring's wake-up, as a storm's do. */
napi_value ms_ringbufs_consume(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct ms_object *o;
	uint32_t max_deliveries;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	if (napi_get_value_uint32(env, argv[1], &max_deliveries) != napi_ok || !max_deliveries)
		return ms_throw(env, "maxDeliveries: expected a positive integer", false);
	for (struct ms_ringbuf *r = o->ringbufs; r; r = r->next)
		drain(r, max_deliveries);
	return ms_undefined(env);
}

/* ringbufsDiscard(obj): the object's rings deliver nothing from now on, neither as they fill nor
 * in the last drain at close (the agent stopping: the records of a storm would be handled for
 * nothing, seconds each on a starved CPU). A delivery under way ends as it is: at most its ring's
 * maxRecords records. The rings are freed at destroy as usual. */
napi_value ms_ringbufs_discard(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	for (struct ms_ringbuf *r = o->ringbufs; r; r = r->next) {
		r->discarded = true;
		uv_poll_stop(&r->poll);
		if (r->idle_ms)
			uv_timer_stop(&r->timer);
	}
	return ms_undefined(env);
}

/* ringbufsClose(obj): a last drain, then the object's rings are unmapped (their maps stay, so
 * the kernel side is untouched). After detach nothing more comes, and the sample ring's pages
 * (32 MiB mapped twice) are no longer memscope's RSS while the report is built
 * (ARCHITECTURE.md, "Memory bound"). */
napi_value ms_ringbufs_close_now(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	ms_ringbufs_close(o);
	return ms_undefined(env);
}

void ms_ringbufs_drain(struct ms_object *o)
{
	for (struct ms_ringbuf *r = o->ringbufs; r; r = r->next)
		drain_all(r);
}

void ms_ringbufs_close(struct ms_object *o)
{
	struct ms_ringbuf *r = o->ringbufs;
	while (r) {
		struct ms_ringbuf *next = r->next;
		/* a last drain so records written just before detach still reach the tool (none for
		 * discarded rings: drain_all returns at once) */
		drain_all(r);
		r->closing = true;
		uv_poll_stop(&r->poll);
		if (r->idle_ms) {
			uv_timer_stop(&r->timer);
			uv_close((uv_handle_t *)&r->timer, on_closed);
		}
		ring_buffer__free(r->rb);
		napi_delete_reference(r->env, r->callback);
		if (r->jsbuf)
			napi_delete_reference(r->env, r->jsbuf);
		napi_async_destroy(r->env, r->async);
		uv_close((uv_handle_t *)&r->poll, on_closed);
		r = next;
	}
	o->ringbufs = NULL;
}
