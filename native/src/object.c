// SPDX-License-Identifier: Apache-2.0
/* Opening, configuring, loading and destroying one BPF object file. */
#include "internal.h"
#include <bpf/btf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void finalize(napi_env env, void *data, void *hint)
{
	struct ms_object *o = data;
	ms_object_release(o);
	free(o);
}

napi_value ms_open(napi_env env, napi_callback_info info)
{
	ARGS(1);
	char path[4096];
	if (!ms_get_string(env, argv[0], path, sizeof(path)))
		return NULL;
	ms_log_clear();
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return ms_throw_errno(env, "cannot open BPF object", errno);
	struct ms_object *o = calloc(1, sizeof(*o));
	if (!o) {
		bpf_object__close(obj);
		return ms_throw(env, "out of memory", false);
	}
	o->obj = obj;
	napi_value ext;
	napi_create_external(env, o, finalize, NULL, &ext);
	return ext;
}

static struct bpf_map *find_global_btf(struct ms_object *o, const char *name, size_t *off, size_t *size);

/* Finds a global variable in .rodata/.data/.bss; once loaded, from the names found before. */
static struct bpf_map *find_global(struct ms_object *o, const char *name, size_t *off, size_t *size)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < o->nglobals; i++) {
		struct ms_global *g = &o->globals[i];
		if (strcmp(g->name, name) == 0) {
			*off = g->off;
			*size = g->size;
			return g->map;
		}
	}
	struct bpf_map *map = find_global_btf(o, name, off, size);
	if (map && o->loaded && len < sizeof(o->globals[0].name) && o->nglobals < sizeof(o->globals) / sizeof(o->globals[0])) {
		struct ms_global *g = &o->globals[o->nglobals++];
		memcpy(g->name, name, len + 1);
		g->map = map;
		g->off = *off;
		g->size = *size;
	}
	return map;
}

/* Finds a global variable through the object's BTF. */
static struct bpf_map *find_global_btf(struct ms_object *o, const char *name, size_t *off, size_t *size)
{
	struct btf *btf = bpf_object__btf(o->obj);
	if (!btf)
		return NULL;
	struct bpf_map *map;
	bpf_object__for_each_map(map, o->obj) {
		if (!bpf_map__is_internal(map))
			continue;
		const char *mname = bpf_map__name(map);
		const char *sec = strchr(mname, '.');
		if (!sec)
			continue;
		int id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
		if (id < 0)
			continue;
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);
		for (int i = 0; i < btf_vlen(t); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, var->name_off), name) == 0) {
				*off = vs->offset;
				*size = vs->size;
				return map;
			}
		}
	}
	return NULL;
}

napi_value ms_set_const(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ms_object *o;
	char name[256];
	void *data;
	size_t len;
	if (!ms_get_object(env, argv[0], &o) || !ms_get_string(env, argv[1], name, sizeof(name)) ||
	    !ms_get_buffer(env, argv[2], &data, &len))
		return NULL;
	if (o->loaded)
		return ms_throw(env, "constants must be set before load", false);
	size_t off, size;
	struct bpf_map *map = find_global(o, name, &off, &size);
	if (!map) {
		char msg[320];
		snprintf(msg, sizeof(msg), "no global variable named %s in the BPF object", name);
		return ms_throw(env, msg, false);
	}
	if (len != size) {
		char msg[320];
		snprintf(msg, sizeof(msg), "global %s has %zu bytes, got %zu", name, size, len);
		return ms_throw(env, msg, false);
	}
	size_t total;
	const void *init = bpf_map__initial_value(map, &total);
	if (!init || off + size > total)
		return ms_throw(env, "cannot reach the initial value of a global section", false);
	void *copy = malloc(total);
	if (!copy)
		return ms_throw(env, "out of memory", false);
	memcpy(copy, init, total);
	memcpy((char *)copy + off, data, size);
	int err = bpf_map__set_initial_value(map, copy, total);
	free(copy);
	if (err)
		return ms_throw_errno(env, "cannot set constant", err);
	return ms_undefined(env);
}

/* The loaded section's memory, mapped read-only on first use; NULL where the kernel did not make
 * it mappable (then readGlobal falls back to a lookup). The agent reads its sources' lost-event
 * counters at every collection: nine bpf() calls and mallocs of a whole .bss each, every 2 s. */
static const void *section_mem(struct ms_object *o, const struct bpf_map *map)
{
	for (size_t i = 0; i < o->nsections; i++)
		if (o->sections[i].map == map)
			return o->sections[i].mem;
	if (o->nsections == sizeof(o->sections) / sizeof(o->sections[0]))
		return NULL;
	struct ms_section *s = &o->sections[o->nsections++];
	s->map = map;
	s->mem = NULL;
	if (!(bpf_map__map_flags(map) & BPF_F_MMAPABLE))
		return NULL;
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (bpf_map__value_size(map) + page - 1) / page * page;
	void *mem = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
	if (mem == MAP_FAILED)
		return NULL;
	s->mem = mem;
	s->len = len;
	return mem;
}

static void unmap_sections(struct ms_object *o)
{
	for (size_t i = 0; i < o->nsections; i++)
		if (o->sections[i].mem)
			munmap(o->sections[i].mem, o->sections[i].len);
	o->nsections = 0;
}

napi_value ms_read_global(napi_env env, napi_callback_info info)
{
	ARGS(2);
	struct ms_object *o;
	char name[256];
	if (!ms_get_object(env, argv[0], &o) || !ms_get_string(env, argv[1], name, sizeof(name)))
		return NULL;
	size_t off, size;
	struct bpf_map *map = find_global(o, name, &off, &size);
	if (!map)
		return ms_throw(env, "no such global variable", false);
	napi_value out;
	const void *mem = o->loaded ? section_mem(o, map) : NULL;
	if (mem) {
		napi_create_buffer_copy(env, size, (const char *)mem + off, NULL, &out);
		return out;
	}
	size_t vsize = bpf_map__value_size(map);
	char *buf = malloc(vsize);
	if (!buf)
		return ms_throw(env, "out of memory", false);
	int zero = 0;
	if (!o->loaded) {
		size_t total;
		const void *init = bpf_map__initial_value(map, &total);
		memcpy(buf, init, vsize < total ? vsize : total);
	} else if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, buf)) {
		int e = errno;
		free(buf);
		return ms_throw_errno(env, "cannot read global", e);
	}
	napi_create_buffer_copy(env, size, buf + off, NULL, &out);
	free(buf);
	return out;
}

napi_value ms_set_autoload(napi_env env, napi_callback_info info)
{
	ARGS(3);
	struct ms_object *o;
	bool on;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_program *p = ms_find_program(env, o, argv[1]);
	if (!p || !ms_get_bool(env, argv[2], &on))
		return NULL;
	int err = bpf_program__set_autoload(p, on);
	if (err)
		return ms_throw_errno(env, "cannot set autoload", err);
	return ms_undefined(env);
}

/* (obj, map, n) before load: the one argument check and error path of the map setters below. */
static napi_value ms_size_map(napi_env env, napi_callback_info info, int (*set)(struct bpf_map *, __u32), const char *what)
{
	ARGS(3);
	struct ms_object *o;
	int64_t n;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	struct bpf_map *m = ms_find_map(env, o, argv[1]);
	if (!m || !ms_get_int64(env, argv[2], &n))
		return NULL;
	if (o->loaded)
		return ms_throw(env, "maps must be sized before load", false);
	int err = set(m, (uint32_t)n);
	if (err)
		return ms_throw_errno(env, what, err);
	return ms_undefined(env);
}

/* setMaxEntries(obj, map, n): resizes a map before load (stack storage sized per tool/option). */
napi_value ms_set_max_entries(napi_env env, napi_callback_info info)
{
	return ms_size_map(env, info, bpf_map__set_max_entries, "cannot resize map");
}

/* setValueSize(obj, map, bytes): a map's value size before load (a stack map's depth: the agent
 * keeps more, shallower stacks). */
napi_value ms_set_value_size(napi_env env, napi_callback_info info)
{
	return ms_size_map(env, info, bpf_map__set_value_size, "cannot set the map's value size");
}

napi_value ms_program_names(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	napi_value arr;
	napi_create_array(env, &arr);
	struct bpf_program *p;
	uint32_t i = 0;
	bpf_object__for_each_program(p, o->obj) {
		napi_value entry, name, sec;
		napi_create_object(env, &entry);
		napi_create_string_utf8(env, bpf_program__name(p), NAPI_AUTO_LENGTH, &name);
		napi_create_string_utf8(env, bpf_program__section_name(p), NAPI_AUTO_LENGTH, &sec);
		napi_set_named_property(env, entry, "name", name);
		napi_set_named_property(env, entry, "section", sec);
		napi_set_element(env, arr, i++, entry);
	}
	return arr;
}

napi_value ms_load(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	ms_log_clear();
	/* The verifier gives up with EAGAIN when a signal is pending for the loading thread, and libbpf
	 * tries a program only five times: a profiler's SIGPROF every millisecond (node --cpu-prof), or
	 * signals arriving in a burst, failed whole tools (the agent went on without its faults and
	 * oomkill sources). Signals blocked are not pending for the verifier; they are delivered when
	 * the load ends (a Ctrl-C during a load is acted on right after it, and the object destroyed). */
	sigset_t all, before;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &before);
	int err = bpf_object__load(o->obj);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (err)
		return ms_throw_errno(env, "cannot load BPF object", err);
	o->loaded = true;
	return ms_undefined(env);
}

struct detach_job {
	struct bpf_link **links;
	size_t n, stride, start;
};

static void *detach_worker(void *arg)
{
	struct detach_job *j = arg;
	for (size_t i = j->start; i < j->n; i += j->stride)
		bpf_link__destroy(j->links[i]);
	return NULL;
}

/* Each perf-event-backed link waits out an RCU grace period on close (~70 ms here), so links are
 * destroyed from several threads at once: exit time then costs one grace period, not N. */
static void destroy_links(struct bpf_link **links, size_t n)
{
	enum { MAX_THREADS = 16 };
	size_t threads = n < MAX_THREADS ? n : MAX_THREADS;
	if (threads <= 1) {
		for (size_t i = 0; i < n; i++)
			bpf_link__destroy(links[i]);
		return;
	}
	pthread_t tid[MAX_THREADS];
	struct detach_job jobs[MAX_THREADS];
	size_t started = 0;
	for (size_t t = 0; t < threads; t++) {
		jobs[t] = (struct detach_job){ links, n, threads, t };
		if (pthread_create(&tid[t], NULL, detach_worker, &jobs[t]) != 0) {
			detach_worker(&jobs[t]);
			continue;
		}
		started |= (size_t)1 << t;
	}
	for (size_t t = 0; t < threads; t++)
		if (started & ((size_t)1 << t))
			pthread_join(tid[t], NULL);
}

static void detach_all(struct ms_object *o)
{
	destroy_links(o->links, o->nlinks);
	free(o->links);
	o->links = NULL;
	o->nlinks = o->links_cap = 0;
	free(o->perf_fds); /* closed with their links */
	o->perf_fds = NULL;
	o->nperf_fds = o->perf_fds_cap = 0;
}

void ms_object_release(struct ms_object *o)
{
	if (o->destroyed)
		return;
	o->destroyed = true;
	detach_all(o);
	ms_ringbufs_close(o);
	unmap_sections(o);
	bpf_object__close(o->obj);
	o->obj = NULL;
}

/* detach(obj): stops events (every link destroyed) but keeps maps and ring buffers readable, so
 * a tool's summary sees everything that happened up to the stop and nothing after. */
napi_value ms_detach(napi_env env, napi_callback_info info)
{
	ARGS(1);
	struct ms_object *o;
	if (!ms_get_object(env, argv[0], &o))
		return NULL;
	detach_all(o);
	ms_ringbufs_drain(o);
	return ms_undefined(env);
}

napi_value ms_destroy(napi_env env, napi_callback_info info)
{
	ARGS(1);
	void *p = NULL;
	if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p)
		return ms_throw(env, "expected a bpf object handle", false);
	ms_object_release(p);
	return ms_undefined(env);
}
