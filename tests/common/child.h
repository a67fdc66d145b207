// child.h - part of a test run in a forked child. The child runs a function
// and exits with what it returns (0: every check in it held, else a number
// that says which failed); the parent waits for it with a deadline, so that
// a child stuck on a lock that a vanished thread held fails the test
// instead of hanging it.
#ifndef ZSALLOC_TESTS_COMMON_CHILD_H
#define ZSALLOC_TESTS_COMMON_CHILD_H

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace test_child
{

// How child @pid ended: its exit status, or 128 + the signal that killed
// it; -1 if waiting failed or it was still running after @seconds (it is
// then killed).
inline int wait_child(pid_t pid, int seconds)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
	for (;;) {
		int status = 0;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (std::chrono::steady_clock::now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
}

// Runs @child() in a forked process and returns how it ended (wait_child()
// with @seconds), or -1 if fork() failed. Output buffered before the fork
// is flushed first, so that the child does not print it again.
template <typename F> int in_child(F child, int seconds = 120)
{
	std::fflush(nullptr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(child());
	return wait_child(pid, seconds);
}

} // namespace test_child

#endif // ZSALLOC_TESTS_COMMON_CHILD_H
