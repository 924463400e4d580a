/* SPDX-License-Identifier: Apache-2.0 */
/* Shared declarations of the memscope native addon: a thin N-API layer over libbpf.
 * JavaScript holds a bpf object as an external; every attach, map and ring-buffer call
 * goes through it so that destroy() can release everything in one place. */
#ifndef MEMSCOPE_INTERNAL_H
#define MEMSCOPE_INTERNAL_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <stdbool.h>
#include <stddef.h>

struct ms_ringbuf;

/* Fetches up to max arguments into argv, throwing when fewer than min were given. */
#define ARGS_RANGE(min, max)                                         \
	size_t argc = max;                                           \
	napi_value argv[max];                                        \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);        \
	if (argc < min)                                              \
		return ms_throw(env, "missing arguments", false);

/* Fetches n arguments into argv, throwing when fewer were given. */
#define ARGS(n)                                                       \
	size_t argc = n;                                              \
	napi_value argv[n];                                           \
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);         \
	if (argc < n)                                                 \
		return ms_throw(env, "missing arguments", false);


struct ms_object {
	struct bpf_object *obj;
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct ms_ringbuf *ringbufs; /* singly linked */
	/* global sections (.bss, .data, .rodata) mapped read-only once loaded (readGlobal): a read
	 * is a copy, not a bpf() lookup copying the whole section into a buffer malloc'd for it */
	struct ms_section {
		const struct bpf_map *map;
		void *mem; /* NULL: not mappable, read by lookup */
		size_t len;
	} sections[8];
	size_t nsections;
	/* globals found once loaded, by name: the agent reads its sources' counters at every
	 * collection, and each read walked the object's BTF for the name (~10 us) */
	struct ms_global {
		char name[64];
		struct bpf_map *map;
		size_t off, size;
	} globals[24];
	size_t nglobals;
	/* the perf event of each link made by attachPerfEvent, with its program: setPerfPeriod
	 * changes their sample period in place (the links own and close the fds) */
	struct ms_perf_fd {
		const struct bpf_program *prog;
		int fd;
	} *perf_fds;
	size_t nperf_fds, perf_fds_cap;
	bool loaded;
	bool destroyed;
};

/* Throws a JS Error whose message is msg (plus libbpf's recent log when with_log) and returns NULL. */
napi_value ms_throw(napi_env env, const char *msg, bool with_log);
napi_value ms_throw_errno(napi_env env, const char *what, int err);

/* Argument helpers: each throws and returns false on a wrong type. */
bool ms_get_object(napi_env env, napi_value v, struct ms_object **out);
bool ms_get_string(napi_env env, napi_value v, char *buf, size_t len);
bool ms_get_int64(napi_env env, napi_value v, int64_t *out);
bool ms_get_bool(napi_env env, napi_value v, bool *out);
bool ms_get_buffer(napi_env env, napi_value v, void **data, size_t *len);
napi_value ms_undefined(napi_env env);
napi_value ms_int(napi_env env, int64_t v);

struct bpf_program *ms_find_program(napi_env env, struct ms_object *o, napi_value name);
struct bpf_map *ms_find_map(napi_env env, struct ms_object *o, napi_value name);
bool ms_add_link(napi_env env, struct ms_object *o, struct bpf_link *link);
bool ms_add_perf_fd(napi_env env, struct ms_object *o, const struct bpf_program *prog, int fd);

/* libbpf log capture (log.c) */
void ms_log_install(void);
const char *ms_log_tail(void);
void ms_log_clear(void);
napi_value ms_set_verbose(napi_env env, napi_callback_info info);

/* object.c */
napi_value ms_open(napi_env env, napi_callback_info info);
napi_value ms_set_const(napi_env env, napi_callback_info info);
napi_value ms_read_global(napi_env env, napi_callback_info info);
napi_value ms_set_autoload(napi_env env, napi_callback_info info);
napi_value ms_load(napi_env env, napi_callback_info info);
napi_value ms_destroy(napi_env env, napi_callback_info info);
napi_value ms_detach(napi_env env, napi_callback_info info);
napi_value ms_program_names(napi_env env, napi_callback_info info);
napi_value ms_set_max_entries(napi_env env, napi_callback_info info);
napi_value ms_set_value_size(napi_env env, napi_callback_info info);
void ms_object_release(struct ms_object *o);

/* attach.c */
napi_value ms_attach(napi_env env, napi_callback_info info);
napi_value ms_attach_perf_event(napi_env env, napi_callback_info info);
napi_value ms_set_perf_period(napi_env env, napi_callback_info info);
napi_value ms_attach_tracepoint(napi_env env, napi_callback_info info);
napi_value ms_attach_raw_tracepoint(napi_env env, napi_callback_info info);
napi_value ms_attach_uprobe(napi_env env, napi_callback_info info);
napi_value ms_attach_usdt(napi_env env, napi_callback_info info);
napi_value ms_num_cpus(napi_env env, napi_callback_info info);

/* maps.c */
napi_value ms_map_info(napi_env env, napi_callback_info info);
napi_value ms_map_lookup(napi_env env, napi_callback_info info);
napi_value ms_map_update(napi_env env, napi_callback_info info);
napi_value ms_map_delete(napi_env env, napi_callback_info info);
napi_value ms_map_entries(napi_env env, napi_callback_info info);
napi_value ms_map_delete_keys(napi_env env, napi_callback_info info);
napi_value ms_map_lookup_keys(napi_env env, napi_callback_info info);

/* ringbuf.c */
napi_value ms_ringbuf_open(napi_env env, napi_callback_info info);
void ms_ringbufs_close(struct ms_object *o);
void ms_ringbufs_drain(struct ms_object *o);
napi_value ms_ringbufs_discard(napi_env env, napi_callback_info info);
napi_value ms_ringbufs_consume(napi_env env, napi_callback_info info);
napi_value ms_ringbufs_close_now(napi_env env, napi_callback_info info);

/* counters.c */
napi_value ms_perf_counter_open(napi_env env, napi_callback_info info);

#endif
