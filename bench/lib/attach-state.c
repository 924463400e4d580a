// SPDX-License-Identifier: Apache-2.0
/* bench:memleak-insns: the state `memleak -p PID --sample-bytes N` leaves in a process, made from
 * inside it (LD_PRELOAD) so that valgrind can count the instructions of that process: valgrind runs
 * its client translated, so memscope-inject cannot stop a thread of it and have it call dlopen.
 * As memscope-inject does: the sampler dlopen'd RTLD_NOW, memscope_attach_begin(N, a live pid); as
 * src/tools/memleak/got.ts does: the JUMP_SLOT and GLOB_DAT slots of the wrapped functions in every
 * module but the sampler and ld.so pointed at the sampler's functions. Only a measuring aid: the
 * slots memscope finds come from got.ts, and bench:memleak-insns prints both lists to compare.
 *   MEMSCOPE_ATTACH_SHIM=path MEMSCOPE_ATTACH_BYTES=N MEMSCOPE_ATTACH_EXE=PROGRAM LD_PRELOAD=attach-state.so PROGRAM
 * (MEMSCOPE_ATTACH_EXE: valgrind's launcher, run again at the exec of a traced child, inherits
 * LD_PRELOAD too; under valgrind /proc/self/exe names the client) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const wrapped[] = { "malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc" };
static void *shim;

/* glibc relocates the d_ptr entries of a module's dynamic section in place; ld.so's own may not be */
static uintptr_t at(uintptr_t p, uintptr_t base)
{
	return p < base ? p + base : p;
}

static int redirect(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	const char *name = info->dlpi_name;
	if (strstr(name, "libmemscope_sampler") || strstr(name, "ld-linux") || strstr(name, "attach-state") || strstr(name, "vgpreload") || strstr(name, "linux-vdso"))
		return 0;
	uintptr_t base = info->dlpi_addr;
	ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (ElfW(Dyn) *)(base + info->dlpi_phdr[i].p_vaddr);
	if (!dyn)
		return 0;
	ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	ElfW(Rela) *rel[2] = { NULL, NULL };
	size_t relsz[2] = { 0, 0 };
	for (ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			symtab = (ElfW(Sym) *)at(d->d_un.d_ptr, base);
		else if (d->d_tag == DT_STRTAB)
			strtab = (const char *)at(d->d_un.d_ptr, base);
		else if (d->d_tag == DT_RELA)
			rel[0] = (ElfW(Rela) *)at(d->d_un.d_ptr, base);
		else if (d->d_tag == DT_RELASZ)
			relsz[0] = d->d_un.d_val;
		else if (d->d_tag == DT_JMPREL)
			rel[1] = (ElfW(Rela) *)at(d->d_un.d_ptr, base);
		else if (d->d_tag == DT_PLTRELSZ)
			relsz[1] = d->d_un.d_val;
	}
	if (!symtab || !strtab)
		return 0;
	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; rel[t] && i < relsz[t] / sizeof(ElfW(Rela)); i++) {
			ElfW(Rela) *r = &rel[t][i];
			unsigned long type = ELF64_R_TYPE(r->r_info);
			if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
				continue;
			const char *fn = strtab + symtab[ELF64_R_SYM(r->r_info)].st_name;
			for (size_t k = 0; k < sizeof(wrapped) / sizeof(*wrapped); k++) {
				if (strcmp(fn, wrapped[k]))
					continue;
				void **slot = (void **)(base + r->r_offset);
				/* a RELRO page: memscope writes it through /proc/PID/mem, which needs no mprotect */
				mprotect((void *)((uintptr_t)slot & ~(uintptr_t)4095), 4096, PROT_READ | PROT_WRITE);
				*slot = dlsym(shim, fn);
				fprintf(stderr, "attach-state: %s slot of %s\n", fn, *name ? name : "the");
			}
		}
	}
	return 0;
}

/* The head of memscope_sampler_desc (shim/memscope_sampler.c, version 1) */
struct desc {
	char magic[8];
	unsigned version, pending_max;
	unsigned long *npending;
	void **pending_frees;
	int *attach_pidfd;
	size_t *mean_interval;
};

__attribute__((constructor)) static void attach_state(void)
{
	const char *path = getenv("MEMSCOPE_ATTACH_SHIM"), *bytes = getenv("MEMSCOPE_ATTACH_BYTES");
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	if (!path || !bytes || (getenv("MEMSCOPE_ATTACH_EXE") && strcmp(exe, getenv("MEMSCOPE_ATTACH_EXE"))))
		return;
	shim = dlopen(path, RTLD_NOW);
	if (!shim) {
		fprintf(stderr, "attach-state: %s\n", dlerror());
		exit(1);
	}
	int (*begin)(size_t, int) = (int (*)(size_t, int))dlsym(shim, "memscope_attach_begin");
	struct desc *d = dlsym(shim, "memscope_sampler_desc");
	size_t mean = strtoull(bytes, NULL, 0);
	int rc = begin && d ? begin(mean, getppid()) : -1;
	if (rc == -38 && d->version == 1) {
		/* valgrind 3.19 has no pidfd_open: the read end of a pipe nobody writes stands for
		 * memscope's pidfd (poll finds it not readable, as a pidfd of a live process) */
		static int fds[2];
		if (pipe(fds))
			exit(1);
		d->attach_pidfd[0] = fds[0];
		d->attach_pidfd[1] = 1; /* the attach count, the word's high half */
		*d->mean_interval = mean;
		rc = 0;
	}
	if (rc) {
		fprintf(stderr, "attach-state: memscope_attach_begin: %d\n", rc);
		exit(1);
	}
	dl_iterate_phdr(redirect, NULL);
}
