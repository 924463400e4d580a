/* memscope's in-process allocation sampler (memleak -c --sample-bytes N), preloaded with LD_PRELOAD.
 *
 * Every malloc-family call goes to glibc's allocator (__libc_malloc and friends) as before; the
 * shim only counts bytes. Each thread keeps a countdown of bytes to the next sample point, drawn
 * uniformly from [N/2, 3N/2] (mean N) so periodic allocation patterns do not alias with it. An
 * allocation that contains k >= 1 sample points calls memscope_sampled_alloc(ptr, size, k * N):
 * k * N is an unbiased estimate of its bytes (E[k] = size / N). Addresses of sampled blocks are
 * remembered; only a free (or realloc) of one of them calls memscope_sampled_free(ptr). memscope
 * puts uprobes on those two functions, so the process traps into the kernel only for samples:
 * with N = 512 KiB, about once per 512 KiB allocated instead of on every malloc and free.
 *
 * Built with frame pointers, so a stack captured in a hook walks through the wrapper into the
 * code that called malloc. */
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
#define HOOK __attribute__((noipa, used, visibility("default")))

/* The probed hooks: they do nothing; memscope's uprobes read their arguments. */
HOOK void memscope_sampled_alloc(void *ptr, size_t size, size_t weight)
{
	__asm__ volatile("" : : "r"(ptr), "r"(size), "r"(weight) : "memory");
}

HOOK void memscope_sampled_free(void *ptr)
{
	__asm__ volatile("" : : "r"(ptr) : "memory");
}

static size_t mean_interval = 512 * 1024;

static __thread int64_t countdown;
static __thread uint64_t rng;
static __thread int thread_ready;

static inline uint64_t next_random(void)
{
	uint64_t x = rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline int64_t draw_interval(void)
{
	int64_t v = (int64_t)(mean_interval / 2 + next_random() % (mean_interval + 1));
	return v > 0 ? v : 1;
}

static __attribute__((noinline)) void thread_init(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rng = ((uint64_t)(uintptr_t)&countdown * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
	if (!rng)
		rng = 88172645463325252ULL;
	countdown = draw_interval();
	thread_ready = 1;
}

/* Sample points inside the next `size` bytes of this thread's allocations (usually 0). */
static inline uint64_t sample_points(size_t size)
{
	if (__builtin_expect(!thread_ready, 0))
		thread_init();
	countdown -= (int64_t)size;
	if (__builtin_expect(countdown > 0, 1))
		return 0;
	uint64_t k = 0;
	while (countdown <= 0) {
		k++;
		countdown += draw_interval();
	}
	return k;
}

/* ---- the set of sampled addresses: a hash of chains under a spin lock, with per-bucket counts
 * read without the lock so a free of an unsampled block costs one load ---- */
#define BUCKETS 65536
struct node {
	void *ptr;
	struct node *next;
};
static struct node *buckets[BUCKETS];
static uint32_t bucket_count[BUCKETS];
static int lock_word;

static inline uint32_t bucket_of(void *p)
{
	return (uint32_t)((((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL) >> 48);
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

static __attribute__((noinline)) void track(void *p, size_t size, uint64_t k)
{
	struct node *n = __libc_malloc(sizeof(*n));
	if (!n)
		return;
	uint32_t b = bucket_of(p);
	n->ptr = p;
	lock();
	n->next = buckets[b];
	buckets[b] = n;
	__atomic_add_fetch(&bucket_count[b], 1, __ATOMIC_RELAXED);
	unlock();
	memscope_sampled_alloc(p, size, (size_t)(k * mean_interval));
}

/* Forgets p if it was sampled, telling memscope; called before the block is really freed, so
 * the address cannot be handed out again before memscope has forgotten it. */
static inline void untrack(void *p)
{
	uint32_t b = bucket_of(p);
	if (__builtin_expect(!__atomic_load_n(&bucket_count[b], __ATOMIC_RELAXED), 1))
		return;
	struct node *found = NULL;
	lock();
	for (struct node **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
		if ((*pp)->ptr == p) {
			found = *pp;
			*pp = found->next;
			__atomic_sub_fetch(&bucket_count[b], 1, __ATOMIC_RELAXED);
			break;
		}
	}
	unlock();
	if (found) {
		memscope_sampled_free(p);
		__libc_free(found);
	}
}

EXPORT void *malloc(size_t size)
{
	uint64_t k = sample_points(size);
	if (__builtin_expect(!k, 1))
		return __libc_malloc(size);
	void *p = __libc_malloc(size);
	if (p)
		track(p, size, k);
	return p;
}

EXPORT void free(void *ptr)
{
	if (ptr)
		untrack(ptr);
	__libc_free(ptr);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total))
		total = (size_t)-1;
	uint64_t k = sample_points(total);
	void *p = __libc_calloc(nmemb, size);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, total, k);
	return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
	if (ptr)
		untrack(ptr); /* its bytes leave the old address */
	uint64_t k = size ? sample_points(size) : 0;
	void *p = __libc_realloc(ptr, size);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, size, k);
	return p;
}

static inline void *sampled(void *p, size_t size)
{
	uint64_t k = sample_points(size);
	if (__builtin_expect(k != 0, 0) && p)
		track(p, size, k);
	return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
	return sampled(__libc_memalign(align, size), size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return sampled(__libc_memalign(align, size), size);
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*memptr = sampled(p, size);
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return sampled(__libc_valloc(size), size);
}

EXPORT void *pvalloc(size_t size)
{
	return sampled(__libc_pvalloc(size), size);
}

__attribute__((constructor)) static void sampler_init(void)
{
	const char *s = getenv("MEMSCOPE_SAMPLE_BYTES");
	if (s) {
		unsigned long long v = strtoull(s, NULL, 10);
		if (v > 0)
			mean_interval = (size_t)v;
	}
	/* intervals drawn before this ran used the default mean: draw this thread's again */
	if (thread_ready)
		countdown = draw_interval();
}
