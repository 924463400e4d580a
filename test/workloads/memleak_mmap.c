// SPDX-License-Identifier: Apache-2.0
/* memleak_mmap: direct mmap calls with known outcomes, for memleak's mmap probe (placed past glibc's
 * first instructions, `mov %ecx,%r10d; test $0xfff,%r9d`, at the jne the kernel emulates). On a
 * line "go":
 *   map_kept   40 x mmap(3 pages), kept             122,880 B with 4 KiB pages
 *   map_churn 500 x mmap(1 page) + munmap            nothing kept
 * then prints "done"; it exits on end of input or a line "exit". */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *kept[40];

__attribute__((noinline)) void map_kept(size_t page)
{
	for (int i = 0; i < 40; i++) {
		kept[i] = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (kept[i] == MAP_FAILED)
			perror("mmap");
	}
}

__attribute__((noinline)) void map_churn(size_t page)
{
	for (int i = 0; i < 500; i++) {
		void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			perror("mmap");
		else
			munmap(p, page);
	}
}

int main(void)
{
	char line[64];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready page %zu\n", page);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "go", 2)) {
			map_kept(page);
			map_churn(page);
			printf("done\n");
		} else if (!strncmp(line, "exit", 4)) {
			break;
		}
	}
	return 0;
}
