// SPDX-License-Identifier: Apache-2.0
/* Map access: single-key lookup/update/delete and whole-map reads (batched where the kernel
 * supports it for the map type, key-by-key otherwise), optionally deleting what was read. */
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Userspace sees per-CPU values as one 8-byte-aligned slot per possible CPU. */
static size_t value_bytes(struct bpf_map *m)
{
	size_t v = bpf_map__value_size(m);
	if (is_percpu(bpf_map__type(m)))
		return ((v + 7) & ~(size_t)7) * libbpf_num_possible_cpus();
	return v;
}

#define MAP_ARGS(n)                                                  \
	ARGS(n);                                                     \
	struct ms_object *o;                                         \
	if (!ms_get_object(env, argv[0], &o))                        \
		return NULL;                                         \
	struct bpf_map *m = ms_find_map(env, o, argv[1]);            \
	if (!m)                                                      \
		return NULL;                                         \
	int fd = bpf_map__fd(m);                                     \
	if (fd < 0)                                                  \
		return ms_throw(env, "map is not loaded", false);

static bool key_arg(napi_env env, napi_value v, struct bpf_map *m, void **key)
{
	size_t len;
	if (!ms_get_buffer(env, v, key, &len))
		return false;
	if (len != bpf_map__key_size(m)) {
		ms_throw(env, "key size does not match the map", false);
		return false;
	}
	return true;
}

napi_value ms_map_info(napi_env env, napi_callback_info info)
{
	MAP_ARGS(2);
	napi_value out;
	napi_create_object(env, &out);
	napi_set_named_property(env, out, "fd", ms_int(env, fd));
	napi_set_named_property(env, out, "type", ms_int(env, bpf_map__type(m)));
	napi_set_named_property(env, out, "keySize", ms_int(env, bpf_map__key_size(m)));
	napi_set_named_property(env, out, "valueSize", ms_int(env, bpf_map__value_size(m)));
	napi_set_named_property(env, out, "valueBytes", ms_int(env, value_bytes(m)));
	napi_set_named_property(env, out, "maxEntries", ms_int(env, bpf_map__max_entries(m)));
	return out;
}

napi_value ms_map_lookup(napi_env env, napi_callback_info info)
{
	MAP_ARGS(3);
	void *key;
	if (!key_arg(env, argv[2], m, &key))
		return NULL;
	size_t vb = value_bytes(m);
	void *val;
	napi_value out;
	napi_create_buffer(env, vb, &val, &out);
	if (bpf_map_lookup_elem(fd, key, val)) {
		if (errno == ENOENT) {
			napi_value n;
			napi_get_null(env, &n);
			return n;
		}
		return ms_throw_errno(env, "map lookup", errno);
	}
	return out;
}

napi_value ms_map_update(napi_env env, napi_callback_info info)
{
	MAP_ARGS(4);
	void *key, *val;
	size_t vlen;
	if (!key_arg(env, argv[2], m, &key) || !ms_get_buffer(env, argv[3], &val, &vlen))
		return NULL;
	if (vlen != value_bytes(m))
		return ms_throw(env, "value size does not match the map", false);
	if (bpf_map_update_elem(fd, key, val, BPF_ANY))
		return ms_throw_errno(env, "map update", errno);
	return ms_undefined(env);
}

napi_value ms_map_delete(napi_env env, napi_callback_info info)
{
	MAP_ARGS(3);
	void *key;
	if (!key_arg(env, argv[2], m, &key))
		return NULL;
	napi_value r;
	napi_get_boolean(env, bpf_map_delete_elem(fd, key) == 0, &r);
	return r;
}

/* The entries read so far, in buffers grown as they fill. Sized for max_entries at every read, a
 * hash map's buffers (2.3 MiB for the agent's 65,536 fault counts) were mapped and unmapped at every
 * collection (bin/memscope's MALLOC_MMAP_THRESHOLD_ maps each block of 128 KiB or more afresh) and
 * paged in as touched, for the few dozen entries an idle host has. */
struct entry_bufs {
	char *keys, *vals;
	size_t cap, ks, vb, max;
};

/* The first size: a few KiB for a small map or value, never over max_entries. */
#define FIRST_ENTRIES 256

/* Room for at least one more entry (up to max); false when at max or out of memory. */
static bool grow(struct entry_bufs *b)
{
	if (b->cap >= b->max)
		return false;
	size_t cap = b->cap ? b->cap * 2 : FIRST_ENTRIES;
	if (cap > b->max)
		cap = b->max;
	char *k = realloc(b->keys, cap * b->ks + 1);
	if (!k)
		return false;
	b->keys = k;
	char *v = realloc(b->vals, cap * b->vb + 1);
	if (!v)
		return false;
	b->vals = v;
	b->cap = cap;
	return true;
}

/* Batched read; returns the entry count, or -1 when this map type has no batch ops. A hash map is
 * read a bucket at a time: a call returns fewer entries than asked for when the next bucket does not
 * fit (ENOSPC when none fits), and the buffers grow for it. */
static long read_batch(int fd, bool del, struct entry_bufs *b)
{
	/* the batch cursor: a bucket index for hash maps, a key (u32) for arrays: 8 bytes always do */
	uint64_t in = 0, out = 0;
	size_t total = 0;
	bool first = true;
	for (;;) {
		if (total == b->cap && !grow(b))
			break;
		uint32_t count = (uint32_t)(b->cap - total);
		int err = del ? bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, b->keys + total * b->ks,
								b->vals + total * b->vb, &count, NULL)
			      : bpf_map_lookup_batch(fd, first ? NULL : &in, &out, b->keys + total * b->ks,
						     b->vals + total * b->vb, &count, NULL);
		int e = err ? errno : 0;
		if (e == ENOSPC && count == 0) { /* the next bucket is larger than the room left */
			if (!grow(b))
				break;
			continue;
		}
		if (err && e != ENOENT) /* no batch support: the caller iterates instead */
			return first ? -1 : (long)total;
		total += count;
		first = false;
		if (e == ENOENT)
			break;
		in = out;
	}
	return (long)total;
}

static long read_iter(int fd, bool del, struct entry_bufs *b)
{
	size_t ks = b->ks, vb = b->vb;
	size_t n = 0;
	void *prev = NULL;
	for (;;) {
		if (n == b->cap && !grow(b))
			break;
		if (bpf_map_get_next_key(fd, prev, b->keys + n * ks))
			break;
		prev = b->keys + n * ks; /* after grow: the buffer may have moved */
		n++;
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, b->keys + i * ks, b->vals + kept * vb))
			continue; /* deleted meanwhile */
		if (kept != i)
			memmove(b->keys + kept * ks, b->keys + i * ks, ks);
		if (del)
			bpf_map_delete_elem(fd, b->keys + kept * ks);
		kept++;
	}
	return (long)kept;
}

/* mapEntries(obj, map, deleteAfterRead) -> { keys: Buffer, values: Buffer, count } */
napi_value ms_map_entries(napi_env env, napi_callback_info info)
{
	MAP_ARGS(3);
	bool del;
	if (!ms_get_bool(env, argv[2], &del))
		return NULL;
	struct entry_bufs b = { .ks = bpf_map__key_size(m), .vb = value_bytes(m), .max = bpf_map__max_entries(m) };
	if (!grow(&b) && b.max) {
		free(b.keys);
		free(b.vals);
		return ms_throw(env, "out of memory", false);
	}
	enum bpf_map_type t = bpf_map__type(m);
	long n = -1;
	/* arrays too: the agent's dashboard reads two (64 and 8 slots) every second, a
	 * GET_NEXT_KEY and a LOOKUP_ELEM per slot before (146 bpf() calls a second, 3 now) */
	bool batchable = t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_HASH ||
			 t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
	if (batchable)
		n = read_batch(fd, del, &b);
	if (n < 0)
		n = read_iter(fd, del, &b);
	napi_value out, kb, vbuf;
	napi_create_object(env, &out);
	napi_create_buffer_copy(env, n * b.ks, b.keys, NULL, &kb);
	napi_create_buffer_copy(env, n * b.vb, b.vals, NULL, &vbuf);
	free(b.keys);
	free(b.vals);
	napi_set_named_property(env, out, "keys", kb);
	napi_set_named_property(env, out, "values", vbuf);
	napi_set_named_property(env, out, "count", ms_int(env, n));
	napi_set_named_property(env, out, "keySize", ms_int(env, b.ks));
	napi_set_named_property(env, out, "valueBytes", ms_int(env, b.vb));
	return out;
}

/* The keys argument of the *Keys calls: a Buffer of whole keys, back to back. */
static bool keys_arg(napi_env env, napi_value v, struct bpf_map *m, char **keys, size_t *n)
{
	size_t len, ks = bpf_map__key_size(m);
	if (!ms_get_buffer(env, v, (void **)keys, &len))
		return false;
	if (ks == 0 || len % ks) {
		ms_throw(env, "keys are not a whole number of the map's keys", false);
		return false;
	}
	*n = len / ks;
	return true;
}

/* mapDeleteKeys(obj, map, keys) -> how many were deleted. One BPF_MAP_DELETE_BATCH call for many
 * keys (the agent frees thousands of entries a collection: one syscall and one call into the addon
 * each made it slow). The kernel stops at a key that is gone (deleted meanwhile): it is skipped and
 * the batch goes on; a map type without batch ops is done key by key. */
napi_value ms_map_delete_keys(napi_env env, napi_callback_info info)
{
	MAP_ARGS(3);
	char *keys;
	size_t n, ks = bpf_map__key_size(m), done = 0, deleted = 0;
	if (!keys_arg(env, argv[2], m, &keys, &n))
		return NULL;
	bool batch = true;
	while (done < n) {
		if (batch) {
			__u32 count = n - done;
			int r = bpf_map_delete_batch(fd, keys + done * ks, &count, NULL);
			done += count;
			deleted += count;
			if (r == 0)
				continue;
			if (errno == ENOENT) {
				done++; /* the key the kernel stopped at: already gone */
				continue;
			}
			batch = false; /* no batch ops for this map type (or another error): one by one */
			continue;
		}
		if (bpf_map_delete_elem(fd, keys + done * ks) == 0)
			deleted++;
		done++;
	}
	return ms_int(env, deleted);
}

/* mapLookupKeys(obj, map, keys) -> { values: Buffer (one value slot per key), found: Buffer (1 or
 * 0 per key) }: many lookups in one call into the addon and two allocations, not one per key. */
napi_value ms_map_lookup_keys(napi_env env, napi_callback_info info)
{
	MAP_ARGS(3);
	char *keys;
	size_t n, ks = bpf_map__key_size(m), vb = value_bytes(m);
	if (!keys_arg(env, argv[2], m, &keys, &n))
		return NULL;
	napi_value values, found, out;
	void *vdata, *fdata;
	size_t value_total = n * vb; /* a Node buffer of 0 bytes has no data pointer: ask for 1 */
	if (napi_create_buffer(env, value_total ? value_total : 1, &vdata, &values) != napi_ok ||
	    napi_create_buffer(env, n ? n : 1, &fdata, &found) != napi_ok)
		return ms_throw(env, "out of memory", false);
	for (size_t i = 0; i < n; i++)
		((char *)fdata)[i] = bpf_map_lookup_elem(fd, keys + i * ks, (char *)vdata + i * vb) == 0;
	napi_create_object(env, &out);
	napi_set_named_property(env, out, "values", values);
	napi_set_named_property(env, out, "found", found);
	return out;
}
