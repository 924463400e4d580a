// SPDX-License-Identifier: Apache-2.0
/* sampler_reattach SHIM CYCLES: the sampler's attach path (shim/memscope_attach.c) attached, its
 * memscope killed and attached again, CYCLES times, while two threads allocate through the
 * sampler's malloc from 8 call sites without pause — what memleak -p --sample-bytes does to a
 * busy program when one memscope is killed (SIGKILL) and another attaches. The "memscope" of each
 * cycle is a child that waits to be killed; memscope_attach_begin is called directly, as
 * memscope-inject has the stopped thread call it.
 *
 * After each attach the sampler must sample (a sample within 2,000,000 allocations, at 1 per
 * 4096 bytes of 64-byte blocks: about 1 per 64), and after each kill it must stop (the descriptor
 * reads -2). Prints "ok CYCLES" or one line saying which cycle failed and how; exit 1. */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct counters {
	unsigned long samples, sampled_frees, free_lists, frees_looked, lifeline_polls, unrecorded;
};
/* shim/memscope_sampler.c, MEMSCOPE_SAMPLER_DESC_VERSION 2 */
struct desc {
	char magic[8];
	uint32_t version, pending_max;
	unsigned long *npending;
	void **pending_frees;
	int *attach_pidfd;
	size_t *mean_interval;
	struct counters *counters;
};

typedef void *(*malloc_fn)(size_t);
static malloc_fn shim_malloc;
static void (*shim_free)(void *);
static volatile int done;
static unsigned long allocations;

/* eight call sites: eight countdowns of the sampler */
#define SITE(n) \
	static __attribute__((noinline)) void *site##n(void) { return shim_malloc(64 + n); }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)
static void *(*const sites[8])(void) = { site0, site1, site2, site3, site4, site5, site6, site7 };

static void *worker(void *arg)
{
	(void)arg;
	while (!done) {
		for (int i = 0; i < 8; i++)
			shim_free(sites[i]());
		__atomic_add_fetch(&allocations, 8, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sampler_reattach SHIM CYCLES\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	shim_malloc = (malloc_fn)dlsym(h, "malloc");
	shim_free = (void (*)(void *))dlsym(h, "free");
	int (*begin)(size_t, int) = (int (*)(size_t, int))dlsym(h, "memscope_attach_begin");
	const struct desc *d = dlsym(h, "memscope_sampler_desc");
	if (!shim_malloc || !shim_free || !begin || !d || d->version != 2) {
		printf("the sampler lacks its symbols or has another descriptor\n");
		return 1;
	}
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	int cycles = atoi(argv[2]), failed = 0;
	for (int c = 0; c < cycles && !failed; c++) {
		pid_t child = fork();
		if (child == 0) {
			for (;;)
				pause();
		}
		int r = begin(4096, child);
		if (r != 0) {
			printf("cycle %d: memscope_attach_begin returned %d\n", c, r);
			failed = 1;
		}
		unsigned long s0 = __atomic_load_n(&d->counters->samples, __ATOMIC_RELAXED);
		unsigned long a0 = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
		while (!failed && __atomic_load_n(&d->counters->samples, __ATOMIC_RELAXED) == s0) {
			if (__atomic_load_n(&allocations, __ATOMIC_RELAXED) - a0 > 2000000) {
				printf("cycle %d: no sample in 2000000 allocations after the attach (attach state %d)\n", c, *d->attach_pidfd);
				failed = 1;
			}
			sched_yield();
		}
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		/* a hang guard, not a measure: the sampler polls its lifeline every 20 ms of sampling */
		for (int i = 0; !failed && *(volatile int *)d->attach_pidfd != -2; i++) {
			if (i == 10000) {
				printf("cycle %d: the sampler did not notice its memscope was killed (state %d)\n", c, *d->attach_pidfd);
				failed = 1;
			}
			usleep(1000);
		}
	}
	done = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (!failed)
		printf("ok %d\n", cycles);
	return failed;
}
