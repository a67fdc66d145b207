/*
 * uffd.c - every userfaultfd system call uswap makes, each retried on the
 * transient errors the kernel documents (EAGAIN while the address space is
 * changing, EINTR, ENOMEM), each returning 0 or a negative errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "examples/uswap/internal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1 /* Linux 5.11's value, for older headers */
#endif

/* A transient error: wait a little (ENOMEM: the kernel is short of pages),
 * then the caller tries again. */
static int transient(int err)
{
	if (err == EAGAIN || err == EINTR)
		return 1;
	if (err == ENOMEM) {
		struct timespec ts = { 0, 100000 }; /* 0.1 ms */

		nanosleep(&ts, NULL);
		return 1;
	}
	return 0;
}

int uffd_open(int kernel_faults, int *user_mode_only)
{
	/* Non-blocking: the handler looks for messages between other work. */
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	*user_mode_only = 0;
	if (fd < 0 && errno == EPERM && !kernel_faults) {
		/* vm.unprivileged_userfaultfd is 0 and we lack CAP_SYS_PTRACE:
		 * user-mode faults alone are always allowed (Linux 5.11+). */
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (fd < 0 && errno == EINVAL)
			errno = EPERM; /* older kernel: no such flag */
		*user_mode_only = fd >= 0;
	}
	if (fd < 0)
		return -errno;
	return (int)fd;
}

int uffd_api(int fd)
{
	/* Write-protect faults on anonymous memory came in Linux 5.7, the
	 * faulting thread's id in 4.14: a kernel that lacks either refuses
	 * the whole handshake with EINVAL. */
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID,
	};

	if (ioctl(fd, UFFDIO_API, &api) == 0)
		return 0;
	return errno == EINVAL ? -EOPNOTSUPP : -errno;
}

int uffd_register(int fd, void *start, size_t len)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)start, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	const uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) |
			      (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_WRITEPROTECT);

	if (ioctl(fd, UFFDIO_REGISTER, &reg) != 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;
	return (reg.ioctls & need) == need ? 0 : -EOPNOTSUPP;
}

int uffd_copy(int fd, void *dst, const void *src, size_t len)
{
	for (;;) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)dst,
			.src = (uintptr_t)src,
			.len = len,
			.mode = 0, /* wake the faulting threads */
		};

		if (ioctl(fd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (!transient(errno))
			return -errno;
	}
}

int uffd_zeropage(int fd, void *dst, size_t len)
{
	for (;;) {
		struct uffdio_zeropage z = {
			.range = { (uintptr_t)dst, len },
			.mode = 0,
		};

		if (ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0)
			return 0;
		if (!transient(errno))
			return -errno;
	}
}

int uffd_protect(int fd, void *start, size_t len, int on)
{
	for (;;) {
		/* Clearing also wakes the threads stopped on the range. */
		struct uffdio_writeprotect wp = {
			.range = { (uintptr_t)start, len },
			.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
		};

		if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0)
			return 0;
		if (!transient(errno))
			return -errno;
	}
}

int uffd_wake(int fd, void *start, size_t len)
{
	struct uffdio_range r = { (uintptr_t)start, len };

	return ioctl(fd, UFFDIO_WAKE, &r) == 0 ? 0 : -errno;
}
