/*
 * os.h - every operating-system call of zsalloc, in one place (internal).
 *
 * Contract for all functions here: sizes and offsets are multiples of the
 * page size; int functions return 0 on success or a negative errno; pointer
 * functions return NULL on failure with errno set. Nothing else in the
 * library calls mmap, mprotect, madvise, mremap, memfd_create, fallocate,
 * ftruncate, pthread_atfork, sysconf or clock_gettime.
 */
#ifndef ZSALLOC_MAPPING_OS_H
#define ZSALLOC_MAPPING_OS_H

#include <stddef.h>
#include <stdint.h>

size_t os_page_size(void);        /* sysconf(_SC_PAGESIZE) */
uint64_t os_physical_pages(void); /* sysconf(_SC_PHYS_PAGES) */
unsigned os_cpu_count(void);      /* online CPUs, at least 1 */
uint64_t os_clock_ms(void);       /* CLOCK_MONOTONIC_COARSE, in ms */
void os_yield(void);              /* sched_yield() */
/* pthread_atfork(); 0 or a negative errno. */
int os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* A memfd of size 0 named @name; returns the fd or a negative errno. */
int os_memfd_create(const char *name);
int os_close(int fd);
/* Set the memfd's size (sparse: no memory is committed). */
int os_file_resize(int fd, uint64_t bytes);
/* Give the memory of [off, off+len) back to the OS; it reads as zero after. */
int os_file_punch(int fd, uint64_t off, uint64_t len);

/* Map @len bytes of @fd from offset 0, shared, read-write, anywhere. The
 * range may extend past the end of the file (access there faults). */
void *os_map_file(int fd, size_t len);
/* Map @len bytes of @fd at @off over the existing mapping at @addr. */
int os_map_file_fixed(void *addr, int fd, uint64_t off, size_t len);
/* Reserve @len bytes of address space, inaccessible (private, anonymous). */
void *os_reserve(size_t len);
/* Make reserved [addr, addr+len) readable and writable, zero-filled private
 * memory committed on first touch; no transparent huge pages (memory must
 * follow pages one by one). */
int os_commit(void *addr, size_t len);
/* Give the private memory of [addr, addr+len) back; it reads as zero after. */
int os_discard(void *addr, size_t len);
int os_unmap(void *addr, size_t len);

#endif /* ZSALLOC_MAPPING_OS_H */
