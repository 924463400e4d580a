// SPDX-License-Identifier: Apache-2.0
/* leak_rate BYTES PERIOD_MS: a leak at a known rate, for the dashboard's growth column. Prints
 * "ready"; after a line "go", leak_tick() mallocs BYTES (kept) every PERIOD_MS on absolute
 * CLOCK_MONOTONIC deadlines (a late wake-up does not shift the ticks after it), so the leak grows at
 * BYTES * 1000 / PERIOD_MS bytes per second; it stops after 100,000 ticks or at a line on stdin
 * (then prints "stopped" and exits on end of input). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t bytes;
static long period_ns;
static volatile int stop;

__attribute__((noinline)) void *leak_tick(void)
{
	void *p = malloc(bytes);
	memset(p, 1, bytes);
	return p;
}

static void *ticker(void *arg)
{
	(void)arg;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < 100000 && !stop; i++) {
		void *volatile kept = leak_tick();
		(void)kept;
		next.tv_nsec += period_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: leak_rate BYTES PERIOD_MS\n");
		return 2;
	}
	bytes = (size_t)atol(argv[1]);
	period_ns = atol(argv[2]) * 1000000L;
	char line[64];
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	pthread_t t;
	pthread_create(&t, NULL, ticker, NULL);
	if (fgets(line, sizeof(line), stdin)) {
		stop = 1;
		pthread_join(t, NULL);
		printf("stopped\n");
		while (fgets(line, sizeof(line), stdin))
			;
	}
	return 0;
}
