// SPDX-License-Identifier: Apache-2.0
/* memleak_inject: a busy program that memscope loads its sampler into (memleak -p --sample-bytes,
 * issue 17). Two threads loop malloc/realloc/free of blocks they fill with a pattern and check
 * before freeing (any byte wrong, or a block handed out twice, is counted as an error); a third
 * thread reads commands. Before "mark", 4000 "old" blocks are allocated and kept; they are freed
 * (and some first reallocated) after "mark", while memscope may be attached.
 *   "mark"   from now on keep_block() keeps one block in 10 of the main loop, until 1 MiB
 *            (KEEP_BYTES) is kept; then it prints "kept BYTES COUNT"
 *   "check"  prints "check ITERATIONS ERRORS KEPT_BYTES KEPT_COUNT" (errors: wrong bytes seen; 0 when
 *            all is well)
 *   "exit"   ends (also end of input)
 * With the argument "seccomp" it first installs a seccomp filter that allows everything (what
 * memscope must refuse to load a library under, not knowing what a filter allows). */
#include <stdio.h>
#ifdef __GLIBC__ /* musl-gcc (the musl refusal's build) has no kernel headers */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLD 4000
#define KEEP_BYTES (1u << 20)
#define MAX_KEPT 100000

static volatile int marked, done;
static volatile unsigned long iterations, errors;
static void *old[OLD];
static void *kept[MAX_KEPT];
static size_t nkept, kept_bytes;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static unsigned long wrong(const unsigned char *p, size_t n, unsigned seed)
{
	unsigned long bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += p[i] != (unsigned char)(seed + i * 7);
	return bad;
}

__attribute__((noinline)) void keep_block(size_t size)
{
	void *p = malloc(size);
	memset(p, 3, size);
	kept[nkept++] = p;
	kept_bytes += size;
}

/* a block lives across a few iterations: frees and reallocs of blocks that other calls allocated */
static void churn(unsigned long i, void **ring, unsigned seed)
{
	size_t size = 16 + (i * 37) % 700;
	unsigned slot = i % 8;
	if (ring[slot]) {
		unsigned char *q = ring[slot];
		size_t qs = 16 + ((i - 8) * 37) % 700;
		errors += wrong(q, qs, seed + (unsigned)(i - 8));
		if (i % 5 == 0) {
			q = realloc(q, qs * 2);
			errors += wrong(q, qs, seed + (unsigned)(i - 8));
		}
		free(q);
	}
	ring[slot] = malloc(size);
	fill(ring[slot], size, seed + (unsigned)i);
}

static void *worker(void *arg)
{
	void *ring[8] = { 0 };
	for (unsigned long i = 0; !done; i++)
		churn(i, ring, (unsigned)(uintptr_t)arg);
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "mark", 4))
			marked = 1;
		else if (!strncmp(line, "check", 5))
			printf("check %lu %lu %zu %zu\n", iterations, errors, kept_bytes, nkept);
		else if (!strncmp(line, "exit", 4))
			break;
	}
	done = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
#ifdef __GLIBC__
	if (argc > 1 && !strcmp(argv[1], "seccomp")) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &allow };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			perror("seccomp");
	}
#else
	(void)argc;
	(void)argv;
#endif
	for (int i = 0; i < OLD; i++) {
		old[i] = malloc(32 + i % 100);
		fill(old[i], 32 + i % 100, i);
	}
	pthread_t r, w;
	pthread_create(&w, NULL, worker, (void *)(uintptr_t)77);
	pthread_create(&r, NULL, reader, NULL);
	printf("running\n");
	void *ring[8] = { 0 };
	int old_freed = 0, reported = 0;
	for (unsigned long i = 0; !done; i++) {
		iterations = i;
		churn(i, ring, 5);
		if (marked && !old_freed) {
			/* blocks from before the attach: realloc'ed and freed through the sampler now */
			for (int k = 0; k < OLD; k++) {
				size_t n = 32 + k % 100;
				errors += wrong(old[k], n, k);
				if (k % 2)
					old[k] = realloc(old[k], n + 1000);
				errors += wrong(old[k], n, k);
				free(old[k]);
			}
			old_freed = 1;
			printf("marked\n");
		}
		if (marked && i % 10 == 0 && kept_bytes < KEEP_BYTES && nkept < MAX_KEPT)
			keep_block(16 + i % 512);
		if (marked && !reported && kept_bytes >= KEEP_BYTES) {
			reported = 1;
			printf("kept %zu %zu\n", kept_bytes, nkept);
		}
	}
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	printf("end %lu\n", errors);
	return 0;
}
