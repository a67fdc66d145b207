// compact_hooks_test.cc - zs_compact() against what may happen between two
// of its rounds, each case held at its worst point by the test hooks of
// zsmalloc/internal.h (this test links //zsmalloc:zsmalloc_test_hooks,
// whose ZS_ASSERTs are on):
//
//   1. a zs_compact() has read the shard copies of a class; a thread of
//      another shard then makes that shard's copy, and a second
//      zs_compact() begins a plan over both copies. The first must not step
//      that plan holding only the locks of the copies it read (it once did:
//      objects moved into the new copy's zspages while that copy's threads
//      allocated there).
//   2. a destination zspage of a plan under way empties between two steps
//      and goes back to the OS, the span shrinking past it, so that its
//      extent record reads as zeros (class 0's). The plan must not move
//      objects there (it once did, corrupting class 0's lists).
#include <semaphore.h>

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/content.h"
#include "zsmalloc/zsmalloc.h"

extern "C" {
extern void (*zs_test_hook_compact_round)(uint32_t c);
}

namespace
{

// The number of the class that holds @size, or UINT32_MAX.
uint32_t class_of(zs_pool *p, size_t size)
{
	std::vector<zs_class_stat> cs((size_t)zs_class_stats(p, nullptr, 0));
	zs_class_stats(p, cs.data(), cs.size());
	for (const zs_class_stat &c : cs)
		if (c.merged_from <= size && size <= c.size)
			return c.index;
	return UINT32_MAX;
}

// Each object holds the first 8 bytes of its seed's content.
constexpr size_t kHeld = 8;

// Objects of @size, every other one freed: zs_compact() has work. Object i
// holds seed @first_seed + i.
std::vector<zs_handle> fragment(zs_pool *p, size_t size, size_t n, uint64_t first_seed)
{
	std::vector<zs_handle> hs;
	for (size_t i = 0; i < n; i++) {
		zs_handle h = zs_malloc(p, size, 0);
		if (!h)
			return {};
		zs_obj_write(p, h, test_content::bytes(first_seed + i, kHeld).data(), kHeld);
		hs.push_back(h);
	}
	for (size_t i = 0; i < n; i += 2) {
		zs_free(p, hs[i]);
		hs[i] = 0;
	}
	return hs;
}

// How many of the live handles in @hs do not hold their seed's bytes.
size_t wrong(zs_pool *p, const std::vector<zs_handle> &hs, uint64_t first_seed)
{
	size_t bad = 0;
	for (size_t i = 0; i < hs.size(); i++) {
		if (!hs[i])
			continue;
		uint8_t buf[kHeld];
		const void *m = zs_obj_read_begin(p, hs[i], kHeld, buf);
		if (!m) {
			bad++;
			continue;
		}
		bad += !test_content::same(m, kHeld, first_seed + i);
		zs_obj_read_end(p, hs[i], m);
	}
	return bad;
}

sem_t a_reached, a_go, c_reached, c_go;
uint32_t target_class;
std::thread::id thread_a, thread_c;
int rounds_a, rounds_c;

void hold_a_then_c(uint32_t c)
{
	if (c != target_class)
		return;
	if (std::this_thread::get_id() == thread_a && ++rounds_a == 1) {
		sem_post(&a_reached);
		sem_wait(&a_go);
	}
	if (std::this_thread::get_id() == thread_c && ++rounds_c == 2) {
		sem_post(&c_reached); // its plan is made, its classes unlocked
		sem_wait(&c_go);
	}
}

TEST(CompactHooks, AStepTakesEveryLockOfThePlanEvenOfACopyMadeSinceItsRead)
{
	sem_init(&a_reached, 0, 0);
	sem_init(&a_go, 0, 0);
	sem_init(&c_reached, 0, 0);
	sem_init(&c_go, 0, 0);
	zs_config cfg = {};
	cfg.shards = 2;
	cfg.no_auto_compact = 1;
	zs_pool *p = zs_create_pool_config(&cfg);
	ASSERT_NE(p, nullptr);
	const size_t size = 1000;
	target_class = class_of(p, size);
	ASSERT_NE(target_class, UINT32_MAX);
	// This thread's shard: plenty for the plan to move, over many steps.
	std::vector<zs_handle> mine = fragment(p, size, 4000, 0);
	ASSERT_FALSE(mine.empty());
	rounds_a = rounds_c = 0;
	zs_test_hook_compact_round = hold_a_then_c;
	std::thread a([&] {
		thread_a = std::this_thread::get_id();
		sem_post(&a_reached); // thread_a is set
		zs_compact(p);
	});
	sem_wait(&a_reached);
	sem_wait(&a_reached); // A read the class's copies: only this shard's
	// A thread of the other shard makes that shard's copy of the class.
	std::vector<zs_handle> theirs;
	std::thread b([&] { theirs = fragment(p, size, 400, 100000); });
	b.join();
	ASSERT_FALSE(theirs.empty());
	// C plans over both copies and stops between its rounds.
	std::thread c([&] {
		thread_c = std::this_thread::get_id();
		sem_post(&c_reached);
		zs_compact(p);
	});
	sem_wait(&c_reached);
	sem_wait(&c_reached);
	sem_post(&a_go); // A goes on: it finds C's plan
	a.join();
	sem_post(&c_go);
	c.join();
	zs_test_hook_compact_round = nullptr;
	zs_stats st;
	zs_pool_stats(p, &st);
	EXPECT_GT(st.objects_moved, 0u) << "nothing moved: the case was not made";
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(wrong(p, mine, 0), 0u);
	EXPECT_EQ(wrong(p, theirs, 100000), 0u);
	zs_destroy_pool(p);
	sem_destroy(&a_reached);
	sem_destroy(&a_go);
	sem_destroy(&c_reached);
	sem_destroy(&c_go);
}

// Case 2: after the first round that moved an object, free every object of
// the destinations (the fullest zspages, made last, at the span's top).
zs_pool *pool2;
std::vector<zs_handle> *dests;
bool freed_dests;

void free_destinations(uint32_t c)
{
	if (c != target_class || freed_dests)
		return;
	zs_stats st;
	zs_pool_stats(pool2, &st);
	if (!st.objects_moved)
		return;
	freed_dests = true;
	for (zs_handle &h : *dests) {
		if (h) {
			EXPECT_EQ(zs_free(pool2, h), 0);
		}
		h = 0;
	}
}

TEST(CompactHooks, ADestinationGoneBetweenStepsIsNotUsed)
{
	zs_config cfg = {};
	cfg.shards = 1;
	cfg.no_auto_compact = 1;
	cfg.cache_pages = UINT32_MAX; // an emptied zspage goes back at once
	zs_pool *p = zs_create_pool_config(&cfg);
	ASSERT_NE(p, nullptr);
	// Class 0, whose number a zeroed extent record carries.
	std::vector<zs_class_stat> cs((size_t)zs_class_stats(p, nullptr, 0));
	zs_class_stats(p, cs.data(), cs.size());
	const size_t size = cs[0].size;
	const uint32_t opz = cs[0].objs_per_zspage;
	target_class = 0;
	ASSERT_GE(opz, 12u);
	// 200 zspages: 128 sources keep 10 objects each, the last 72 (the
	// destinations) all but one.
	std::vector<zs_handle> all, sources, destinations;
	for (uint32_t i = 0; i < 200 * opz; i++) {
		zs_handle h = zs_malloc(p, size, 0);
		ASSERT_NE(h, 0u);
		ASSERT_EQ(zs_obj_write(p, h, test_content::bytes(i, kHeld).data(), kHeld), 0);
		all.push_back(h);
	}
	for (uint32_t i = 0; i < 200 * opz; i++) {
		uint32_t z = i / opz, k = i % opz;
		zs_handle h = all[i];
		if (!(z < 128 ? k < 10 : k < opz - 1)) {
			ASSERT_EQ(zs_free(p, h), 0);
			h = 0;
		}
		(z < 128 ? sources : destinations).push_back(h);
	}
	ASSERT_EQ(zs_check(p), 0u);
	pool2 = p;
	dests = &destinations;
	freed_dests = false;
	zs_test_hook_compact_round = free_destinations;
	zs_compact(p);
	zs_test_hook_compact_round = nullptr;
	EXPECT_TRUE(freed_dests) << "no step moved an object: the case was not made";
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(wrong(p, sources, 0), 0u);
	// Again, with nothing held: the pool compacts and empties as usual.
	zs_compact(p);
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(wrong(p, sources, 0), 0u);
	for (zs_handle h : sources) {
		if (h) {
			EXPECT_EQ(zs_free(p, h), 0);
		}
	}
	EXPECT_EQ(zs_check(p), 0u);
	zs_destroy_pool(p);
}

} // namespace
