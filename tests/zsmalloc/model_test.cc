// Model-based random test: random sequences of malloc, free, write (three
// ways), verify (three ways), compact and bad-handle calls, checked against a
// shadow model of every live handle's size and content seed, in every
// layout, with automatic compaction and the cache of emptied zspages as
// they come by default. Prints its seed; ZS_TEST_SEED=<seed> replays a run.
#include <errno.h>

#include <cstdio>
#include <random>
#include <unordered_map>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

struct Obj {
	size_t size;
	uint64_t seed;
};

struct ModelRun {
	uint64_t seed;
	long steps;
	long check_every; // zs_check after this many steps (1: every step)
	unsigned chain;
	zs_map_method method;
	size_t max_live;
};

// Sizes like compressed pages: mostly 200..3000, a tail to the page size;
// now and then a compressed block of several pages, up to the largest.
size_t pick_size(std::mt19937_64 &rng, size_t page)
{
	switch (rng() % 8) {
	case 0:
		return 1 + rng() % 64;
	case 1:
		return page - rng() % 300;
	case 2:
		return rng() % 16 ? 1 + rng() % page
				  : page + 1 + rng() % (ZS_MAX_OBJECT_SIZE - page);
	default:
		return 200 + rng() % 2800;
	}
}

void run_model(const ModelRun &m)
{
	const uint64_t seed = zs_test::test_seed(m.seed);
	printf("model seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	zs_test::Pool pool = zs_test::make_pool(m.chain, m.method);
	ASSERT_NE(pool, nullptr);
	const size_t page = 4096;
	std::unordered_map<zs_handle, Obj> live;
	std::vector<zs_handle> handles, freed;
	uint64_t next_seed = 1;

	for (long step = 0; step < m.steps; step++) {
		unsigned op = (unsigned)(rng() % 100);
		if (op < 45 && live.size() < m.max_live) {
			size_t size = pick_size(rng, page);
			zs_handle h = zs_malloc(pool.get(), size, 0);
			ASSERT_NE(h, 0u) << "step " << step << ": " << strerror(errno);
			ASSERT_EQ(live.count(h), 0u) << "handle handed out twice";
			Obj o{ size, next_seed++ };
			ASSERT_TRUE(write_object(pool.get(), h, o.seed, size, (int)(rng() % 3)))
				<< "step " << step;
			live[h] = o;
			handles.push_back(h);
		} else if (op < 80 && !handles.empty()) {
			size_t i = rng() % handles.size();
			zs_handle h = handles[i];
			Obj o = live[h];
			ASSERT_TRUE(check_object(pool.get(), h, o.seed, o.size, (int)(rng() % 3)))
				<< "step " << step << " size " << o.size;
			ASSERT_EQ(zs_free(pool.get(), h), 0) << "step " << step;
			live.erase(h);
			handles[i] = handles.back();
			handles.pop_back();
			freed.push_back(h);
		} else if (op < 92 && !handles.empty()) {
			zs_handle h = handles[rng() % handles.size()];
			Obj &o = live[h];
			if (rng() % 2) {
				o.seed = next_seed++;
				ASSERT_TRUE(write_object(pool.get(), h, o.seed, o.size,
							 (int)(rng() % 3)));
			}
			ASSERT_TRUE(check_object(pool.get(), h, o.seed, o.size, (int)(rng() % 3)))
				<< "step " << step;
		} else if (op < 94) {
			// Compaction is rare in real use and costs a barrier per
			// class: 1 step in 1000 on average.
			if (rng() % 20 == 0)
				zs_compact(pool.get());
		} else if (!freed.empty()) {
			// A stale handle: refused unless its slot holds a live
			// object again under the very same handle (impossible
			// before 65536 reuses of that slot).
			zs_handle h = freed[rng() % freed.size()];
			if (!live.count(h)) {
				ASSERT_EQ(zs_free(pool.get(), h), -EINVAL) << "step " << step;
				errno = 0;
				ASSERT_EQ(zs_map_object(pool.get(), h, ZS_MM_RO), nullptr);
				ASSERT_EQ(errno, EINVAL);
			}
		}
		if (m.check_every && step % m.check_every == 0) {
			ASSERT_EQ(zs_check(pool.get()), 0u) << "step " << step;
			zs_stats st = zs_test::pool_stats(pool.get());
			ASSERT_EQ(st.objects, live.size()) << "step " << step;
			ASSERT_EQ(st.pages_used, zs_get_total_pages(pool.get())) << "step " << step;
		}
	}
	ASSERT_EQ(zs_check(pool.get()), 0u);
	zs_stats st;
	zs_pool_stats(pool.get(), &st);
	EXPECT_EQ(st.objects, live.size());
	for (auto &kv : live)
		ASSERT_TRUE(check_object(pool.get(), kv.first, kv.second.seed, kv.second.size, 1));
	zs_compact(pool.get());
	ASSERT_EQ(zs_check(pool.get()), 0u);
	for (auto &kv : live)
		ASSERT_TRUE(check_object(pool.get(), kv.first, kv.second.seed, kv.second.size, 0));
	for (auto &kv : live)
		ASSERT_EQ(zs_free(pool.get(), kv.first), 0);
	ASSERT_EQ(zs_check(pool.get()), 0u);
	EXPECT_EQ(zs_test::emptied(pool.get()), "");
	ASSERT_EQ(zs_check(pool.get()), 0u);
}

TEST(Model, CheckAfterEveryStep)
{
	run_model({ 1, 8000, 1, 0, ZS_MAP_DEFAULT, 300 });
}

TEST(Model, CheckAfterEveryStepCopy)
{
	run_model({ 5, 8000, 1, 0, ZS_MAP_COPY, 300 });
}

TEST(Model, CheckAfterEveryStepShortChainsRemap)
{
	run_model({ 2, 8000, 1, 4, ZS_MAP_REMAP, 300 });
}

TEST(Model, CheckEvery100Steps)
{
	run_model({ 4, 200000, 100, 8, ZS_MAP_COPY, 3000 });
}

TEST(Model, MillionOperations)
{
	run_model({ 3, 1000000, 50000, 0, ZS_MAP_DEFAULT, 20000 });
}

} // namespace
