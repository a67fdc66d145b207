// fork_test.cc - fork() for real. The child of a process using a pool gets
// a copy-on-write snapshot of it: it reads every object as it was, writes,
// frees everything and destroys the pool, while the parent's objects stay
// intact and readable. A child forked while other threads allocate and free
// in the pool finds every arena between two operations (the fork handlers
// hold every arena lock across fork) and can use its snapshot.
//
// The child reports through its exit status (0: all well, else the number
// of the first check that failed), and the parent waits for it with a
// deadline, so that a child stuck on a lock a vanished thread held fails
// the test instead of hanging it.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/common/child.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

struct Obj {
	uint32_t pfn, off, size;
	uint64_t seed;
};

std::vector<Obj> fill(xv_pool *pool, int n, uint64_t seed)
{
	xv_test::Rng r(seed);
	std::vector<Obj> objs;
	for (int i = 0; i < n; i++) {
		Obj o;
		o.size = xv_test::compressed_size(r, xv_max_size());
		o.seed = r.next();
		if (xv_malloc(pool, o.size, &o.pfn, &o.off, 0))
			break;
		void *p = xv_map(pool, o.pfn, o.off);
		if (!p)
			break;
		xv_test::fill(p, o.size, o.seed);
		xv_unmap(pool, o.pfn, o.off);
		objs.push_back(o);
	}
	return objs;
}

// Every object maps and holds its bytes: 0, else @code.
int check_all(xv_pool *pool, const std::vector<Obj> &objs, int code)
{
	for (const Obj &o : objs) {
		const void *p = xv_map(pool, o.pfn, o.off);
		if (!p || xv_get_object_size(pool, o.pfn, o.off) != o.size ||
		    !xv_test::verify(p, o.size, o.seed))
			return code;
	}
	return 0;
}

// What the child does with its snapshot; returns its exit status.
int child_work(xv_pool *pool, std::vector<Obj> objs)
{
	if (int e = check_all(pool, objs, 10))
		return e; // the snapshot reads
	if (xv_check(pool) != 0)
		return 11;
	for (Obj &o : objs) { // overwrite every object
		void *p = xv_map(pool, o.pfn, o.off);
		if (!p)
			return 12;
		o.seed ^= 0x5a5a5a5a5a5a5a5aull;
		xv_test::fill(p, o.size, o.seed);
	}
	if (int e = check_all(pool, objs, 13))
		return e;
	std::vector<Obj> more = fill(pool, 200, 99); // and allocate more
	if (more.size() != 200)
		return 14;
	for (const Obj &o : objs)
		if (xv_free(pool, o.pfn, o.off))
			return 15;
	for (const Obj &o : more)
		if (xv_free(pool, o.pfn, o.off))
			return 16;
	if (xv_check(pool) != 0)
		return 17;
	xv_destroy_pool(pool);
	return 0;
}

// What the parent finds after its children: every object of @objs holds
// its bytes, the checker passes, and each object frees.
void expect_intact_and_free(xv_pool *pool, const std::vector<Obj> &objs)
{
	EXPECT_EQ(0, check_all(pool, objs, 1));
	EXPECT_EQ(0u, xv_check(pool));
	for (const Obj &o : objs)
		ASSERT_EQ(0, xv_free(pool, o.pfn, o.off));
}

TEST(XvFork, ChildWritesFreesAndDestroysParentKeepsItsObjects)
{
	xv_pool *pool = xv_create_pool();
	ASSERT_NE(nullptr, pool);
	std::vector<Obj> objs = fill(pool, 3000, 1);
	ASSERT_EQ(3000u, objs.size());
	const xv_stats before = xv_test::stats(pool);

	ASSERT_EQ(0, test_child::in_child([&] { return child_work(pool, objs); }, 60));

	// Nothing the child did reached the parent's pool.
	const xv_stats after = xv_test::stats(pool);
	EXPECT_EQ(before.objects, after.objects);
	EXPECT_EQ(before.pages, after.pages);
	ASSERT_NO_FATAL_FAILURE(expect_intact_and_free(pool, objs));
	EXPECT_EQ(0u, xv_test::stats(pool).pages);
	xv_destroy_pool(pool);
}

// Threads allocate, fill, verify and free in the pool while the main thread
// forks again and again; every child checks the pool, uses it and destroys
// it. Without the fork handlers a child would now and then find an arena
// locked by a thread it does not have (and hang), or half updated.
TEST(XvFork, ForkWhileThreadsUseThePool)
{
	const int kForks = static_cast<int>(xv_test::count_from_env("XV_FORKS", 40));
	xv_config cfg{};
	cfg.arenas = 2;
	xv_pool *pool = xv_create_pool_config(&cfg);
	ASSERT_NE(nullptr, pool);
	std::vector<Obj> mine = fill(pool, 500, 2);
	ASSERT_EQ(500u, mine.size());
	std::atomic<bool> stop{ false };
	std::atomic<uint64_t> errors{ 0 }, rounds{ 0 };
	std::vector<std::thread> workers;
	for (int t = 0; t < 2; t++) {
		workers.emplace_back([&, t] {
			xv_test::Rng r(100 + static_cast<uint64_t>(t));
			std::vector<Obj> objs;
			while (!stop.load()) {
				if (objs.size() < 64 && r.below(2)) {
					std::vector<Obj> one = fill(pool, 1, r.next());
					if (one.size() != 1)
						errors++;
					objs.insert(objs.end(), one.begin(), one.end());
				} else if (!objs.empty()) {
					size_t k = r.below(objs.size());
					if (check_all(pool, { objs[k] }, 1) ||
					    xv_free(pool, objs[k].pfn, objs[k].off))
						errors++;
					objs[k] = objs.back();
					objs.pop_back();
				}
				rounds++;
			}
			for (const Obj &o : objs)
				if (xv_free(pool, o.pfn, o.off))
					errors++;
		});
	}
	int failed = 0, first_status = 0;
	for (int i = 0; i < kForks; i++) {
		uint64_t seen = rounds.load();
		while (rounds.load() < seen + 200)
			std::this_thread::yield();
		int status = test_child::in_child([&] { return child_work(pool, mine); }, 20);
		if (status != 0 && !failed++)
			first_status = status;
	}
	stop = true;
	for (std::thread &w : workers)
		w.join();
	EXPECT_EQ(0, failed) << "children failed; the first with status " << first_status
			     << " (-1: hung, 128 + n: killed by signal n)";
	EXPECT_EQ(0u, errors.load());
	ASSERT_NO_FATAL_FAILURE(expect_intact_and_free(pool, mine));
	EXPECT_EQ(0u, xv_test::stats(pool).objects);
	xv_destroy_pool(pool);
}

} // namespace
