// SPDX-License-Identifier: Apache-2.0
/* kfault MODE N [wait]: a known number of page faults of one kind, then exit.
 *   user N     writes one byte to each of N fresh anonymous pages (N user-mode faults)
 *   huge N     read()s /dev/zero into N fresh MAP_HUGETLB huge pages (N faults taken by the kernel
 *              in copy_to_user, one per huge page)
 *   memfd N    read()s /dev/zero into N fresh pages of a shared memfd mapping named "kfault-memfd"
 *              (N kernel-mode faults on a file mapping: shared write faults map one page each)
 * With "wait" it prints "ready", waits for a line, works, prints "done" and waits for a line. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE (2L * 1024 * 1024)

__attribute__((noinline)) void touch(volatile char *p, long n, long stride)
{
	for (long i = 0; i < n; i++)
		p[i * stride] = 1;
}

__attribute__((noinline)) int read_into(int fd, char *p, long n, long stride)
{
	for (long i = 0; i < n; i++)
		if (read(fd, p + i * stride, 64) != 64)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *mode = argv[1];
	long n = atol(argv[2]);
	int wait = argc > 3 && strcmp(argv[3], "wait") == 0;
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	int zero = open("/dev/zero", O_RDONLY);
	char *p;
	long stride = 4096;
	if (strcmp(mode, "huge") == 0) {
		stride = HUGE;
		p = mmap(NULL, n * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	} else if (strcmp(mode, "memfd") == 0) {
		int fd = memfd_create("kfault-memfd", 0);
		if (fd < 0 || ftruncate(fd, n * 4096))
			return 1;
		p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED || zero < 0) {
		perror("kfault");
		return 1;
	}
	madvise(p, n * stride, MADV_NOHUGEPAGE);
	if (wait) {
		printf("ready\n");
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	int err = strcmp(mode, "user") == 0 ? (touch(p, n, stride), 0) : read_into(zero, p, n, stride);
	if (wait) {
		printf("done\n");
		if (!fgets(line, sizeof(line), stdin))
			return err;
	}
	return err;
}
