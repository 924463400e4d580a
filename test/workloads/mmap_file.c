// SPDX-License-Identifier: Apache-2.0
/* mmap_file FILE: after a line on stdin, map_named_file() maps 16 KiB of FILE at offset 8 KiB
 * read-only and shared, and map_anon() maps 12 KiB anonymous read-write private memory, then
 * unmaps both; it prints both addresses, then "done". */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) void *map_named_file(int fd)
{
	return mmap(NULL, 16384, PROT_READ, MAP_SHARED, fd, 8192);
}

__attribute__((noinline)) void *map_anon(void)
{
	return mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(int argc, char **argv)
{
	char line[16];
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return 1;
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	void *a = map_named_file(fd);
	void *b = map_anon();
	munmap(a, 16384);
	munmap(b, 3 * 4096);
	printf("file=%p anon=%p\ndone\n", a, b);
	return 0;
}
