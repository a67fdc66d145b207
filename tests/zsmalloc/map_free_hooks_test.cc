// map_free_hooks_test.cc - a free and a map (or read, or write) of one
// handle in two threads, each held at its worst point by the test hooks of
// zsmalloc/internal.h (this test links //zsmalloc:zsmalloc_test_hooks):
//
//   1. the free has read the slot (live, unpinned) and waits for the class
//      lock; the map runs to the end: it pins the object, so the free, once
//      it goes on, fails with -EBUSY.
//   2. the map has read the slot (live) and not pinned yet; the free runs to
//      the end: the object is freed, so the map, once it goes on, fails
//      with EINVAL.
//   3. the free has read the slot; a compaction moves the object and gives
//      its zspage back; the free goes on and frees the object.
// Either way never both: a stale pointer into a reused place is impossible,
// whatever the timing. The old design succeeded both ways in case 1 (the
// free looked for mappings before it took the lock).
#include <errno.h>
#include <semaphore.h>

#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "zsmalloc/zsmalloc.h"

extern "C" {
extern void (*zs_test_hook_map_looked_up)(zs_handle h);
extern void (*zs_test_hook_free_scanned)(zs_handle h);
}

namespace
{

sem_t reached, go_on;
zs_handle target;
std::thread::id held_thread;

void hold(zs_handle h)
{
	if (h != target || std::this_thread::get_id() != held_thread)
		return;
	sem_post(&reached);
	sem_wait(&go_on);
}

struct Case {
	const char *name;
	zs_layout layout;
	zs_map_method method;
	size_t size;
};

class MapFreeHooks : public ::testing::TestWithParam<Case>
{
      protected:
	void SetUp() override
	{
		sem_init(&reached, 0, 0);
		sem_init(&go_on, 0, 0);
		zs_config cfg = {};
		cfg.layout = GetParam().layout;
		cfg.map_method = GetParam().method;
		pool = zs_create_pool_config(&cfg);
		ASSERT_NE(pool, nullptr);
	}
	void TearDown() override
	{
		zs_test_hook_map_looked_up = nullptr;
		zs_test_hook_free_scanned = nullptr;
		EXPECT_EQ(zs_check(pool), 0u);
		zs_destroy_pool(pool);
		sem_destroy(&reached);
		sem_destroy(&go_on);
	}
	zs_pool *pool = nullptr;
};

// What a pinning call in this thread does with @h: 0 it got the object (and
// let it go), else its errno.
int pin_once(zs_pool *p, zs_handle h, int how, size_t size)
{
	char buf[65536];
	struct zs_segment seg[ZS_MAX_SEGMENTS];
	errno = 0;
	switch (how) {
	case 0: {
		void *m = zs_map_object(p, h, ZS_MM_RW);
		if (!m)
			return errno;
		memset(m, 'M', size);
		zs_unmap_object(p, h);
		return 0;
	}
	case 1: {
		const void *m = zs_obj_read_begin(p, h, size, buf);
		if (!m)
			return errno;
		return zs_obj_read_end(p, h, m) ? EIO : 0;
	}
	case 2: {
		int n = zs_obj_read_sg_begin(p, h, size, seg, ZS_MAX_SEGMENTS);
		if (n < 0)
			return -n;
		return zs_obj_read_sg_end(p, h) ? EIO : 0;
	}
	default:
		memset(buf, 'W', size);
		return -zs_obj_write(p, h, buf, size);
	}
}

TEST_P(MapFreeHooks, FreeHeldAfterItsLookupThenAMapMeansFreeFails)
{
	const size_t size = GetParam().size;
	for (int how = 0; how < 4; how++) {
		SCOPED_TRACE(how);
		zs_handle keep = zs_malloc(pool, size, 0); // the zspage does not empty
		target = zs_malloc(pool, size, 0);
		ASSERT_NE(target, 0u);
		int free_rc = 1;
		zs_test_hook_free_scanned = hold;
		std::thread freer([&] {
			held_thread = std::this_thread::get_id();
			sem_post(&reached); // held_thread is set
			free_rc = zs_free(pool, target);
		});
		sem_wait(&reached);
		sem_wait(&reached); // the free read the slot and waits
		// Now a pin that holds across the free: map without unmapping.
		void *m = zs_map_object(pool, target, ZS_MM_RW);
		ASSERT_NE(m, nullptr);
		sem_post(&go_on);
		freer.join();
		EXPECT_EQ(free_rc, -EBUSY) << "freed while mapped";
		zs_unmap_object(pool, target);
		// Once the map ended, the other calls too: each succeeds.
		EXPECT_EQ(pin_once(pool, target, how, size), 0);
		zs_test_hook_free_scanned = nullptr;
		EXPECT_EQ(zs_free(pool, target), 0);
		EXPECT_EQ(zs_free(pool, keep), 0);
	}
}

TEST_P(MapFreeHooks, MapHeldAfterItsLookupThenAFreeMeansMapFails)
{
	const size_t size = GetParam().size;
	for (int how = 0; how < 4; how++) {
		SCOPED_TRACE(how);
		zs_handle keep = zs_malloc(pool, size, 0);
		target = zs_malloc(pool, size, 0);
		ASSERT_NE(target, 0u);
		held_thread = std::this_thread::get_id();
		zs_test_hook_map_looked_up = hold;
		int pin_rc = -1;
		std::thread pinner([&] {
			held_thread = std::this_thread::get_id();
			sem_post(&reached);
			pin_rc = pin_once(pool, target, how, size);
		});
		sem_wait(&reached);
		sem_wait(&reached); // the pinner read the slot, has not pinned
		EXPECT_EQ(zs_free(pool, target), 0);
		// The place is taken again at once by a new object of the class.
		zs_handle y = zs_malloc(pool, size, 0);
		std::vector<char> yb(size, 'Y');
		ASSERT_EQ(zs_obj_write(pool, y, yb.data(), size), 0);
		sem_post(&go_on);
		pinner.join();
		EXPECT_EQ(pin_rc, EINVAL) << "a freed handle was pinned";
		std::vector<char> back(size);
		const void *r = zs_obj_read_begin(pool, y, size, back.data());
		ASSERT_NE(r, nullptr);
		EXPECT_EQ(memcmp(r, yb.data(), size), 0) << "the new object was overwritten";
		zs_obj_read_end(pool, y, r);
		zs_test_hook_map_looked_up = nullptr;
		EXPECT_EQ(zs_free(pool, y), 0);
		EXPECT_EQ(zs_free(pool, keep), 0);
	}
}

zs_pool *compacting;

void compact_under_the_free(zs_handle h)
{
	if (h == target && compacting)
		zs_compact(compacting);
}

// 3. the free has read the slot (live at its place) and not looked up the
//    class of that place; a compaction moves the object and gives its
//    zspage back meanwhile. The free must still free the object, at its new
//    place: a valid handle is never refused (an ASan run of thread_test
//    once saw this free fail with -EINVAL).
TEST_P(MapFreeHooks, FreeHeldAfterItsLookupWhileACompactionMovesTheObjectFrees)
{
	const size_t size = GetParam().size;
	zs_config cfg = {};
	cfg.layout = GetParam().layout;
	cfg.map_method = GetParam().method;
	cfg.no_auto_compact = 1;
	zs_pool *p = zs_create_pool_config(&cfg);
	ASSERT_NE(p, nullptr);
	zs_handle probe = zs_malloc(p, size, 0);
	ASSERT_NE(probe, 0u);
	uint32_t opz = 0;
	std::vector<zs_class_stat> cs((size_t)zs_class_stats(p, nullptr, 0));
	int n = zs_class_stats(p, cs.data(), cs.size());
	for (int i = 0; i < n; i++)
		if (cs[i].obj_used)
			opz = cs[i].objs_per_zspage;
	ASSERT_EQ(zs_free(p, probe), 0);
	if (opz < 3)
		GTEST_SKIP() << opz << " objects per zspage: no zspage to move one into";
	// Three zspages: the first full but for one hole, the second emptied,
	// the third holds the target alone. Compaction moves the target into
	// the hole: one object moved, the third zspage given back.
	std::vector<zs_handle> hs;
	for (uint32_t i = 0; i < 3 * opz; i++) {
		hs.push_back(zs_malloc(p, size, 0));
		ASSERT_NE(hs.back(), 0u);
	}
	target = hs[2 * opz];
	for (uint32_t i = 0; i < 3 * opz; i++)
		if (i != 2 * opz && (i == 0 || i >= opz)) {
			ASSERT_EQ(zs_free(p, hs[i]), 0);
		}
	zs_stats before, after;
	zs_pool_stats(p, &before);
	compacting = p;
	zs_test_hook_free_scanned = compact_under_the_free;
	EXPECT_EQ(zs_free(p, target), 0) << "a valid handle refused";
	zs_test_hook_free_scanned = nullptr;
	compacting = nullptr;
	zs_pool_stats(p, &after);
	EXPECT_EQ(after.objects_moved - before.objects_moved, 1u)
		<< "the target did not move: the race was not made";
	EXPECT_EQ(after.objects, before.objects - 1);
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_free(p, target), -EINVAL) << "freed twice";
	for (uint32_t i = 1; i < opz; i++)
		EXPECT_EQ(zs_free(p, hs[i]), 0);
	EXPECT_EQ(zs_check(p), 0u);
	zs_destroy_pool(p);
}

INSTANTIATE_TEST_SUITE_P(
	Layouts, MapFreeHooks,
	::testing::Values(Case{ "contiguous_1008", ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT, 1008 },
			  Case{ "contiguous_3000", ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT, 3000 },
			  Case{ "contiguous_20000", ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT, 20000 },
			  Case{ "copy_1008", ZS_LAYOUT_SCATTERED, ZS_MAP_COPY, 1008 },
			  Case{ "copy_3000", ZS_LAYOUT_SCATTERED, ZS_MAP_COPY, 3000 },
			  Case{ "remap_3000", ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP, 3000 },
			  Case{ "remap_4096", ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP, 4096 }),
	[](const ::testing::TestParamInfo<Case> &i) { return std::string(i.param.name); });

} // namespace
