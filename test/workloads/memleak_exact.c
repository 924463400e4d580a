// SPDX-License-Identifier: Apache-2.0
/* memleak_exact: known allocations for an exact trace (memleak -p --sample-bytes 1 against the
 * uprobe mode). A second thread is started first and everything libc allocates for itself (stdio
 * buffers) is allocated before "ready", so what is allocated after "go" is only this:
 *   main:   keep_small   500 x malloc(24)             kept      12,000 B
 *           keep_calloc   50 x calloc(10, 100)        kept      50,000 B
 *           keep_realloc  20 x malloc(100), realloc to 5,000: kept at the realloc, 100,000 B
 *           keep_aligned  10 x posix_memalign(64, 4096) kept    40,960 B
 *           keep_large     3 x malloc(1 MiB)          kept   3,145,728 B (mmap'd by malloc)
 *           churn      20,000 blocks of 1..4,096 B, each freed (some by realloc first): none kept
 *   worker: keep_thread  300 x malloc(77)             kept      23,100 B, and its own churn
 * while both threads run at once. Prints "done" when both are over, then waits for end of input. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP 2048
static void *kept[KEEP];
static int nkept;
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;

static void keep(void *p)
{
	pthread_mutex_lock(&keep_lock);
	kept[nkept++] = p;
	pthread_mutex_unlock(&keep_lock);
}

__attribute__((noinline)) void keep_small(void)
{
	for (int i = 0; i < 500; i++)
		keep(memset(malloc(24), 1, 24));
}

__attribute__((noinline)) void keep_calloc(void)
{
	for (int i = 0; i < 50; i++)
		keep(calloc(10, 100));
}

__attribute__((noinline)) void keep_realloc(void)
{
	for (int i = 0; i < 20; i++) {
		void *p = malloc(100);
		memset(p, 2, 100);
		keep(realloc(p, 5000));
	}
}

__attribute__((noinline)) void keep_aligned(void)
{
	for (int i = 0; i < 10; i++) {
		void *p;
		if (posix_memalign(&p, 64, 4096) == 0)
			keep(p);
	}
}

__attribute__((noinline)) void keep_large(void)
{
	for (int i = 0; i < 3; i++)
		keep(memset(malloc(1 << 20), 3, 1 << 20));
}

__attribute__((noinline)) void keep_thread(void)
{
	for (int i = 0; i < 300; i++)
		keep(memset(malloc(77), 4, 77));
}

/* blocks live across a few iterations (frees arrive out of allocation order) */
__attribute__((noinline)) void churn(unsigned seed)
{
	void *ring[8] = { 0 };
	for (unsigned i = 0; i < 20000; i++) {
		unsigned slot = i % 8;
		if (ring[slot]) {
			if (i % 5 == 0)
				ring[slot] = realloc(ring[slot], 1 + (i * 13 + seed) % 2048);
			free(ring[slot]);
		}
		size_t size = 1 + (i * 37 + seed) % 4096;
		ring[slot] = memset(malloc(size), 5, size);
	}
	for (int i = 0; i < 8; i++)
		free(ring[i]);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&go_lock);
	while (!go)
		pthread_cond_wait(&go_cond, &go_lock);
	pthread_mutex_unlock(&go_lock);
	churn(7);
	keep_thread();
	churn(11);
	return NULL;
}

int main(void)
{
	char line[16];
	pthread_t t;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pthread_create(&t, NULL, worker, NULL))
		return 1;
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pthread_mutex_lock(&go_lock);
	go = 1;
	pthread_cond_broadcast(&go_cond);
	pthread_mutex_unlock(&go_lock);
	churn(1);
	keep_small();
	keep_calloc();
	keep_realloc();
	churn(3);
	keep_aligned();
	keep_large();
	pthread_join(t, NULL);
	printf("done %d\n", nkept);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
