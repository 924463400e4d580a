// SPDX-License-Identifier: Apache-2.0
// A process whose names attack the reader's terminal: its comm is ESC "[31m<s>" newline "row"
// (set with prctl, as any program may), and it maps a file whose name carries ESC, a newline and
// <script>. Gated: prints "ready", waits for a line, then grows its heap with brk() 3 times,
// mmaps the file and touches its 4 pages 50 times over, mmaps and touches 16 anonymous pages, prints "done",
// and waits for a second line before exiting (so tools that read /proc see it).
// Usage: hostile DIR   (the file is created in DIR and removed before exit)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define COMM "\x1b[31m<s>\nrow"
#define FILE_NAME "\x1b[2Jevil\nfake row<script>.dat"

static volatile char sink;

__attribute__((noinline)) void grow_heap(void) {
  for (int i = 0; i < 3; i++) {
    void *p = sbrk(64 * 1024);
    if (p == (void *)-1) exit(1);
  }
}

__attribute__((noinline)) void touch(volatile char *p, size_t pages) {
  for (size_t i = 0; i < pages; i++) sink += p[i * 4096];
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", argv[1], FILE_NAME);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 1;
  char page[4096];
  memset(page, 'x', sizeof(page));
  for (int i = 0; i < 4; i++)
    if (write(fd, page, sizeof(page)) != sizeof(page)) return 1;
  prctl(PR_SET_NAME, COMM, 0, 0, 0);
  setvbuf(stdout, NULL, _IONBF, 0);
  char line[16];
  printf("ready\n");
  if (!fgets(line, sizeof(line), stdin)) return 1;
  grow_heap();
  char *f = mmap(NULL, 4 * 4096, PROT_READ, MAP_SHARED, fd, 0);
  if (f == MAP_FAILED) return 1;
  // fault the file's pages again and again (MADV_DONTNEED drops the mappings, not the page cache):
  // ffaults names the file of each fault, and on a busy machine a few lookups may find it busy
  for (int round = 0; round < 50; round++) {
    touch(f, 4);
    madvise(f, 4 * 4096, MADV_DONTNEED);
  }
  char *a = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) return 1;
  for (int i = 0; i < 16; i++) a[i * 4096] = 1;
  printf("done\n");
  fgets(line, sizeof(line), stdin);
  unlink(path);
  return 0;
}
