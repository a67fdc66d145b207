// fork(): a pool is a copy-on-write snapshot in the child. Nothing the child
// does (write, free, compact, destroy) reaches the parent's objects, and
// the child can use its snapshot, even of objects another parent thread had
// mapped. A scattered pool with remap windows shares a memfd with the
// child: there every call fails with EPERM and destroy leaves the parent's
// pages alone.
#include <errno.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/child.h"
#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

Pool make(zs_layout layout, zs_map_method method)
{
	zs_config cfg = {};
	cfg.layout = layout;
	cfg.map_method = method;
	return make_pool(cfg);
}

std::vector<Obj> fill(zs_pool *p, int n, uint64_t seed)
{
	std::vector<Obj> objs;
	for (int i = 0; i < n; i++) {
		size_t size = 1 + (size_t)(i * 7919 % 20000);
		zs_handle h = zs_malloc(p, size, 0);
		EXPECT_NE(h, 0u);
		objs.push_back({ h, size, seed + (uint64_t)i });
		EXPECT_TRUE(zs_test::write_object(p, h, objs.back().seed, size, 0));
	}
	return objs;
}

// The parent's pool after its children: it checks clean and every object
// frees.
void expect_clean_then_free(zs_pool *p, const std::vector<Obj> &objs)
{
	EXPECT_EQ(zs_check(p), 0u);
	for (const Obj &o : objs)
		EXPECT_EQ(zs_free(p, o.h), 0);
}

void fork_keeps_parent(zs_layout layout, zs_map_method method)
{
	Pool pool = make(layout, method);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs = fill(p, 3000, 100);

	int status = test_child::in_child([&] {
		// The snapshot is there and whole.
		if (zs_test::first_bad(p, objs, 3) != -1)
			return 1;
		// Overwrite half, free the rest, compact, check, destroy.
		for (size_t i = 0; i < objs.size(); i++) {
			if (i % 2) {
				if (!zs_test::write_object(p, objs[i].h, 999, objs[i].size, 0))
					return 2;
			} else if (zs_free(p, objs[i].h)) {
				return 3;
			}
		}
		zs_compact(p);
		if (zs_check(p))
			return 4;
		zs_destroy_pool(p);
		return 0;
	});
	EXPECT_EQ(status, 0);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1) << "the child reached the parent's objects";
	expect_clean_then_free(p, objs);
}

TEST(Fork, ContiguousPoolIsASnapshot)
{
	fork_keeps_parent(ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT);
}

TEST(Fork, ScatteredCopyPoolIsASnapshot)
{
	fork_keeps_parent(ZS_LAYOUT_SCATTERED, ZS_MAP_COPY);
}

// Another thread of the parent holds a mapping while this one forks: in the
// child that thread is gone, and so is its pin.
TEST(Fork, MappingsOfOtherThreadsEndInTheChild)
{
	Pool pool(zs_create_pool("fork"));
	zs_pool *p = pool.get();
	std::vector<Obj> objs = fill(p, 10, 5);
	std::atomic<int> state{ 0 };
	std::thread holder([&] {
		void *m = zs_map_object(p, objs[3].h, ZS_MM_RW);
		EXPECT_NE(m, nullptr);
		state = 1;
		while (state != 2)
			std::this_thread::yield();
		zs_unmap_object(p, objs[3].h);
	});
	while (state != 1)
		std::this_thread::yield();
	EXPECT_EQ(zs_free(p, objs[3].h), -EBUSY);
	int status = test_child::in_child(
		[&] { return zs_free(p, objs[3].h) == 0 && zs_check(p) == 0 ? 0 : 1; });
	EXPECT_EQ(status, 0);
	state = 2;
	holder.join();
	EXPECT_EQ(zs_free(p, objs[3].h), 0);
}

// Another thread maps, reads and writes one object without pause while
// this one forks, again and again: the fork may catch it between its pin
// and its record, or inside zs_obj_write() (a pin with no record). In the
// child the object is free to free, and the pool checks clean. (Pin counts
// were once rebuilt from the vanished thread's records: the child's free
// then failed with -EBUSY, or spun for ever on a slot unpinned twice.)
void pins_end_in_child(zs_layout layout, zs_map_method method)
{
	Pool pool = make(layout, method);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs = fill(p, 8, 7);
	const Obj o = objs[5]; // straddles in the scattered layout
	std::atomic<bool> stop{ false };
	std::thread user([&] {
		std::vector<char> buf(o.size);
		for (unsigned i = 0; !stop.load(std::memory_order_relaxed); i++) {
			switch (i % 3) {
			case 0: {
				void *m = zs_map_object(p, o.h, ZS_MM_RW);
				void *n = zs_map_object(p, o.h, ZS_MM_RO); // nested
				if (n)
					zs_unmap_object(p, o.h);
				if (m)
					zs_unmap_object(p, o.h);
				break;
			}
			case 1: {
				const void *r = zs_obj_read_begin(p, o.h, o.size, buf.data());
				if (r) {
					memcpy(buf.data(), r, o.size);
					zs_obj_read_end(p, o.h, r);
				}
				break;
			}
			default:
				zs_obj_write(p, o.h, buf.data(), o.size);
			}
		}
	});
	int failed = 0, forks = 0;
	auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
	while (forks < 40 || (std::chrono::steady_clock::now() < end && forks < 400)) {
		forks++;
		int status = test_child::in_child(
			[&] {
				if (zs_free(p, o.h))
					return 1;
				return zs_check(p) == 0 ? 0 : 2;
			},
			10);
		failed += status != 0;
	}
	stop = true;
	user.join();
	EXPECT_EQ(failed, 0) << "of " << forks << " children";
	expect_clean_then_free(p, objs);
}

TEST(Fork, PinsOfAThreadCaughtMidCallEndInTheChild)
{
	pins_end_in_child(ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT);
}

TEST(Fork, PinsOfAThreadCaughtMidCallEndInTheChildScatteredCopy)
{
	pins_end_in_child(ZS_LAYOUT_SCATTERED, ZS_MAP_COPY);
}

TEST(Fork, RemapPoolIsRefusedInTheChild)
{
	Pool pool = make(ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs = fill(p, 500, 300);
	int status = test_child::in_child([&] {
		char buf[65536];
		struct zs_segment seg[ZS_MAX_SEGMENTS];
		errno = 0;
		if (zs_malloc(p, 100, 0) || errno != EPERM)
			return 1;
		if (zs_free(p, objs[0].h) != -EPERM)
			return 2;
		errno = 0;
		if (zs_map_object(p, objs[1].h, ZS_MM_RW) || errno != EPERM)
			return 3;
		errno = 0;
		if (zs_obj_read_begin(p, objs[1].h, 10, buf) || errno != EPERM)
			return 4;
		if (zs_obj_write(p, objs[1].h, buf, 10) != -EPERM)
			return 5;
		if (zs_obj_read_sg_begin(p, objs[1].h, 10, seg, ZS_MAX_SEGMENTS) != -EPERM)
			return 6;
		if (zs_compact(p) != 0 || zs_trim(p) != 0)
			return 7;
		zs_destroy_pool(p); // frees the child's records only
		return 0;
	});
	EXPECT_EQ(status, 0);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1) << "the child's destroy reached the parent";
	EXPECT_EQ(zs_check(p), 0u);
}

// A pool made in the child is the child's own, remap windows and all.
TEST(Fork, PoolsMadeInTheChildWork)
{
	int status = test_child::in_child([] {
		zs_pool *p = make(ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP).release();
		if (!p)
			return 1;
		std::vector<Obj> objs = fill(p, 200, 9);
		int bad = zs_test::first_bad(p, objs, 3) != -1;
		zs_destroy_pool(p);
		return bad;
	});
	EXPECT_EQ(status, 0);
}

} // namespace
