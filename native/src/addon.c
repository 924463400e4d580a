// SPDX-License-Identifier: Apache-2.0
/* Module registration and the argument helpers every other file uses. */
#include "internal.h"
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

napi_value ms_undefined(napi_env env)
{
	napi_value v;
	napi_get_undefined(env, &v);
	return v;
}

napi_value ms_int(napi_env env, int64_t v)
{
	napi_value r;
	napi_create_int64(env, v, &r);
	return r;
}

napi_value ms_throw(napi_env env, const char *msg, bool with_log)
{
	if (with_log && ms_log_tail()[0]) {
		size_t n = strlen(msg) + strlen(ms_log_tail()) + 4;
		char *full = malloc(n);
		if (full) {
			snprintf(full, n, "%s\n%s", msg, ms_log_tail());
			napi_throw_error(env, NULL, full);
			free(full);
			return NULL;
		}
	}
	napi_throw_error(env, NULL, msg);
	return NULL;
}

napi_value ms_throw_errno(napi_env env, const char *what, int err)
{
	char msg[512];
	if (err < 0)
		err = -err;
	snprintf(msg, sizeof(msg), "%s: %s (errno %d)", what, strerror(err), err);
	/* the error code travels as a property so JS can tell ENOENT from EPERM */
	napi_value error, message, code;
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
	napi_create_error(env, NULL, message, &error);
	napi_create_int32(env, err, &code);
	napi_set_named_property(env, error, "errno", code);
	napi_value log;
	napi_create_string_utf8(env, ms_log_tail(), NAPI_AUTO_LENGTH, &log);
	napi_set_named_property(env, error, "libbpfLog", log);
	napi_throw(env, error);
	return NULL;
}

bool ms_get_object(napi_env env, napi_value v, struct ms_object **out)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
		ms_throw(env, "expected a bpf object handle", false);
		return false;
	}
	*out = p;
	if ((*out)->destroyed) {
		ms_throw(env, "bpf object already destroyed", false);
		return false;
	}
	return true;
}

bool ms_get_string(napi_env env, napi_value v, char *buf, size_t len)
{
	size_t got;
	if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) {
		ms_throw(env, "expected a string", false);
		return false;
	}
	return true;
}

bool ms_get_int64(napi_env env, napi_value v, int64_t *out)
{
	if (napi_get_value_int64(env, v, out) != napi_ok) {
		ms_throw(env, "expected a number", false);
		return false;
	}
	return true;
}

bool ms_get_bool(napi_env env, napi_value v, bool *out)
{
	if (napi_get_value_bool(env, v, out) != napi_ok) {
		ms_throw(env, "expected a boolean", false);
		return false;
	}
	return true;
}

bool ms_get_buffer(napi_env env, napi_value v, void **data, size_t *len)
{
	if (napi_get_buffer_info(env, v, data, len) != napi_ok) {
		ms_throw(env, "expected a Buffer", false);
		return false;
	}
	return true;
}

struct bpf_program *ms_find_program(napi_env env, struct ms_object *o, napi_value name)
{
	char buf[256];
	if (!ms_get_string(env, name, buf, sizeof(buf)))
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(o->obj, buf);
	if (!p) {
		char msg[320];
		snprintf(msg, sizeof(msg), "no BPF program named %s", buf);
		ms_throw(env, msg, false);
	}
	return p;
}

struct bpf_map *ms_find_map(napi_env env, struct ms_object *o, napi_value name)
{
	char buf[256];
	if (!ms_get_string(env, name, buf, sizeof(buf)))
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, buf);
	if (!m) {
		char msg[320];
		snprintf(msg, sizeof(msg), "no BPF map named %s", buf);
		ms_throw(env, msg, false);
	}
	return m;
}

bool ms_add_link(napi_env env, struct ms_object *o, struct bpf_link *link)
{
	if (o->nlinks == o->links_cap) {
		size_t cap = o->links_cap ? o->links_cap * 2 : 16;
		struct bpf_link **n = realloc(o->links, cap * sizeof(*n));
		if (!n) {
			bpf_link__destroy(link);
			ms_throw(env, "out of memory", false);
			return false;
		}
		o->links = n;
		o->links_cap = cap;
	}
	o->links[o->nlinks++] = link;
	return true;
}

bool ms_add_perf_fd(napi_env env, struct ms_object *o, const struct bpf_program *prog, int fd)
{
	if (o->nperf_fds == o->perf_fds_cap) {
		size_t cap = o->perf_fds_cap ? o->perf_fds_cap * 2 : 16;
		struct ms_perf_fd *n = realloc(o->perf_fds, cap * sizeof(*n));
		if (!n) {
			ms_throw(env, "out of memory", false);
			return false;
		}
		o->perf_fds = n;
		o->perf_fds_cap = cap;
	}
	o->perf_fds[o->nperf_fds++] = (struct ms_perf_fd){ prog, fd };
	return true;
}

/* trimMemory(): gives the C heap's free pages back to the system (malloc_trim), so what memscope
 * freed while tracing is not still counted in its RSS while the report is built. */
static napi_value ms_trim_memory(napi_env env, napi_callback_info info)
{
	(void)info;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	return ms_undefined(env);
}

#define FN(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_default, NULL }

static napi_value init(napi_env env, napi_value exports)
{
	ms_log_install();
#ifdef __GLIBC__
	/* glibc's default: allocations of 128 KiB and more get their own mapping, unmapped when freed.
	 * Set, it stays so: left alone, glibc raises it to the largest block freed so far, and after the
	 * first ring delivery (up to 16 MiB, one buffer) every later one came from the heap, whose free
	 * space glibc keeps: 170-220 MiB of the RSS of a storm traced with --unwind dwarf, 95-115 MiB
	 * with it fixed (ARCHITECTURE.md, "Memory bound"). */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
	napi_property_descriptor props[] = {
		FN("setVerbose", ms_set_verbose),
		FN("open", ms_open),
		FN("setConst", ms_set_const),
		FN("readGlobal", ms_read_global),
		FN("setAutoload", ms_set_autoload),
		FN("programNames", ms_program_names),
		FN("setMaxEntries", ms_set_max_entries),
		FN("setValueSize", ms_set_value_size),
		FN("load", ms_load),
		FN("destroy", ms_destroy),
		FN("detach", ms_detach),
		FN("attach", ms_attach),
		FN("attachPerfEvent", ms_attach_perf_event),
		FN("setPerfPeriod", ms_set_perf_period),
		FN("attachTracepoint", ms_attach_tracepoint),
		FN("attachRawTracepoint", ms_attach_raw_tracepoint),
		FN("attachUprobe", ms_attach_uprobe),
		FN("attachUsdt", ms_attach_usdt),
		FN("numCpus", ms_num_cpus),
		FN("mapInfo", ms_map_info),
		FN("mapLookup", ms_map_lookup),
		FN("mapUpdate", ms_map_update),
		FN("mapDelete", ms_map_delete),
		FN("mapEntries", ms_map_entries),
		FN("mapDeleteKeys", ms_map_delete_keys),
		FN("mapLookupKeys", ms_map_lookup_keys),
		FN("ringbufOpen", ms_ringbuf_open),
		FN("ringbufsDiscard", ms_ringbufs_discard),
		FN("ringbufsConsume", ms_ringbufs_consume),
		FN("ringbufsClose", ms_ringbufs_close_now),
		FN("trimMemory", ms_trim_memory),
		FN("perfCounterOpen", ms_perf_counter_open),
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
	return exports;
}

NAPI_MODULE(memscope_bpf, init)
