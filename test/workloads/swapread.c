// SPDX-License-Identifier: Apache-2.0
/* swapread MB ZERO_PCT PASSES [MIGRATE [HUGE]]: after a line on stdin, writes every page of an MB MiB
 * anonymous working set once, 0 in the first ZERO_PCT% of its pages and a non-zero byte in the rest
 * (write_set), then only READS every page PASSES-1 more times (read_set), then prints "done".
 * With MIGRATE 1, between two read passes (the set standing still) it migrates swap-cache pages of
 * its set itself (migrate_set: so the migrations, and the LRU insertions of the copies, are its
 * own) and counts them (frames from /proc/self/pagemap, flags from /proc/kpageflags: root only).
 * So that there are pages to move on any machine, it first moves up to MOVABLE_BLOCKS wholly free
 * memory blocks to ZONE_MOVABLE (make_movable): user pages, swap-ins included, are taken from that
 * zone first, and a block of it holds only movable pages, so taking it offline moves all of them;
 * the blocks go back to their zone at the end (the test's after() hook too, if it was killed).
 * With HUGE 1 the set is MADV_HUGEPAGE, not MADV_NOHUGEPAGE: with an mTHP size enabled (e.g.
 * hugepages-64kB, madvise) its pages are large folios, swapped out and (zram) back in whole.
 * With HUGE 2 it is MADV_HUGEPAGE while written, MADV_NOHUGEPAGE before it is read back: large
 * folios go out whole and come back one page at a time (a fault allocates no large folio then).
 * In a memory cgroup whose limit is under MB with swap on: zero pages go out without a write to
 * the device (kernel 6.12+ zeromap: SWPIN_ZERO, not PSWPIN, when they come back), and a page read
 * back stays on swap, so reclaim later drops it clean, with no new swap-out write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <dirent.h>

#define PM_PRESENT (1ULL << 63)
#define PM_PFN ((1ULL << 55) - 1)
#define KPF_SLAB 7
#define KPF_BUDDY 10
#define KPF_SWAPCACHE 14
#define KPF_PGTABLE 26

#define MOVABLE_BLOCKS 2

static volatile char *p_set;
static long movable[MOVABLE_BLOCKS], nmovable;

/* the frame of each page of the set, 0 if not present (or not in the swap cache, with sc) */
static void frames(volatile char *p, long pages, uint64_t *pfn, int sc)
{
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	if (pm < 0 || kf < 0 || pread(pm, pfn, pages * 8, (uintptr_t)p / 4096 * 8) != pages * 8) {
		perror("pagemap");
		exit(1);
	}
	for (long i = 0; i < pages; i++) {
		uint64_t f = 0;
		pfn[i] = pfn[i] & PM_PRESENT ? pfn[i] & PM_PFN : 0;
		if (sc && pfn[i] && (pread(kf, &f, 8, pfn[i] * 8) != 8 || !(f >> KPF_SWAPCACHE & 1)))
			pfn[i] = 0;
	}
	close(pm);
	close(kf);
}

static void on_alarm(int sig)
{
	(void)sig; /* only interrupts a write to a memory block's state that takes too long */
}

static int set_state(long block, const char *state)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/state", block);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	alarm(30);
	int ok = write(fd, state, strlen(state)) == (ssize_t)strlen(state);
	alarm(0);
	close(fd);
	return ok ? 0 : -1;
}

static long block_pages(void)
{
	char hex[32] = "";
	int fd = open("/sys/devices/system/memory/block_size_bytes", O_RDONLY);
	if (fd < 0 || read(fd, hex, sizeof(hex) - 1) <= 0) {
		perror("block_size_bytes");
		exit(1);
	}
	close(fd);
	return strtol(hex, NULL, 16) / 4096;
}

/* the zones a memory block is in (online) or may go to (offline), e.g. "Normal" */
static int zones_are(long block, const char *zones)
{
	char path[96], buf[64] = "";
	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/valid_zones", block);
	int fd = open(path, O_RDONLY);
	long got = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	return got > 0 && strncmp(buf, zones, strlen(zones)) == 0 && buf[strlen(zones)] == '\n';
}

/* Moves up to MOVABLE_BLOCKS online Normal blocks whose every page is free (buddy: offlining one
 * migrates nothing, and finds no unmovable page to dump in the kernel log) to ZONE_MOVABLE. */
static void make_movable(void)
{
	long per_block = block_pages();
	uint64_t *flags = calloc(per_block, 8);
	int kf = open("/proc/kpageflags", O_RDONLY);
	DIR *dir = opendir("/sys/devices/system/memory"); /* numbered with holes */
	struct dirent *e;
	while (kf >= 0 && dir && nmovable < MOVABLE_BLOCKS && (e = readdir(dir))) {
		long b;
		if (sscanf(e->d_name, "memory%ld", &b) != 1)
			continue;
		if (!zones_are(b, "Normal") || pread(kf, flags, per_block * 8, b * per_block * 8) != per_block * 8)
			continue;
		long i = 0;
		while (i < per_block && flags[i] >> KPF_BUDDY & 1)
			i++;
		if (i < per_block || set_state(b, "offline") < 0)
			continue;
		if (set_state(b, "online_movable") < 0) {
			printf("kept memory%ld in its zone: %s\n", b, strerror(errno));
			if (set_state(b, "online") < 0) {
				perror("online");
				exit(1);
			}
			continue;
		}
		printf("memory%ld movable\n", b);
		movable[nmovable++] = b;
	}
	if (dir)
		closedir(dir);
	if (kf >= 0)
		close(kf);
	free(flags);
}

/* the blocks of make_movable back to the zone they were in (offline first: their pages move out;
 * a page another task holds for a moment fails it, so a few tries) */
static void unmake_movable(void)
{
	for (long i = 0; i < nmovable; i++) {
		int tries = 0;
		while (set_state(movable[i], "offline") < 0 && ++tries < 5)
			sleep(1);
		if (tries == 5) {
			printf("memory%ld left movable: %s\n", movable[i], strerror(errno));
			continue;
		}
		if (set_state(movable[i], "online_kernel") < 0 && set_state(movable[i], "online") < 0) {
			perror("online");
			exit(1);
		}
		printf("memory%ld back\n", movable[i]);
	}
}

static int is_movable(long block)
{
	for (long i = 0; i < nmovable; i++)
		if (movable[i] == block)
			return 1;
	return 0;
}

static int by_value(const void *a, const void *b)
{
	const long *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

/* runs of (block, pages): most pages first */
static int by_count_desc(const void *a, const void *b)
{
	const long *x = a, *y = b;
	return x[1] < y[1] ? 1 : x[1] > y[1] ? -1 : 0;
}

/* the set's swap-cache pages in another frame after than before (one no longer present was pushed
 * out, not moved) */
static long moved_since(long pages, const uint64_t *before, uint64_t *after)
{
	long moved = 0;
	frames(p_set, pages, after, 0);
	for (long i = 0; i < pages; i++)
		moved += before[i] && after[i] && after[i] != before[i];
	return moved;
}

/* the swap-cache pages in a memory block now, any process's: taking it offline moves them all, and
 * the tool under test follows every swap-cache folio it knows of, not only the set's */
static long swapcache_in(long block, long per_block, uint64_t *flags)
{
	int kf = open("/proc/kpageflags", O_RDONLY);
	long got = kf < 0 ? -1 : pread(kf, flags, per_block * 8, block * per_block * 8), n = 0;
	close(kf);
	for (long i = 0; i < got / 8; i++)
		n += flags[i] >> KPF_SWAPCACHE & 1;
	return n;
}

/* whether a memory block holds slab or page-table pages (unmovable: offlining it would fail, with
 * a page dump in the kernel log); other kernel pages are not told apart from free ones here */
static int unmovable(long block, long per_block, uint64_t *flags)
{
	int kf = open("/proc/kpageflags", O_RDONLY);
	long got = kf < 0 ? -1 : pread(kf, flags, per_block * 8, block * per_block * 8);
	close(kf);
	for (long i = 0; i < got / 8; i++)
		if (flags[i] >> KPF_SLAB & 1 || flags[i] >> KPF_PGTABLE & 1)
			return 1;
	return got != per_block * 8;
}

/* Moves swap-cache pages of the set, two ways, each move counted by the pages' frames before and
 * after ("moved M of N": M of the N swap-cache pages of the set involved changed frame):
 *  - the memory blocks holding them are taken offline, one at a time, most pages first (offlining
 *    migrates every page of the block, or fails before moving any when an unmovable page is in
 *    it), and back online at once; no more once 512 moved this way in all; only blocks of
 *    make_movable when it made any (a Normal block's kernel pages make the offline fail, and the
 *    kernel dumps them in its log: on a quiet machine the set was all in one such block);
 *  - then, while fewer than 512 moved that way, memory is compacted, up to 4 times until 256
 *    moved (a compaction moves the pages below where its two scanners meet: may be none; and
 *    any process's, which the workload cannot count). */
static void migrate_set(long len)
{
	static long offline_moved;
	long pages = len / 4096, n = 0, nruns = 0, per_block = block_pages();
	int fd;
	uint64_t *before = calloc(pages, 8), *after = calloc(pages, 8), *flags = calloc(per_block, 8);
	long *blocks = calloc(pages, sizeof(long)), *runs = calloc(pages * 2, sizeof(long));
	frames(p_set, pages, before, 1);
	for (long i = 0; i < pages; i++)
		if (before[i])
			blocks[n++] = before[i] / per_block;
	qsort(blocks, n, sizeof(long), by_value);
	for (long i = 0; i < n; i++) {
		if (!nruns || runs[2 * (nruns - 1)] != blocks[i])
			runs[2 * nruns++] = blocks[i];
		runs[2 * nruns - 1]++;
	}
	qsort(runs, nruns, 2 * sizeof(long), by_count_desc);
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: the write returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	for (long r = 0; r < nruns && offline_moved < 512; r++) {
		if (nmovable ? !is_movable(runs[2 * r]) : unmovable(runs[2 * r], per_block, flags))
			continue;
		long all = swapcache_in(runs[2 * r], per_block, flags);
		printf("offlining memory%ld\n", runs[2 * r]);
		if (set_state(runs[2 * r], "offline") < 0) {
			printf("kept memory%ld: %s\n", runs[2 * r], strerror(errno));
			continue;
		}
		long moved = moved_since(pages, before, after);
		if (set_state(runs[2 * r], "online") < 0) {
			perror("online");
			exit(1);
		}
		printf("moved %ld of %ld (memory%ld offline, %ld swap-cache pages in it)\n", moved, runs[2 * r + 1],
		       runs[2 * r], all);
		offline_moved += moved;
		frames(p_set, pages, before, 1);
	}
	for (long k = 0, here = 0; offline_moved < 512 && k < 4 && here < 256; k++) {
		n = 0;
		for (long i = 0; i < pages; i++)
			n += before[i] != 0;
		fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
		if (fd < 0 || write(fd, "1", 1) != 1) {
			perror("compact_memory");
			exit(1);
		}
		close(fd);
		long moved = moved_since(pages, before, after);
		printf("moved %ld of %ld (compaction)\n", moved, n);
		here += moved;
		frames(p_set, pages, before, 1);
	}
	free(before);
	free(after);
	free(flags);
	free(blocks);
	free(runs);
}

__attribute__((noinline)) void write_set(volatile char *p, long len, long zero_pages)
{
	for (long i = 0; i < len / 4096; i++)
		p[i * 4096] = i < zero_pages ? 0 : (char)(1 + (i & 0x7f));
}

__attribute__((noinline)) unsigned long read_set(volatile char *p, long len, int passes, int migrate_between)
{
	unsigned long sum = 0;
	for (int k = 0; k < passes; k++) {
		if (migrate_between && k > 0)
			migrate_set(len);
		for (long o = 0; o < len; o += 4096)
			sum += p[o];
	}
	return sum;
}

int main(int argc, char **argv)
{
	long mb = argc > 1 ? atol(argv[1]) : 64;
	long zero_pct = argc > 2 ? atol(argv[2]) : 0;
	int passes = argc > 3 ? atoi(argv[3]) : 3;
	int migrate_between = argc > 4 ? atoi(argv[4]) : 0;
	int huge = argc > 5 ? atoi(argv[5]) : 0;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);
	long len = mb << 20;
	/* the program's own pages stay in memory: only the working set, unlocked below, can swap */
	mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	munlock(p, len);
	madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	p_set = p;
	if (migrate_between)
		make_movable();
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	write_set(p, len, len / 4096 * zero_pct / 100);
	if (huge == 2)
		madvise(p, len, MADV_NOHUGEPAGE);
	printf("sum %lu\n", read_set(p, len, passes - 1, migrate_between));
	unmake_movable();
	printf("done\n");
	return 0;
}
