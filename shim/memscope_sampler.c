// SPDX-License-Identifier: Apache-2.0
/* memscope's in-process allocation sampler (memleak -c --sample-bytes N), preloaded with LD_PRELOAD.
 *
 * Every malloc-family call goes to glibc's allocator (__libc_malloc and friends) as before; the
 * shim only counts bytes. Each call site of malloc has a countdown of bytes to its next sample
 * point, drawn uniformly from [0.9N, 1.1N] (mean N) so periodic patterns do not alias with it. An
 * allocation that contains k >= 1 sample points calls memscope_sampled_alloc(ptr, size, k * N):
 * k * N is an unbiased estimate of its bytes (E[k] = size / N). Addresses of sampled blocks are
 * remembered; frees (and reallocs) of them are passed along with the next sampled allocation, or
 * in a memscope_sampled_free(list, n) call when 16 wait. memscope puts uprobes on those two
 * functions, so the process enters the kernel only for samples: with N = 512 KiB, about once per
 * 512 KiB allocated instead of on every malloc and free.
 *
 * Built without frame pointers and without ever using %rbp (-fomit-frame-pointer -ffixed-rbp):
 * the wrappers' fast path stays a handful of instructions, and at the hook %rbp is still the frame
 * pointer of the code that called malloc, so memscope's frame-pointer walk from the hook goes
 * straight into the program; the hook is also given the return address of the malloc call (the
 * allocating function, which the walk cannot see), shown as frame 0. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define EXPORT __attribute__((visibility("default")))

/* The probed hooks. They do nothing; memscope's uprobes read their arguments.
 * Each begins with a 5-byte nop: on kernels that optimize uprobes (x86, 6.18+), a uprobe on a nop5
 * becomes a call into a trampoline and a uprobe syscall, much cheaper than the int3 exception a
 * uprobe otherwise costs; older kernels emulate the nop (no out-of-line single step either). */
void memscope_sampled_alloc(void *ptr, size_t size, size_t weight, void **frees, unsigned long nfrees, void *caller);
void memscope_sampled_free(void **frees, unsigned long nfrees);
/* The .cfi directives give the hooks CFI (CFA = rsp + 8, the return address at [rsp]): memscope's
 * DWARF unwinding (--unwind dwarf/auto) starts at the hook and goes through the shim's frames. */
__asm__(".text\n"
	".globl memscope_sampled_alloc\n"
	".type memscope_sampled_alloc, @function\n"
	".p2align 4\n"
	"memscope_sampled_alloc:\n"
	"\t.cfi_startproc\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size memscope_sampled_alloc, .-memscope_sampled_alloc\n"
	".globl memscope_sampled_free\n"
	".type memscope_sampled_free, @function\n"
	".p2align 4\n"
	"memscope_sampled_free:\n"
	"\t.cfi_startproc\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size memscope_sampled_free, .-memscope_sampled_free\n");

static size_t mean_interval = 512 * 1024;
/* memscope's --sample-bytes bound (a countdown is at most 1.1 x this) */
#define MEAN_INTERVAL_MAX ((size_t)1 << 30)

/* Bytes to the next sample point, per call site (the return address of malloc, hashed; sites that
 * share a slot share a countdown). Counting each site's bytes on its own makes the estimate of a
 * site's bytes systematic rather than random: a site that allocated B bytes has B / N sample
 * points give or take the jitter of the intervals, whatever the other sites did in between.
 * That makes a site's outstanding bytes systematic only if its blocks are all kept: a site whose
 * blocks are kept and freed (a program's own malloc wrapper, redis's zmalloc, is one site for all
 * its allocations) keeps the sample points that fell in its kept blocks, up to N sqrt(k) off when
 * kept and freed blocks interleave finely (README, memleak). The frees of sampled blocks still
 * waiting in pending_frees are read by memscope at each report (src/tools/memleak/pending.ts).
 * Updated with plain loads and stores: a lost update between threads only moves a sample point. */
#define SITES 4096
static uint64_t site_countdown[SITES];
static __thread uint64_t rng;

static inline uint64_t next_random(void)
{
	uint64_t x = rng;
	if (__builtin_expect(!x, 0)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((uint64_t)(uintptr_t)&rng * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
		if (!x)
			x = 88172645463325252ULL;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* An interval between sample points: uniform in [0.9N, 1.1N]. The jitter keeps allocation
 * patterns that repeat with the period of N from always landing on the same kind of block; it is
 * small so that a site's estimate stays close to systematic (error about 0.3 N + 0.06 N sqrt(k)
 * after k sample points, against N sqrt(k) for sampling each allocation at random). */
static inline int64_t draw_interval(void)
{
	int64_t v = (int64_t)(mean_interval - mean_interval / 10 + next_random() % (mean_interval / 5 + 1));
	return v > 0 ? v : 1;
}

/* The slot's byte offset is the return address's bits 3-14: two call sites share a slot only if
 * their return addresses lie in one 8-byte group (a call instruction is 5 bytes or more, and its
 * arguments are set up between two calls) or 32 KiB apart. Taken without a shift, malloc's index
 * costs one AND (masking a shifted address cost a LEA, an AND and an ADD). */
#define SITE_MASK ((uintptr_t)(SITES - 1) * sizeof(uint64_t))
static inline uint64_t *site_slot(void *ret)
{
	return (uint64_t *)((char *)site_countdown + ((uintptr_t)ret & SITE_MASK));
}

/* A countdown is the bytes left before the site's next sample point, at least 1 while live, and
 * compared unsigned with the size: the fast path takes an allocation smaller than it, everything
 * else comes here. 0 is both a site not started (at start-up, or reset by a new attach) and
 * COUNTDOWN_OFF, stored while an attached memscope is gone (memscope_attach.c): the attach state
 * decides which, so off stays off and anything else starts the site afresh, and a new attach never
 * depends on the order in which other threads see its resets. (Off used to be a value above any
 * live countdown; telling it apart cost the fast path a LEA and a shift.) */
#define COUNTDOWN_OFF 0
static int sampling_gone(void); /* memscope_attach.c: the attached memscope has gone */

/* larger sizes fail in glibc; clamped, they stay far from int64_t's overflow below */
#define SIZE_CLAMP ((size_t)1 << 62)

static __attribute__((noinline)) uint64_t sample_slow(uint64_t *slot, uint64_t count, size_t size)
{
	if (count == COUNTDOWN_OFF && sampling_gone())
		return 0;
	if (size > SIZE_CLAMP)
		size = SIZE_CLAMP;
	int64_t left = (int64_t)count - (int64_t)size;
	if (count == 0) /* the site's first allocation: a random phase, so the estimate is unbiased */
		left = 1 + (int64_t)(next_random() % mean_interval) - (int64_t)size;
	uint64_t k = 0;
	if (left <= 0) {
		/* Whole intervals at once where their draws cannot matter: every one when there is no
		 * jitter (N < 5: each interval is exactly N, so at N = 1 k is the block's size, an exact
		 * trace), and all but the last 32 for a block of more than 64 intervals (their sum is
		 * m N on average, give or take 0.06 N sqrt(m)). One draw per sample point took a loop of
		 * `size` iterations per block at N = 1 (4 KiB: 4,096 draws), and a malloc of 2^62
		 * bytes (which fails) 2^43 of them at the default N. */
		uint64_t whole = (uint64_t)-left / mean_interval;
		uint64_t skip = mean_interval < 5 ? whole : whole > 64 ? whole - 32 : 0;
		k = skip;
		left += (int64_t)(skip * mean_interval);
	}
	while (left <= 0) {
		k++;
		left += draw_interval();
	}
	__atomic_store_n(slot, (uint64_t)left, __ATOMIC_RELAXED);
	return k;
}

/* Sample points inside the next `size` bytes allocated from the call site `ret` (usually 0). */
static inline uint64_t sample_points(size_t size, void *ret)
{
	uint64_t *slot = site_slot(ret);
	uint64_t count = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (__builtin_expect(count > size, 1)) {
		__atomic_store_n(slot, count - size, __ATOMIC_RELAXED);
		return 0;
	}
	return sample_slow(slot, count, size);
}

/* ---- the set of sampled addresses: a hash of chains under a spin lock, with per-bucket counts
 * read without the lock so a free of an unsampled block costs one load ---- */
#define BUCKETS 8192
struct node {
	void *ptr;
	struct node *next;
};
/* The chains themselves hang from a larger table than the counts (2 MiB of .bss, a page of it
 * touched per 512 chains in use): at --sample-bytes 1 every outstanding block is in the set, and
 * with 8192 chains a free of an old block walked outstanding / 8192 nodes under the lock (1M
 * blocks kept, freed oldest first: 9.4 us a free; 4M: 39 us). */
#define CHAINS (1 << 18)
static struct node *buckets[CHAINS];
/* Read by every free(): 16 KiB, so it stays in the L1 cache (65536 buckets measured slower on the
 * bench loop). A free of an unsampled block whose bucket holds a sampled one takes the locked path
 * and finds nothing: rare while few sampled blocks are outstanding. A count that reaches
 * COUNT_STUCK stays there (changed under the lock only): past 65,534 outstanding blocks in one
 * class a 16-bit count would wrap to 0 and later frees of sampled blocks there would skip the set,
 * leaving them reported as outstanding; stuck, every free in that class looks (slower, never wrong). */
#define COUNT_STUCK UINT16_MAX
static uint16_t bucket_count[BUCKETS];
static int lock_word;

static inline uint32_t bucket_of(void *p)
{
	return (uint32_t)(((uintptr_t)p >> 4) & (BUCKETS - 1)); /* blocks are 16-byte aligned */
}

static inline uint32_t chain_of(void *p)
{
	return (uint32_t)((((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - 18));
}

static inline void lock(void)
{
	while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&lock_word, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void unlock(void)
{
	__atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
}

/* Frees of sampled blocks wait here (under the lock) and travel with the next sampled allocation,
 * so a sampled block that is freed costs no trap of its own: memscope handles the frees first,
 * then the allocation (which may reuse a freed address). A full list is sent on its own. */
#define PENDING_FREES 16
/* memscope reads these two through memscope_sampler_desc (src/tools/memleak/pending.ts) */
static void *pending_frees[PENDING_FREES];
static unsigned long npending;

/* What the sampler did, for memscope's verbose report and the bench's accounting of its cost.
 * Each is counted on a slow path only (under the lock, or beside a system call): the fast path of
 * malloc and free stays as it was. */
struct memscope_sampler_counters {
	unsigned long samples;       /* sampled allocations sent to memscope_sampled_alloc */
	unsigned long sampled_frees; /* frees (and reallocs) of sampled blocks */
	unsigned long free_lists;    /* memscope_sampled_free calls: lists of 16 frees sent on their own */
	unsigned long frees_looked;  /* frees that looked in the set (their bucket held a sampled block) */
	unsigned long lifeline_polls; /* poll() of the attached memscope's pidfd (memscope_attach.c) */
	unsigned long unrecorded;    /* sampled blocks not kept: malloc of their record failed */
};
static struct memscope_sampler_counters counters;

static int attach_stopped(void); /* memscope_attach.c: memleak -p --sample-bytes, memscope gone */

/* Tests only (MEMSCOPE_TEST_SAMPLER_NO_RECORD=N): every Nth record is taken as not allocated, the
 * way a process out of memory would fail it. */
static unsigned long test_no_record, test_no_record_seen;

static __attribute__((noinline)) void track(void *p, size_t size, uint64_t k, void *caller)
{
	if (attach_stopped())
		return;
	struct node *n = test_no_record && ++test_no_record_seen % test_no_record == 0 ? NULL : __libc_malloc(sizeof(*n));
	if (!n) {
		/* Without its record the block's free could not be matched: memscope is told of a sample
		 * it cannot keep (ptr NULL, with its weight), counts it and says the totals are low. */
		lock();
		memscope_sampled_alloc(NULL, size, (size_t)(k * mean_interval), pending_frees, npending, caller);
		npending = 0;
		counters.unrecorded++;
		unlock();
		return;
	}
	uint32_t b = bucket_of(p), c = chain_of(p);
	n->ptr = p;
	lock();
	n->next = buckets[c];
	buckets[c] = n;
	if (bucket_count[b] != COUNT_STUCK)
		__atomic_store_n(&bucket_count[b], bucket_count[b] + 1, __ATOMIC_RELAXED);
	memscope_sampled_alloc(p, size, (size_t)(k * mean_interval), pending_frees, npending, caller);
	npending = 0;
	counters.samples++;
	unlock();
}

/* Forgets p if it was sampled; memscope hears of it with the next sampled allocation. */
static __attribute__((noinline)) void untrack_slow(void *p)
{
	uint32_t b = bucket_of(p);
	struct node *found = NULL;
	lock();
	counters.frees_looked++;
	for (struct node **pp = &buckets[chain_of(p)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->ptr == p) {
			found = *pp;
			*pp = found->next;
			if (bucket_count[b] != COUNT_STUCK)
				__atomic_store_n(&bucket_count[b], bucket_count[b] - 1, __ATOMIC_RELAXED);
			break;
		}
	}
	if (found) {
		pending_frees[npending++] = p;
		counters.sampled_frees++;
		if (npending == PENDING_FREES) {
			memscope_sampled_free(pending_frees, npending);
			npending = 0;
			counters.free_lists++;
		}
	}
	unlock();
	if (found)
		__libc_free(found);
}

static inline void untrack(void *p)
{
	if (__builtin_expect(__atomic_load_n(&bucket_count[bucket_of(p)], __ATOMIC_RELAXED) != 0, 0))
		untrack_slow(p);
}

/* At exit: the frees still waiting. */
__attribute__((destructor)) static void sampler_fini(void)
{
	lock();
	if (npending)
		memscope_sampled_free(pending_frees, npending);
	npending = 0;
	unlock();
}

/* The slot is found and read again here (another thread may have moved it since: sample_slow
 * takes any count), so that the fast path keeps no pointer to it for this call. */
static __attribute__((noinline)) void *malloc_sampled(size_t size, void *caller)
{
	uint64_t *slot = site_slot(caller);
	uint64_t k = sample_slow(slot, __atomic_load_n(slot, __ATOMIC_RELAXED), size);
	void *p = __libc_malloc(size);
	if (k && p)
		track(p, size, k, caller);
	return p;
}

/* The fast path: no register to save, one load, a compare and one store, then a tail call into
 * glibc (the test of sample_points, written out so that malloc_sampled is a tail call too); ten
 * instructions. */
EXPORT void *malloc(size_t size)
{
	void *caller = __builtin_return_address(0);
	uint64_t *slot = site_slot(caller);
	uint64_t count = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (__builtin_expect(count > size, 1)) {
		__atomic_store_n(slot, count - size, __ATOMIC_RELAXED);
		return __libc_malloc(size);
	}
	return malloc_sampled(size, caller);
}

static __attribute__((noinline)) void free_sampled(void *ptr)
{
	untrack_slow(ptr);
	__libc_free(ptr);
}

/* No test of NULL: free(NULL) reads bucket 0's count, and where that holds a sampled block it
 * looks in the set, finds nothing and calls glibc, which ignores NULL. The count is read with a
 * plain load, compared in memory (CMPW): GCC 12 makes a relaxed atomic load a MOVZWL and a TEST.
 * It is read once, and a stale count only sends a free to the lock or not, as the atomic did. */
EXPORT void free(void *ptr)
{
	if (__builtin_expect(bucket_count[bucket_of(ptr)] != 0, 0))
		return free_sampled(ptr);
	__libc_free(ptr);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total))
		total = (size_t)-1;
	void *caller = __builtin_return_address(0);
	uint64_t k = sample_points(total, caller);
	void *p = __libc_calloc(nmemb, size);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, total, k, caller);
	return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
	if (ptr)
		untrack(ptr); /* its bytes leave the old address */
	void *caller = __builtin_return_address(0);
	uint64_t k = size ? sample_points(size, caller) : 0;
	void *p = __libc_realloc(ptr, size);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, size, k, caller);
	return p;
}

static inline __attribute__((always_inline)) void *sampled(void *p, size_t size, void *site)
{
	uint64_t k = sample_points(size, site);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, size, k, site);
	return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
	return sampled(__libc_memalign(align, size), size, __builtin_return_address(0));
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return sampled(__libc_memalign(align, size), size, __builtin_return_address(0));
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*memptr = sampled(p, size, __builtin_return_address(0));
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return sampled(__libc_valloc(size), size, __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t size)
{
	return sampled(__libc_pvalloc(size), size, __builtin_return_address(0));
}

__attribute__((constructor)) static void sampler_init(void)
{
	const char *s = getenv("MEMSCOPE_SAMPLE_BYTES");
	if (s) {
		unsigned long long v = strtoull(s, NULL, 10);
		if (v > 0 && v <= MEAN_INTERVAL_MAX)
			mean_interval = (size_t)v;
	}
	const char *t = getenv("MEMSCOPE_TEST_SAMPLER_NO_RECORD");
	if (t)
		test_no_record = strtoul(t, NULL, 10);
	/* countdowns started before this ran used the default mean: start every site afresh */
	for (int i = 0; i < SITES; i++)
		site_countdown[i] = 0;
}

#include "memscope_attach.c"

/* What memscope reads in the process (src/tools/memleak/shim-desc.ts): where the sampler's state
 * lies, found by this one name in .dynsym, so a stripped copy of the shim (no .symtab) still has
 * it. The addresses are the process's own (relocated by the dynamic loader). A change of this
 * layout, or of the meaning of a field, takes a new version: memscope refuses one it does not know
 * rather than read the wrong bytes. */
struct memscope_sampler_desc {
	char magic[8];          /* "MSSAMPL" */
	uint32_t version;       /* MEMSCOPE_SAMPLER_DESC_VERSION */
	uint32_t pending_max;   /* PENDING_FREES */
	unsigned long *npending;
	void **pending_frees;
	int *attach_pidfd;      /* -1 never attached (preloaded), >= 0 attached, -2 memscope gone */
	size_t *mean_interval;
	struct memscope_sampler_counters *counters;
};
#define MEMSCOPE_SAMPLER_DESC_VERSION 2
EXPORT const struct memscope_sampler_desc memscope_sampler_desc = {
	.magic = "MSSAMPL",
	.version = MEMSCOPE_SAMPLER_DESC_VERSION,
	.pending_max = PENDING_FREES,
	.npending = &npending,
	.pending_frees = pending_frees,
	.attach_pidfd = (int *)&attach_state, /* the low half: see memscope_attach.c */
	.mean_interval = &mean_interval,
	.counters = &counters,
};
