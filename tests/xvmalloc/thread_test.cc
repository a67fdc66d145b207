// thread_test.cc - threads sharing one pool: each allocates, fills, verifies
// and frees its own objects against its own shadow, and hands some objects
// to other threads to free (so frees land in arenas other threads are
// using). A checker thread runs xv_check, xv_walk and the stats meanwhile.
// Afterwards xv_check passes and every surviving object holds its bytes.
// Bounded by an operation count and a deadline of a few seconds.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

struct Obj {
	uint32_t pfn, off, size;
	uint64_t seed;
};

// Objects handed from one thread to another, to be verified and freed.
class Mailbox
{
      public:
	void put(const Obj &o)
	{
		std::lock_guard<std::mutex> g(mu);
		box.push_back(o);
	}
	bool take(Obj *o)
	{
		std::lock_guard<std::mutex> g(mu);
		if (box.empty())
			return false;
		*o = box.back();
		box.pop_back();
		return true;
	}
	std::vector<Obj> drain()
	{
		std::lock_guard<std::mutex> g(mu);
		return std::move(box);
	}

      private:
	std::mutex mu;
	std::vector<Obj> box;
};

struct Shared {
	xv_pool *pool;
	Mailbox mailbox;
	std::atomic<bool> stop{ false };
	std::atomic<uint64_t> errors{ 0 };
	std::chrono::steady_clock::time_point deadline;
};

bool check_obj(xv_pool *pool, const Obj &o)
{
	const void *p = xv_map(pool, o.pfn, o.off);
	return p && xv_get_object_size(pool, o.pfn, o.off) == o.size &&
	       xv_test::verify(p, o.size, o.seed);
}

void work(Shared *sh, uint64_t seed, uint64_t ops, std::vector<Obj> *left)
{
	xv_test::Rng r(seed);
	std::vector<Obj> mine;
	auto fail = [&] { sh->errors.fetch_add(1); };
	for (uint64_t i = 0; i < ops && !sh->stop.load(); i++) {
		if ((i & 255) == 0 && std::chrono::steady_clock::now() > sh->deadline)
			break;
		uint64_t k = r.below(100);
		if (mine.size() < 50 || (mine.size() < 3000 && k < 45)) {
			Obj o;
			o.size = xv_test::compressed_size(r, xv_max_size());
			o.seed = r.next();
			int flags = r.below(20) == 0 ? static_cast<int>(XV_NOGROW) : 0;
			int err = xv_malloc(sh->pool, o.size, &o.pfn, &o.off, flags);
			if (err) {
				if (err != -ENOMEM || !flags)
					fail();
				continue;
			}
			void *p = xv_map(sh->pool, o.pfn, o.off);
			if (!p) {
				fail();
				continue;
			}
			xv_test::fill(p, o.size, o.seed);
			mine.push_back(o);
		} else if (k < 85) {
			size_t j = r.below(mine.size());
			if (!check_obj(sh->pool, mine[j]) ||
			    xv_free(sh->pool, mine[j].pfn, mine[j].off) != 0)
				fail();
			mine[j] = mine.back();
			mine.pop_back();
		} else if (k < 92) {
			size_t j = r.below(mine.size());
			sh->mailbox.put(mine[j]);
			mine[j] = mine.back();
			mine.pop_back();
		} else {
			Obj o;
			if (sh->mailbox.take(&o)) {
				if (!check_obj(sh->pool, o) || xv_free(sh->pool, o.pfn, o.off) != 0)
					fail();
			} else if (!mine.empty() && !check_obj(sh->pool, mine[0])) {
				fail();
			}
		}
	}
	*left = std::move(mine);
}

// Runs xv_check, xv_walk and the stats while the workers run; each arena
// is consistent under its own lock, so the checker must find nothing.
void check_loop(Shared *sh, std::atomic<uint64_t> *checks)
{
	while (!sh->stop.load()) {
		if (xv_check(sh->pool) != 0)
			sh->errors.fetch_add(1000000);
		xv_stats s;
		xv_get_stats(sh->pool, &s);
		if (s.bytes_allocated + s.bytes_free != s.pages * xv_test::page_size())
			sh->errors.fetch_add(1000000);
		uint64_t n = 0;
		xv_walk(
			sh->pool,
			[](uint32_t, uint32_t, uint32_t, int, void *arg) {
				++*static_cast<uint64_t *>(arg);
				return 0;
			},
			&n);
		(void)xv_get_total_size_bytes(sh->pool);
		checks->fetch_add(1);
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

class XvThreads : public ::testing::TestWithParam<unsigned>
{
};

TEST_P(XvThreads, SharedPool)
{
	const unsigned kThreads = 4;
	const uint64_t ops = xv_test::count_from_env("XV_THREAD_OPS", 150000);
	const uint64_t seed = xv_test::seed_from_env("SharedPool");
	xv_config cfg{};
	cfg.arenas = GetParam();
	Shared sh;
	sh.pool = xv_create_pool_config(&cfg);
	ASSERT_NE(nullptr, sh.pool);
	sh.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);

	std::vector<std::vector<Obj>> left(kThreads);
	std::vector<std::thread> threads;
	std::atomic<uint64_t> checks{ 0 };
	std::thread checker(check_loop, &sh, &checks);
	for (unsigned t = 0; t < kThreads; t++)
		threads.emplace_back(work, &sh, seed + t * 0x9e3779b9ull, ops, &left[t]);
	for (std::thread &t : threads)
		t.join();
	sh.stop.store(true);
	checker.join();

	EXPECT_EQ(0u, sh.errors.load());
	EXPECT_GT(checks.load(), 0u);
	EXPECT_EQ(0u, xv_check(sh.pool));
	std::vector<Obj> all = sh.mailbox.drain();
	for (auto &v : left)
		all.insert(all.end(), v.begin(), v.end());
	EXPECT_EQ(all.size(), xv_test::stats(sh.pool).objects);
	for (const Obj &o : all) {
		ASSERT_TRUE(check_obj(sh.pool, o));
		ASSERT_EQ(0, xv_free(sh.pool, o.pfn, o.off));
	}
	EXPECT_EQ(0u, xv_test::stats(sh.pool).pages);
	EXPECT_EQ(0u, xv_check(sh.pool));
	xv_destroy_pool(sh.pool);
}

// 1: the seed's single lock; 2: an arena per core here; 0: the default;
// 3: threads sharing arenas unevenly.
INSTANTIATE_TEST_SUITE_P(Arenas, XvThreads, ::testing::Values(1u, 2u, 0u, 3u));

// Threads racing to free the same pairs: exactly one free of each succeeds.
TEST(XvThreadsMisuse, RacingDoubleFrees)
{
	xv_config cfg{};
	cfg.arenas = 2;
	xv_pool *pool = xv_create_pool_config(&cfg);
	ASSERT_NE(nullptr, pool);
	for (int round = 0; round < 20; round++) {
		std::vector<Obj> objs(2000);
		xv_test::Rng r(static_cast<uint64_t>(round));
		for (Obj &o : objs) {
			o.size = xv_test::compressed_size(r, xv_max_size());
			ASSERT_EQ(0, xv_malloc(pool, o.size, &o.pfn, &o.off, 0));
		}
		std::atomic<int> ok{ 0 }, refused{ 0 };
		std::vector<std::thread> ts;
		for (int t = 0; t < 3; t++) {
			ts.emplace_back([&] {
				for (const Obj &o : objs) {
					int err = xv_free(pool, o.pfn, o.off);
					if (err == 0)
						ok++;
					else if (err == -EINVAL)
						refused++;
				}
			});
		}
		for (std::thread &t : ts)
			t.join();
		// Pages given back and retaken may make a stale pair live again only
		// through a new allocation, and there is none here.
		EXPECT_EQ(2000, ok.load());
		EXPECT_EQ(4000, refused.load());
		EXPECT_EQ(0u, xv_check(pool));
		EXPECT_EQ(0u, xv_test::stats(pool).pages);
	}
	xv_destroy_pool(pool);
}

// A wrong pair pointing inside a live object, checked while the object's
// owner writes it (which needs no lock): refused every time, and the check
// reads only real headers, never the bytes being written (TSan, which runs
// this test, reports a read of them as a data race).
TEST(XvThreadsMisuse, WrongPairInsideAnObjectItsOwnerWrites)
{
	xv_pool *pool = xv_create_pool();
	ASSERT_NE(nullptr, pool);
	uint32_t pfn, off;
	ASSERT_EQ(0, xv_malloc(pool, 1000, &pfn, &off, 0));
	auto *m = static_cast<uint8_t *>(xv_map(pool, pfn, off));
	ASSERT_NE(nullptr, m);
	std::atomic<bool> stop{ false }, started{ false };
	std::thread writer([&] {
		started = true;
		for (uint32_t i = 0; !stop.load(); i++)
			for (int k = 0; k < 1000; k += 4)
				std::memcpy(m + k, &i, sizeof(i));
	});
	while (!started.load()) {
	}
	int accepted = 0;
	for (int i = 0; i < 20000; i++) {
		accepted += xv_get_object_size(pool, pfn, off + 64) != 0;
		accepted += xv_free(pool, pfn, off + 500) != -EINVAL;
	}
	stop = true;
	writer.join();
	EXPECT_EQ(0, accepted);
	xv_unmap(pool, pfn, off);
	EXPECT_EQ(1000u, xv_get_object_size(pool, pfn, off));
	EXPECT_EQ(0, xv_free(pool, pfn, off));
	EXPECT_EQ(0u, xv_check(pool));
	xv_destroy_pool(pool);
}

// An object of a page whose object count crosses the record's slot limit
// again and again (another thread frees and allocates two objects of the
// page): looked up meanwhile, it is found every time. xv_map once refused
// it with EINVAL when a free took the page out of overflow between its two
// looks at the record. Counts 3..12 cover the limit.
TEST(XvThreads, ObjectFoundWhileItsPageEntersAndLeavesOverflow)
{
	for (int count = 3; count <= 12; count++) {
		SCOPED_TRACE(count);
		xv_config cfg{};
		cfg.arenas = 1;
		xv_pool *pool = xv_create_pool_config(&cfg);
		ASSERT_NE(nullptr, pool);
		std::vector<Obj> objs((size_t)count);
		for (Obj &o : objs) {
			ASSERT_EQ(0, xv_malloc(pool, 40, &o.pfn, &o.off, 0));
			ASSERT_EQ(objs[0].pfn, o.pfn) << "the objects are in one page";
		}
		std::atomic<bool> stop{ false };
		std::atomic<int> errors{ 0 };
		std::thread churner([&] {
			while (!stop.load(std::memory_order_relaxed)) {
				for (int k = count - 2; k < count; k++)
					if (xv_free(pool, objs[(size_t)k].pfn, objs[(size_t)k].off))
						errors++;
				for (int k = count - 2; k < count; k++)
					if (xv_malloc(pool, 40, &objs[(size_t)k].pfn,
						      &objs[(size_t)k].off, 0))
						errors++;
			}
		});
		long refused = 0, calls = 0;
		auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
		while (std::chrono::steady_clock::now() < end) {
			for (int i = 0; i < 1000; i++, calls++) {
				if (!xv_map(pool, objs[0].pfn, objs[0].off))
					refused++;
				else
					xv_unmap(pool, objs[0].pfn, objs[0].off);
				if (xv_get_object_size(pool, objs[0].pfn, objs[0].off) != 40)
					refused++;
			}
		}
		stop = true;
		churner.join();
		EXPECT_EQ(0, refused) << "of " << calls << " lookups of a live object";
		EXPECT_EQ(0, errors.load());
		EXPECT_EQ(0u, xv_check(pool));
		xv_destroy_pool(pool);
	}
}

} // namespace
