// Shards (zs_config.shards): each thread allocates in its own copy of the
// size classes; frees, maps and compaction reach an object's shard from any
// thread; the statistics add the shards up.
#include <errno.h>
#include <pthread.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

Pool make_sharded(uint32_t shards, zs_map_method method = ZS_MAP_DEFAULT)
{
	return zs_test::make_pool(0, method, 0, shards);
}

// @threads threads, started together, each allocate @n objects of @size
// (or of sizes 1 .. page, varied, when @size is 0) and write their contents.
// Returns every thread's objects; seeds are distinct across all of them.
std::vector<std::vector<Obj>> fill_in_threads(zs_pool *p, int threads, int n, size_t size)
{
	std::vector<std::vector<Obj>> objs(threads);
	std::vector<std::thread> ts;
	pthread_barrier_t start, end;

	pthread_barrier_init(&start, nullptr, (unsigned)threads);
	pthread_barrier_init(&end, nullptr, (unsigned)threads);
	for (int t = 0; t < threads; t++)
		ts.emplace_back([&, t] {
			pthread_barrier_wait(&start);
			for (int i = 0; i < n; i++) {
				uint64_t seed = (uint64_t)t << 32 | (uint64_t)i;
				size_t len = size ? size : 1 + (seed * 2654435761u) % 4096;
				zs_handle h = zs_malloc(p, len, 0);

				if (!h || !write_object(p, h, seed, len, i % 3))
					break; // the caller sees the short vector
				objs[t].push_back({ h, len, seed });
			}
			// Alive until all are done: a thread takes its shard when it
			// first allocates, the least used among live threads'.
			pthread_barrier_wait(&end);
		});
	for (auto &th : ts)
		th.join();
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&end);
	for (int t = 0; t < threads; t++)
		EXPECT_EQ(objs[t].size(), (size_t)n) << "thread " << t << ": " << strerror(errno);
	return objs;
}

TEST(Shards, ConfigRange)
{
	errno = 0;
	EXPECT_EQ(make_sharded(ZS_MAX_SHARDS + 1), nullptr);
	EXPECT_EQ(errno, EINVAL);
	for (uint32_t s = 0; s <= ZS_MAX_SHARDS; s++) {
		Pool p = make_sharded(s);
		ASSERT_NE(p, nullptr) << "shards " << s;
		// the same size classes whatever the shard count
		EXPECT_EQ(zs_class_stats(p.get(), nullptr, 0),
			  zs_class_stats(make_sharded(1).get(), nullptr, 0));
		EXPECT_EQ(zs_check(p.get()), 0u);
	}
}

// A shard's classes are made when a thread first allocates in it: a new
// pool costs the same whatever its shard count, and grows when threads in
// other shards allocate.
TEST(Shards, MadeOnFirstUse)
{
	Pool one = make_sharded(1), many = make_sharded(ZS_MAX_SHARDS);
	ASSERT_NE(one, nullptr);
	ASSERT_NE(many, nullptr);
	zs_stats a, b;
	zs_pool_stats(one.get(), &a);
	zs_pool_stats(many.get(), &b);
	EXPECT_EQ(a.metadata_bytes, b.metadata_bytes);
	auto objs = fill_in_threads(many.get(), ZS_MAX_SHARDS, 1, 100);
	zs_pool_stats(many.get(), &b);
	// every shard's classes now: at least ZS_MAX_SHARDS - 1 more sets
	EXPECT_GT(b.metadata_bytes - a.metadata_bytes,
		  (uint64_t)(ZS_MAX_SHARDS - 1) * (a.metadata_bytes - sizeof(void *)) / 2);
	EXPECT_EQ(zs_check(many.get()), 0u);
	for (const auto &v : objs)
		for (const Obj &o : v)
			EXPECT_EQ(zs_free(many.get(), o.h), 0);
	EXPECT_EQ(zs_check(many.get()), 0u);
}

// Two threads with ZS_MAX_SHARDS shards get distinct shards, hence one
// zspage each for a few small objects of one class; with one shard they
// share a zspage. The statistics count both threads' objects.
TEST(Shards, ThreadsAllocateInTheirOwnShard)
{
	const size_t size = 200;
	for (uint32_t shards : { 1u, (uint32_t)ZS_MAX_SHARDS }) {
		Pool p = make_sharded(shards);
		ASSERT_NE(p, nullptr);
		auto objs = fill_in_threads(p.get(), 2, 5, size);
		auto cs = class_stats(p.get());
		const zs_class_stat &c = cs[class_for(cs, size)];

		EXPECT_EQ(total_zspages(c), shards == 1 ? 1u : 2u) << "shards " << shards;
		EXPECT_EQ(c.obj_used, 10u);
		zs_stats st;
		zs_pool_stats(p.get(), &st);
		EXPECT_EQ(st.objects, 10u);
		EXPECT_EQ(zs_check(p.get()), 0u);
		for (const auto &v : objs)
			for (const Obj &o : v)
				EXPECT_TRUE(check_object(p.get(), o.h, o.seed, o.size, 0));
	}
}

// Shards appear while another thread checks, compacts and counts the
// pool: zs_check() sees a sound pool every time (no shard is made while it
// runs), the counts never exceed what was allocated, and at the end every
// object is intact. Fresh pools, so that every round makes its shards.
TEST(Shards, MadeWhileOthersCheckCompactAndCount)
{
	for (int round = 0; round < 20; round++) {
		Pool p = make_sharded(ZS_MAX_SHARDS);
		ASSERT_NE(p, nullptr);
		std::atomic<bool> done{ false };
		std::atomic<size_t> violations{ 0 }, too_many{ 0 };
		std::thread watcher([&] {
			while (!done.load()) {
				violations += zs_check(p.get());
				zs_compact(p.get());
				zs_stats st;
				zs_pool_stats(p.get(), &st);
				too_many += st.objects > (size_t)ZS_MAX_SHARDS * 50;
				auto cs = class_stats(p.get());
				for (const zs_class_stat &c : cs)
					too_many += c.obj_used > (size_t)ZS_MAX_SHARDS * 50;
			}
		});
		auto objs = fill_in_threads(p.get(), ZS_MAX_SHARDS, 50, 0);
		done = true;
		watcher.join();
		EXPECT_EQ(violations.load(), 0u) << "round " << round;
		EXPECT_EQ(too_many.load(), 0u) << "round " << round;
		EXPECT_EQ(zs_check(p.get()), 0u);
		for (const auto &v : objs)
			for (const Obj &o : v)
				ASSERT_TRUE(check_object(p.get(), o.h, o.seed, o.size, 1))
					<< zs_test::explain_object(p.get(), o.h, o.seed, o.size);
	}
}

// Objects allocated in four threads' shards are read, freed and compacted
// from this thread (and from two threads at once, each freeing the other's
// objects): contents intact, the pool sound, and zs_compact() merges the
// shards' partly filled zspages: each class ends with at most one, packed
// from object 0, whatever shard it is in. Every page but the cached ones
// given back at the end. In every layout.
TEST(Shards, OtherThreadsFreeMapAndCompact)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Pool p = make_sharded(ZS_MAX_SHARDS, acc.method);
		ASSERT_NE(p, nullptr);
		auto objs = fill_in_threads(p.get(), 4, 3000, 0);
		ASSERT_EQ(zs_check(p.get()), 0u);

		// threads 0 and 1 free every other object of each other's
		std::thread a([&] {
			for (size_t i = 0; i < objs[1].size(); i += 2)
				EXPECT_EQ(zs_free(p.get(), objs[1][i].h), 0);
		});
		std::thread b([&] {
			for (size_t i = 0; i < objs[0].size(); i += 2)
				EXPECT_EQ(zs_free(p.get(), objs[0][i].h), 0);
		});
		a.join();
		b.join();
		// this thread frees every other object of threads 2 and 3
		for (int t = 2; t < 4; t++)
			for (size_t i = 0; i < objs[t].size(); i += 2)
				ASSERT_EQ(zs_free(p.get(), objs[t][i].h), 0);
		ASSERT_EQ(zs_check(p.get()), 0u);
		size_t before = zs_get_total_pages(p.get());
		size_t freed = zs_compact(p.get());
		EXPECT_GT(freed, 0u);
		EXPECT_EQ(zs_get_total_pages(p.get()), before - freed);
		ASSERT_EQ(zs_check(p.get()), 0u);
		for (const zs_class_stat &c : class_stats(p.get())) {
			EXPECT_LE(zs_test::partial_zspages(c), 1u) << "class " << c.size;
			EXPECT_EQ(c.pages_used, zs_test::min_pages(c)) << "class " << c.size;
			EXPECT_EQ(c.zspages[0], 0u) << "class " << c.size;
		}
		EXPECT_EQ(zs_test::pool_stats(p.get()).pages_cached, 0u);
		for (auto &v : objs)
			for (size_t i = 1; i < v.size(); i += 2)
				for (int how = 0; how < 3; how++)
					ASSERT_TRUE(check_object(p.get(), v[i].h, v[i].seed,
								 v[i].size, how))
						<< zs_test::explain_object(p.get(), v[i].h,
									   v[i].seed, v[i].size);
		// freed handles stay refused, whichever shard they came from
		for (auto &v : objs)
			for (size_t i = 0; i < v.size(); i += 2)
				ASSERT_EQ(zs_free(p.get(), v[i].h), -EINVAL);
		for (auto &v : objs)
			for (size_t i = 1; i < v.size(); i += 2)
				ASSERT_EQ(zs_free(p.get(), v[i].h), 0);
		EXPECT_EQ(zs_check(p.get()), 0u);
		EXPECT_EQ(zs_test::emptied(p.get()), "");
	}
}

} // namespace
