// Maps, reads and writes racing compaction, object by object verified.
//
// This suite found two races in the old design, both where a map or unmap
// met a compaction that renumbered or trimmed zspage records: an unmap
// that read the record after dropping its pin (a use-after-free TSan
// reported within seconds), and a lock-free map that found no record and
// reported a live handle as bad (EINVAL, caught once under UBSan). The new
// design has no records to renumber: a map pins the object in its handle
// slot and compaction moves only unpinned objects (slot.c). The risk a
// caller sees is the same, and is what this tests: a map, read or write of
// a live handle that fails, bytes that change under a mapping or read (the
// object moved while pinned), a write that lands elsewhere or is lost, an
// object damaged by a move, a pool zs_check() finds unsound. Three mappers
// own objects of one class and map (RO, RW), read, write and replace them
// without pause, verifying every byte each time and again while holding;
// a churner fills and frees the class and compacts it after every round
// (and the pool compacts itself as objects are freed). In every layout, a
// few seconds each (ZS_TEST_SECONDS).
#include <errno.h>
#include <stdint.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

struct Errors {
	std::atomic<uint64_t> count{ 0 };
	std::mutex mu;
	std::string first;

	void add(const std::string &what)
	{
		if (count++ == 0) {
			std::lock_guard<std::mutex> l(mu);
			first = what;
		}
	}
};

struct Mine {
	zs_handle h;
	uint64_t seed;
};

// One access of @o, verified before and while it is held; RW and write
// store new bytes (o->seed follows).
void access_one(zs_pool *p, size_t size, Mine *o, int how, uint64_t *next, Errors *err)
{
	std::vector<uint8_t> buf(size);
	const uint8_t *m = nullptr;
	errno = 0;
	if (how == 0)
		m = (const uint8_t *)zs_map_object(p, o->h, ZS_MM_RO);
	else if (how == 1)
		m = (const uint8_t *)zs_map_object(p, o->h, ZS_MM_RW);
	else if (how == 2)
		m = (const uint8_t *)zs_obj_read_begin(p, o->h, size, buf.data());
	if (how == 3) {
		uint64_t seed = (*next)++;
		int ret = zs_obj_write(p, o->h, test_content::bytes(seed, size).data(), size);
		if (ret)
			err->add("zs_obj_write of a live handle: " + std::to_string(ret));
		else
			o->seed = seed;
		return;
	}
	if (!m) {
		err->add("access " + std::to_string(how) + " of a live handle: " + strerror(errno));
		return;
	}
	// Held across a yield: the churner's compaction runs meanwhile.
	for (int pass = 0; pass < 2; pass++) {
		if (!test_content::same(m, size, o->seed))
			err->add("bytes changed under access " + std::to_string(how) + ", pass " +
				 std::to_string(pass));
		std::this_thread::yield();
	}
	if (how == 1) {
		o->seed = (*next)++;
		memcpy(const_cast<uint8_t *>(m), test_content::bytes(o->seed, size).data(), size);
	}
	if (how == 2) {
		if (zs_obj_read_end(p, o->h, m))
			err->add("read_end");
	} else {
		errno = 0;
		zs_unmap_object(p, o->h);
		if (errno == EINVAL)
			err->add("unmap of a held mapping: EINVAL");
	}
}

void race(zs_map_method method, double secs)
{
	const size_t size = 1008; // 65 per 16-page zspage; some straddle
	Pool pool = make_pool(0, method);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::atomic<bool> stop{ false };
	Errors err;
	std::atomic<uint64_t> accesses{ 0 };
	auto mapper = [&](uint64_t seed) {
		std::mt19937_64 rng(seed);
		uint64_t next = seed << 32;
		std::vector<Mine> mine;
		for (int i = 0; i < 40; i++) {
			Mine o{ zs_malloc(p, size, 0), next++ };
			if (!o.h ||
			    zs_obj_write(p, o.h, test_content::bytes(o.seed, size).data(), size)) {
				err.add("mapper alloc");
				return;
			}
			mine.push_back(o);
		}
		while (!stop.load()) {
			Mine &o = mine[rng() % mine.size()];
			access_one(p, size, &o, (int)(rng() % 4), &next, &err);
			accesses++;
			if (!zs_test::check_object(p, o.h, o.seed, size, (int)(rng() % 3)))
				err.add("object after access: " +
					zs_test::explain_object(p, o.h, o.seed, size));
			if (rng() % 4 == 0) { // move ours around
				if (zs_free(p, o.h))
					err.add("mapper free");
				o.h = zs_malloc(p, size, 0);
				o.seed = next++;
				if (!o.h ||
				    zs_obj_write(p, o.h, test_content::bytes(o.seed, size).data(),
						 size)) {
					err.add("mapper realloc");
					return;
				}
			}
		}
		for (const Mine &o : mine) {
			std::string bad = zs_test::explain_object(p, o.h, o.seed, size);
			if (!bad.empty())
				err.add("mapper object at the end: " + bad);
			zs_free(p, o.h);
		}
	};
	uint64_t rounds = 0;
	auto churner = [&] {
		std::mt19937_64 rng(1);
		std::vector<zs_handle> mine;
		while (!stop.load()) {
			while (mine.size() < 1000)
				mine.push_back(zs_malloc(p, size, 0));
			std::shuffle(mine.begin(), mine.end(), rng);
			for (size_t i = 100; i < mine.size(); i++)
				zs_free(p, mine[i]);
			mine.resize(100);
			zs_compact(p);
			if (++rounds % 16 == 0 && zs_check(p))
				err.add("zs_check during the race");
		}
		for (zs_handle h : mine)
			zs_free(p, h);
	};
	std::vector<std::thread> ts;
	for (uint64_t i = 0; i < 3; i++)
		ts.emplace_back(mapper, i + 1);
	ts.emplace_back(churner);
	std::this_thread::sleep_for(std::chrono::milliseconds((long)(secs * 1000)));
	stop = true;
	for (std::thread &t : ts)
		t.join();
	zs_stats st = zs_test::pool_stats(p);
	printf("method %d: %llu accesses, %llu compactions, %llu objects moved\n", method,
	       (unsigned long long)accesses.load(), (unsigned long long)rounds,
	       (unsigned long long)st.objects_moved);
	EXPECT_EQ(err.count.load(), 0u) << "first: " << err.first;
	EXPECT_GT(st.objects_moved, 0u) << "nothing moved: nothing raced";
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::emptied(p), "");
}

double seconds_from_env(double fallback)
{
	const char *s = getenv("ZS_TEST_SECONDS");
	return s ? atof(s) : fallback;
}

TEST(Race, AccessWhileCompactionMoves)
{
	for (const zs_test::Access &a : zs_test::accesses()) {
		SCOPED_TRACE(a.name);
		race(a.method, seconds_from_env(3.0));
	}
}

} // namespace
