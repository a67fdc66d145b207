// Regression test of a race this suite found: zs_unmap_object() used to drop
// the pin of its zspage and then read the zspage record (zs_deferred()) to
// see whether it must free an emptied zspage; in between, a compaction in
// another thread could move the object out, release the zspage and
// renumber or free the record (renumber_zspages -> memcpy, zs_table_trim ->
// free): a use-after-free, which TSan reported here within seconds (and a
// debugger stopping after the unpin made deterministic).
// zs_obj_read_begin() of a straddling object had the same shape. Fixed:
// the record is read only while pinned, and a deferred zspage is handed
// over under the class lock before the pin goes (map.c, rec_unpin).
//
// A second race, caught here once in CI under UBSan (the mapper's map of a
// live handle failed with EINVAL): a compaction that starts after the
// lock-free map read the class seq may trim the zspage record chunk the
// handle's old location points into; the map then found no record and
// reported a bad handle without asking the seq. Fixed: a failed lookup
// re-reads the seq and, if compaction ran, retries under the class lock.
#include <errno.h>
#include <stdint.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace {

using zstest::make_pool;
using zstest::Pool;

TEST(Race, UnmapWhileCompactionRenumbers)
{
	const size_t size = 1008; // 65 per 16-page zspage
	Pool pool = make_pool();
	zs_pool *p = pool.get();
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> errors{0};
	std::atomic<int> first_errno{0};
	std::atomic<zs_handle> first_handle{0};
	auto mapper = [&](uint64_t seed) {
		std::mt19937_64 rng(seed);
		std::vector<zs_handle> mine;
		for (int i = 0; i < 40; i++)
			mine.push_back(zs_malloc(p, size, 0));
		while (!stop.load()) {
			size_t i = rng() % mine.size();
			void *m = zs_map_object(p, mine[i], ZS_MM_RO);
			if (!m) {
				if (!errors++) {
					first_errno = errno;
					first_handle = mine[i];
				}
			} else
				zs_unmap_object(p, mine[i]);
			if (rng() % 4 == 0) { // move ours around
				zs_free(p, mine[i]);
				mine[i] = zs_malloc(p, size, 0);
			}
		}
		for (zs_handle h : mine)
			zs_free(p, h);
	};
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
		}
		for (zs_handle h : mine)
			zs_free(p, h);
	};
	std::vector<std::thread> ts;
	for (uint64_t i = 0; i < 3; i++)
		ts.emplace_back(mapper, i + 1);
	ts.emplace_back(churner);
	std::this_thread::sleep_for(std::chrono::seconds(10));
	stop = true;
	for (std::thread &t : ts)
		t.join();
	EXPECT_EQ(errors.load(), 0u) << "first: errno " << first_errno.load() << ", handle "
				     << std::hex << first_handle.load();
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_get_total_pages(p), 0u);
}

} // namespace
