// SPDX-License-Identifier: Apache-2.0
/* mmap_ring FILE FIRST SECOND N1 J1 J2: fills mmapsnoop's ring to chosen levels while the
 * test holds memscope stopped, with nothing traced in between but its own mmap() calls (stdin read
 * and stdout written with read/write: no stdio buffers, no malloc). On each line from stdin:
 *   1: one anonymous mmap() of 7 pages (the marker the test waits for, then stops memscope);
 *   2: N1 mmap()s of FILE's first page, J1 anonymous ones of 5 pages, then FIRST's first page;
 *   3: J2 anonymous ones, then SECOND's first page.
 * After each it writes "stepK"; it exits on a fourth line. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(2);
}

static void wait_line(void)
{
	char c;
	do {
		if (read(0, &c, 1) != 1)
			_exit(1);
	} while (c != '\n');
}

static void map_file(int fd, long n)
{
	for (long i = 0; i < n; i++)
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
			_exit(3);
}

static void map_anon(long n, long pages)
{
	for (long i = 0; i < n; i++)
		if (mmap(NULL, pages * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			_exit(3);
}

int main(int argc, char **argv)
{
	if (argc != 7)
		return 1;
	int file = open(argv[1], O_RDONLY), first = open(argv[2], O_RDONLY), second = open(argv[3], O_RDONLY);
	if (file < 0 || first < 0 || second < 0)
		return 1;
	say("ready\n");
	wait_line();
	map_anon(1, 7);
	say("step1\n");
	wait_line();
	map_file(file, atol(argv[4]));
	map_anon(atol(argv[5]), 5);
	map_file(first, 1);
	say("step2\n");
	wait_line();
	map_anon(atol(argv[6]), 5);
	map_file(second, 1);
	say("step3\n");
	wait_line();
	return 0;
}
