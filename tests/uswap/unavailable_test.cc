// unavailable_test.cc - where userfaultfd is not allowed. A seccomp filter
// in a child process makes the kernel refuse it the way a container's
// profile or vm.unprivileged_userfaultfd = 0 does, and the child checks
// what uswap and the demo say: the errno, the advice (what to change), the
// demo's exit status 2; and that UFFD_USER_MODE_ONLY is taken when only
// the full userfaultfd is refused.
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <string>

#include "tests/common/child.h"
#include "tests/uswap/uswap_test_util.h"

namespace
{

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

enum class Deny { kAll, kFullOnly };

// Installs a filter: userfaultfd() fails with `err` (kAll), or only when
// called without UFFD_USER_MODE_ONLY (kFullOnly). 0 or -errno.
int deny_userfaultfd(Deny what, int err)
{
	const unsigned arg0 = offsetof(struct seccomp_data, args[0]);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
			 what == Deny::kAll ? 0u : static_cast<unsigned>(UFFD_USER_MODE_ONLY), 1,
			 0),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { static_cast<unsigned short>(sizeof(f) / sizeof(f[0])), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return -errno;
	return 0;
}

// Runs `body` in a child under the filter; how the child ended (0: every
// check in it passed; 100 + n: check n failed; 99: no filter), or -1.
template <typename F> int in_child(Deny what, int err, F body)
{
	return test_child::in_child([&] { return deny_userfaultfd(what, err) != 0 ? 99 : body(); });
}

#if defined(__x86_64__)
TEST(Unavailable, RefusedWithEperm)
{
	int status = in_child(Deny::kAll, EPERM, [] {
		if (uswap_available(0) != -EPERM)
			return 101;
		uswap_config c = {};
		c.size = uswap_test::page_size();
		errno = 0;
		if (uswap_create(&c) != nullptr || errno != EPERM)
			return 102;
		if (!std::strstr(uswap_advice(errno), "sysctl -w vm.unprivileged_userfaultfd=1"))
			return 103;
		if (!std::strstr(uswap_advice(errno), "CAP_SYS_PTRACE"))
			return 104;
		return 0;
	});
	EXPECT_EQ(status, 0);
}

TEST(Unavailable, NoSuchSystemCall)
{
	int status = in_child(Deny::kAll, ENOSYS, [] {
		if (uswap_available(0) != -ENOSYS)
			return 101;
		if (!std::strstr(uswap_advice(-ENOSYS), "CONFIG_USERFAULTFD"))
			return 102;
		return 0;
	});
	EXPECT_EQ(status, 0);
}

// vm.unprivileged_userfaultfd = 0 without CAP_SYS_PTRACE: only user-mode
// faults may be handled. uswap takes that, unless told it needs kernel
// faults; a system call given a dropped page then fails with EFAULT.
TEST(Unavailable, UserModeOnlyTaken)
{
	int status = in_child(Deny::kFullOnly, EPERM, [] {
		if (uswap_available(1) != -EPERM)
			return 101;
		if (uswap_available(0) != 0)
			return 102;
		uswap_test::Region u = uswap_test::make_region(4);
		if (!u)
			return 103;
		for (size_t i = 0; i < 4; i++)
			uswap_test::make_page(uswap_test::page_at(u.get(), i), 1, i, 0);
		if (uswap_reclaim_range(u.get(), 0, 4) != 4)
			return 104;
		struct uswap_stats st = uswap_test::stats(u.get());
		if (st.user_mode_only != 1)
			return 105;
		int p[2];
		if (pipe(p) != 0)
			return 106;
		errno = 0;
		ssize_t w = write(p[1], uswap_test::page_at(u.get(), 1), 64);
		if (w != -1 || errno != EFAULT)
			return 107; // the kernel's access is not served
		if (!uswap_test::page_is(uswap_test::page_at(u.get(), 1), 1, 1, 0))
			return 108; // a user access is
		if (uswap_check(u.get()) != 0)
			return 109;
		return 0;
	});
	EXPECT_EQ(status, 0);
}

// The demo says what to change and exits 2.
TEST(Unavailable, DemoExitsTwo)
{
	int err_pipe[2];
	ASSERT_EQ(pipe(err_pipe), 0);
	int status = in_child(Deny::kAll, EPERM, [&] {
		dup2(err_pipe[1], 2);
		close(err_pipe[0]);
		execl("examples/uswap/demo", "demo", "--quiet", static_cast<char *>(nullptr));
		return 98;
	});
	close(err_pipe[1]);
	std::string err;
	char buf[512];
	ssize_t n;
	while ((n = read(err_pipe[0], buf, sizeof(buf))) > 0)
		err.append(buf, static_cast<size_t>(n));
	close(err_pipe[0]);
	EXPECT_EQ(status, 2) << err;
	EXPECT_NE(err.find("vm.unprivileged_userfaultfd"), std::string::npos) << err;
	EXPECT_NE(err.find("CAP_SYS_PTRACE"), std::string::npos) << err;
}
#endif

// Where the full userfaultfd is allowed, a system call that reads a
// dropped page gets it (the kernel's fault is served too).
TEST(Available, KernelFaultsServed)
{
	if (uswap_available(1) != 0)
		GTEST_SKIP() << "the full userfaultfd is not allowed here: "
			     << uswap_advice(uswap_available(1));
	uswap_config c = {};
	c.kernel_faults = 1;
	uswap_test::Region u = uswap_test::make_region(4, c);
	ASSERT_TRUE(u);
	for (size_t i = 0; i < 4; i++)
		uswap_test::make_page(uswap_test::page_at(u.get(), i), 9, i, 0);
	ASSERT_EQ(uswap_reclaim_range(u.get(), 0, 4), 4);
	EXPECT_EQ(uswap_test::stats(u.get()).user_mode_only, 0);
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	ASSERT_EQ(write(p[1], uswap_test::page_at(u.get(), 2), 64), 64);
	unsigned char got[64];
	ASSERT_EQ(read(p[0], got, sizeof(got)), 64);
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(uswap_page_state(u.get(), 2), USWAP_RESIDENT);
	EXPECT_EQ(std::memcmp(got, uswap_test::page_at(u.get(), 2), 64), 0);
	EXPECT_TRUE(uswap_test::page_is(uswap_test::page_at(u.get(), 2), 9, 2, 0));
}

} // namespace
