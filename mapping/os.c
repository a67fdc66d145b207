/*
 * os.c - the system calls behind the page source and the two-page map.
 * See os.h for the contract shared by every function.
 */
#define _GNU_SOURCE
#include "mapping/os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

size_t os_page_size(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

uint64_t os_physical_pages(void)
{
	long n = sysconf(_SC_PHYS_PAGES);

	return n > 0 ? (uint64_t)n : (uint64_t)1 << 20;
}

unsigned os_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

uint64_t os_clock_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts))
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void os_yield(void)
{
	sched_yield();
}

int os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return -pthread_atfork(prepare, parent, child);
}

int os_memfd_create(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	return fd >= 0 ? fd : -errno;
}

int os_close(int fd)
{
	return close(fd) == 0 ? 0 : -errno;
}

int os_file_resize(int fd, uint64_t bytes)
{
	return ftruncate(fd, (off_t)bytes) == 0 ? 0 : -errno;
}

int os_file_punch(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	return -errno;
}

void *os_map_file(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int os_map_file_fixed(void *addr, int fd, uint64_t off, size_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)off);

	return p == MAP_FAILED ? -errno : 0;
}

void *os_reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int os_commit(void *addr, size_t len)
{
	if (mprotect(addr, len, PROT_READ | PROT_WRITE))
		return -errno;
	(void)madvise(addr, len, MADV_NOHUGEPAGE); /* a hint: failure is harmless */
	return 0;
}

int os_discard(void *addr, size_t len)
{
	return madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : -errno;
}

int os_unmap(void *addr, size_t len)
{
	return munmap(addr, len) == 0 ? 0 : -errno;
}
