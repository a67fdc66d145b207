// Compaction: fill with mixed sizes, free a random 50-75 %, verify every
// object, compact, verify every object again through every path, and hold
// the result to what the header promises: handles keep working, emptied
// zspages are freed, the trailing pages of the last partly filled zspage go
// back, the cache of emptied zspages is drained, and the return value is
// the net pages freed, cache included. After a compaction with nothing
// pinned each class holds at most one partly filled zspage, packed from
// object 0, so its page count is the fewest its live objects fit in; and
// zs_class_stat.freeable said exactly how many pages that would free. Also:
// a second compaction frees nothing, compaction with nothing to do, a pool
// at its page limit, and mapped objects that compaction must leave where
// they are. Each in every layout, with automatic compaction (the default)
// and, where a test needs the layout as allocated, without.
#include <errno.h>
#include <stdint.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

const size_t kPage = zs_test::page_size();

// Every class is as compact as it can be: at most one partly filled
// zspage, packed from object 0. Returns a description of what is not.
std::string fully_compacted(zs_pool *p)
{
	std::string bad;
	for (const zs_class_stat &c : class_stats(p)) {
		if (zs_test::partial_zspages(c) > 1)
			bad += "class " + std::to_string(c.size) + ": " +
			       std::to_string(zs_test::partial_zspages(c)) + " partial zspages; ";
		if (c.pages_used != zs_test::min_pages(c, kPage))
			bad += "class " + std::to_string(c.size) + ": " +
			       std::to_string(c.pages_used) + " pages, " +
			       std::to_string(zs_test::min_pages(c, kPage)) + " would do; ";
		if (c.zspages[0])
			bad += "class " + std::to_string(c.size) + ": empty zspages kept; ";
	}
	return bad;
}

struct Config {
	unsigned chain;
	zs_map_method method;
	size_t objects;
	uint64_t seed;
	bool no_auto_compact;
};

void fill_free_compact(const Config &cfg)
{
	const uint64_t seed = zs_test::test_seed(cfg.seed);
	printf("compact seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	printf("chain %u method %d%s\n", cfg.chain, cfg.method,
	       cfg.no_auto_compact ? ", no automatic compaction" : "");
	std::mt19937_64 rng(seed);
	zs_config zc = zs_test::pool_config(cfg.chain, cfg.method);
	zc.no_auto_compact = cfg.no_auto_compact;
	Pool pool = make_pool(zc);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	for (size_t i = 0; i < cfg.objects; i++) {
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		ASSERT_NE(h, 0u) << strerror(errno);
		objs.push_back({ h, size, seed * 1000000 + i });
		ASSERT_TRUE(write_object(p, h, objs.back().seed, size, (int)(rng() % 3)));
	}
	ASSERT_EQ(zs_check(p), 0u);
	// Free a random 50-75 %.
	std::shuffle(objs.begin(), objs.end(), rng);
	size_t nfree = objs.size() / 2 + rng() % (objs.size() / 4 + 1);
	for (size_t i = 0; i < nfree; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
	}
	objs.erase(objs.begin(), objs.begin() + (long)nfree);
	ASSERT_EQ(zs_check(p), 0u);
	ASSERT_EQ(zs_test::first_bad(p, objs, (int)(rng() % 3)), -1) << "before compaction";

	// The cache first (zs_trim()): then freeable is exactly what
	// zs_compact() frees in a pool nobody touches.
	zs_stats st_cache = zs_test::pool_stats(p);
	size_t pages_cached = zs_get_total_pages(p);
	EXPECT_EQ(zs_trim(p), st_cache.pages_cached);
	EXPECT_EQ(zs_get_total_pages(p), pages_cached - st_cache.pages_cached);
	EXPECT_EQ(zs_test::pool_stats(p).pages_cached, 0u);
	auto before = class_stats(p);
	size_t pages_before = zs_get_total_pages(p);
	uint64_t freeable = 0, unpopulated = 0, minimal = 0;
	for (const zs_class_stat &c : before) {
		freeable += c.freeable;
		unpopulated += zs_test::total_zspages(c) * c.pages_per_zspage - c.pages_used;
		minimal += zs_test::min_pages(c, kPage);
	}
	zs_stats st0;
	zs_pool_stats(p, &st0);

	size_t freed = zs_compact(p);
	size_t pages_after = zs_get_total_pages(p);
	printf("%zu objects left of %zu; pages %zu -> %zu (%llu cached, trimmed; freed %zu; "
	       "freeable %llu, unpopulated %llu, minimum %llu)\n",
	       objs.size(), cfg.objects, pages_before, pages_after,
	       (unsigned long long)st_cache.pages_cached, freed, (unsigned long long)freeable,
	       (unsigned long long)unpopulated, (unsigned long long)minimal);
	ASSERT_EQ(zs_check(p), 0u);
	EXPECT_EQ(pages_after, pages_before - freed) << "the return value is the pages freed";
	EXPECT_GT(freed, 0u);
	EXPECT_EQ(freed, freeable) << "freeable is exact in a pool nobody touches";
	EXPECT_EQ(pages_after, minimal);
	EXPECT_EQ(fully_compacted(p), "");
	for (const zs_class_stat &c : class_stats(p)) {
		EXPECT_EQ(c.freeable, 0u) << "class " << c.size;
	}
	zs_stats st1;
	zs_pool_stats(p, &st1);
	EXPECT_EQ(st1.pages_compacted, st0.pages_compacted + freed);
	EXPECT_GT(st1.objects_moved, st0.objects_moved);
	EXPECT_EQ(st1.objects, objs.size());

	// Every object, through every path, and its handle still frees.
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1) << "after compaction";

	// Once more: nothing to do.
	zs_test::Snapshot s = zs_test::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "")
		<< "a second compaction changed things";
	EXPECT_EQ(zs_check(p), 0u);

	// Churn a little and compact again (the cache not trimmed first: the
	// return value counts it): still right.
	for (size_t i = 0; i < objs.size() / 3; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		ASSERT_NE(h, 0u);
		objs[i] = { h, size, seed * 1000000 + cfg.objects + i };
		ASSERT_TRUE(write_object(p, h, objs[i].seed, size, (int)(i % 3)));
	}
	pages_before = zs_get_total_pages(p);
	freed = zs_compact(p);
	EXPECT_EQ(zs_get_total_pages(p), pages_before - freed);
	EXPECT_EQ(zs_test::pool_stats(p).pages_cached, 0u) << "zs_compact() drains the cache";
	ASSERT_EQ(zs_check(p), 0u);
	EXPECT_EQ(fully_compacted(p), "");
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1) << "after the second compaction";

	for (const Obj &o : objs) {
		ASSERT_EQ(zs_free(p, o.h), 0);
	}
	EXPECT_EQ(zs_test::emptied(p), "");
	EXPECT_EQ(zs_check(p), 0u);
}

TEST(Compact, FillFreeCompactDefault)
{
	fill_free_compact({ 0, ZS_MAP_DEFAULT, 30000, 1, false });
	fill_free_compact({ 0, ZS_MAP_DEFAULT, 30000, 1, true });
}

TEST(Compact, FillFreeCompactCopy)
{
	fill_free_compact({ 0, ZS_MAP_COPY, 30000, 1, false });
	fill_free_compact({ 0, ZS_MAP_COPY, 30000, 1, true });
}

TEST(Compact, FillFreeCompactChain4Remap)
{
	fill_free_compact({ 4, ZS_MAP_REMAP, 20000, 2, false });
	fill_free_compact({ 4, ZS_MAP_REMAP, 20000, 2, true });
}

TEST(Compact, FillFreeCompactChain1)
{
	fill_free_compact({ 1, ZS_MAP_COPY, 10000, 3, false });
	fill_free_compact({ 1, ZS_MAP_DEFAULT, 10000, 3, true });
}

TEST(Compact, FillFreeCompactManySeeds)
{
	const zs_map_method methods[] = { ZS_MAP_DEFAULT, ZS_MAP_COPY, ZS_MAP_REMAP };
	for (uint64_t seed = 10; seed < 22; seed++) {
		fill_free_compact(
			{ (unsigned)(seed % 17), methods[seed % 3], 3000, seed, seed % 2 == 0 });
		if (HasFatalFailure())
			return;
	}
}

TEST(Compact, NothingToDo)
{
	Pool pool = make_pool();
	zs_pool *p = pool.get();
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zs_check(p), 0u);
	// Full zspages only, in two classes.
	auto cs = class_stats(p);
	std::vector<Obj> objs;
	for (size_t size : { (size_t)1008, (size_t)3264 }) {
		const zs_class_stat &c = cs[(size_t)zs_test::class_for(cs, size)];
		for (uint64_t i = 0; i < 2 * c.objs_per_zspage; i++) {
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			objs.push_back({ h, size, i + size });
			ASSERT_TRUE(write_object(p, h, i + size, size, 0));
		}
	}
	zs_test::Snapshot s = zs_test::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "");
	// Plus one partly filled zspage, packed from 0: still nothing.
	for (int i = 0; i < 7; i++) {
		zs_handle h = zs_malloc(p, 1008, 0);
		ASSERT_NE(h, 0u);
		objs.push_back({ h, 1008, 7000u + (uint64_t)i });
		ASSERT_TRUE(write_object(p, h, 7000u + (uint64_t)i, 1008, 1));
	}
	s = zs_test::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "");
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
}

// One class, one partly filled zspage with holes at its low indices: the
// objects move down and the trailing pages go back. Without automatic
// compaction (the pages before zs_compact() are those the allocations
// took), and with it (the same end).
TEST(Compact, TrailingPagesOfASingleZspage)
{
	struct Case {
		size_t size, alloc, free_below;
	} cases[] = {
		{ 1008, 30, 20 }, // 10 objects at 20..29: 8 pages -> 3
		{ 1008, 65, 60 }, // a full zspage, 5 left at the top: 16 -> 2
		{ 1392, 40, 39 }, // one at the top: 14 -> 1
		{ 208, 250, 100 }, { 3264, 19, 10 },
	};
	for (Case c : cases) {
		c.size = zs_test::class_size(c.size);
		for (const zs_test::Access &a : zs_test::accesses())
			for (int no_auto : { 1, 0 }) {
				SCOPED_TRACE("size " + std::to_string(c.size) + " alloc " +
					     std::to_string(c.alloc) + " " + a.name +
					     (no_auto ? ", no automatic compaction" : ""));
				zs_config zc = zs_test::pool_config(0, a.method);
				zc.no_auto_compact = no_auto;
				Pool pool = make_pool(zc);
				zs_pool *p = pool.get();
				std::vector<Obj> objs;
				for (size_t i = 0; i < c.alloc; i++) {
					zs_handle h = zs_malloc(p, c.size, 0);
					ASSERT_NE(h, 0u);
					objs.push_back({ h, c.size, 100 + i });
					ASSERT_TRUE(
						write_object(p, h, 100 + i, c.size, (int)(i % 3)));
				}
				auto cs = class_stats(p);
				const zs_class_stat cl = cs[(size_t)zs_test::class_for(cs, c.size)];
				ASSERT_EQ(cl.size, c.size);
				ASSERT_LE(c.alloc, cl.objs_per_zspage) << "one zspage";
				ASSERT_EQ(zs_get_total_pages(p),
					  zs_test::pages_for(c.alloc - 1, c.size, kPage));
				for (size_t i = 0; i < c.free_below; i++) {
					ASSERT_EQ(zs_free(p, objs[i].h), 0);
				}
				objs.erase(objs.begin(), objs.begin() + (long)c.free_below);
				size_t before = zs_get_total_pages(p);
				if (no_auto) {
					ASSERT_EQ(before,
						  zs_test::pages_for(c.alloc - 1, c.size, kPage))
						<< "free keeps the pages of a zspage still in use";
				}
				size_t left = c.alloc - c.free_below;
				size_t want = zs_test::pages_for(left - 1, c.size, kPage);
				size_t freed = zs_compact(p);
				EXPECT_EQ(freed, before - want);
				EXPECT_EQ(zs_get_total_pages(p), want);
				EXPECT_EQ(zs_check(p), 0u);
				EXPECT_EQ(fully_compacted(p), "");
				EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
				EXPECT_EQ(zs_compact(p), 0u);
				// The moved objects' handles free, and the pool empties.
				for (const Obj &o : objs) {
					ASSERT_EQ(zs_free(p, o.h), 0);
				}
				EXPECT_EQ(zs_test::emptied(p), "");
			}
	}
}

// Rounds of churn, each ended by a compaction and a full verification.
void rounds_of_churn(zs_map_method method)
{
	const uint64_t seed = zs_test::test_seed(99);
	printf("churn seed %llu (replay: ZS_TEST_SEED=%llu), method %d\n", (unsigned long long)seed,
	       (unsigned long long)seed, method);
	std::mt19937_64 rng(seed);
	Pool pool = make_pool(8, method);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	uint64_t next = 1;
	for (int round = 0; round < 20; round++) {
		size_t target = 1000 + rng() % 4000;
		while (objs.size() < target) {
			size_t size = compressed_size(rng);
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			objs.push_back({ h, size, next++ });
			ASSERT_TRUE(write_object(p, h, objs.back().seed, size, (int)(next % 3)));
		}
		std::shuffle(objs.begin(), objs.end(), rng);
		size_t n = objs.size() * (20 + rng() % 60) / 100;
		for (size_t i = 0; i < n; i++) {
			ASSERT_EQ(zs_free(p, objs[i].h), 0);
		}
		objs.erase(objs.begin(), objs.begin() + (long)n);
		size_t before = zs_get_total_pages(p);
		size_t freed = zs_compact(p);
		ASSERT_EQ(zs_get_total_pages(p), before - freed) << "round " << round;
		ASSERT_EQ(zs_check(p), 0u) << "round " << round;
		ASSERT_EQ(zs_test::pool_stats(p).pages_cached, 0u) << "round " << round;
		ASSERT_EQ(fully_compacted(p), "") << "round " << round;
		ASSERT_EQ(zs_test::first_bad(p, objs, round % 3), -1) << "round " << round;
	}
}

TEST(Compact, RoundsOfChurn)
{
	rounds_of_churn(ZS_MAP_DEFAULT);
}

TEST(Compact, RoundsOfChurnCopy)
{
	rounds_of_churn(ZS_MAP_COPY);
}

// A pool at its page limit, where compaction matters most: it must still
// get down to the fewest pages (zspages are populated lazily, so moving
// objects may need a destination page before a source gives any back).
// (Cached pages count against the limit, as the header says.)
void at_the_page_limit(bool full_again, zs_map_method method)
{
	const uint64_t seed = zs_test::test_seed(123);
	printf("limit seed %llu (replay: ZS_TEST_SEED=%llu), method %d\n", (unsigned long long)seed,
	       (unsigned long long)seed, method);
	std::mt19937_64 rng(seed);
	const uint64_t limit = 2000;
	Pool pool = make_pool(0, method, limit);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	uint64_t next = 1;
	int failures = 0;
	while (failures < 200) {
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		if (!h) {
			ASSERT_EQ(errno, ENOMEM);
			failures++;
			continue;
		}
		objs.push_back({ h, size, next++ });
		ASSERT_TRUE(write_object(p, h, objs.back().seed, size, 0));
	}
	ASSERT_EQ(zs_get_total_pages(p), limit);
	std::shuffle(objs.begin(), objs.end(), rng);
	size_t n = objs.size() / 2;
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
	}
	objs.erase(objs.begin(), objs.begin() + (long)n);
	if (full_again) {
		// Back to the limit with page-sized objects: no page to spare.
		for (;;) {
			zs_handle h = zs_malloc(p, kPage, 0);
			if (!h)
				break;
			objs.push_back({ h, kPage, next++ });
			ASSERT_TRUE(write_object(p, h, objs.back().seed, kPage, 0));
		}
		ASSERT_EQ(zs_get_total_pages(p), limit);
	}
	uint64_t minimal = 0;
	for (const zs_class_stat &c : class_stats(p))
		minimal += zs_test::min_pages(c, kPage);
	size_t before = zs_get_total_pages(p);
	size_t freed = zs_compact(p);
	printf("at the limit: %zu pages, first compaction freed %zu, minimum %llu\n", before, freed,
	       (unsigned long long)minimal);
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
	// Repeated compactions converge.
	for (int i = 0; i < 20 && zs_get_total_pages(p) > minimal; i++)
		zs_compact(p);
	EXPECT_EQ(zs_get_total_pages(p), minimal);
	EXPECT_EQ(fully_compacted(p), "");
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
}

TEST(Compact, AtThePageLimit)
{
	at_the_page_limit(false, ZS_MAP_COPY);
	at_the_page_limit(false, ZS_MAP_DEFAULT);
}

// The same with no page to spare when compaction starts.
TEST(Compact, AtThePageLimitNoPageToSpare)
{
	at_the_page_limit(true, ZS_MAP_COPY);
	at_the_page_limit(true, ZS_MAP_DEFAULT);
}

// Mapped objects stay where they are through compaction, whatever
// compaction does around them (the old design renumbered zspage records
// around pins; the risk a caller sees is the same: a mapping that shows
// other bytes, a write through it that lands elsewhere, or a pinned zspage
// freed). Twenty zspages of class 1008; Z18 and Z19 hold mapped objects A
// (in a page) and B (straddling), both RW; the rest is freed but for three
// objects of Z0 and ten each of Z18 and Z19. Compact: both pinned zspages
// stay, A and B do not move (a nested map returns the same pointer), and
// every object reads back. Unpin A (with new bytes), compact: A may move
// now, B may not; one zspage (B's, if it was the fuller) or two (B's and
// the other, packed). Pins hold objects, not zspages: objects may move into
// B's zspage, around B. Unpin B (with new bytes, written back at unmap in
// copy mode), compact: one zspage, packed. Every layout, with and without
// automatic compaction (which also runs while the frees go on).
TEST(Compact, AroundPins)
{
	for (const zs_test::Access &acc : zs_test::accesses())
		for (int no_auto : { 1, 0 }) {
			SCOPED_TRACE(std::string(acc.name) +
				     (no_auto ? ", no automatic compaction" : ""));
			const size_t sz = 1008, opz = 65;
			zs_config zc = zs_test::pool_config(0, acc.method);
			zc.no_auto_compact = no_auto;
			Pool pool = make_pool(zc);
			zs_pool *p = pool.get();
			auto cs = class_stats(p);
			ASSERT_EQ(cs[(size_t)zs_test::class_for(cs, sz)].objs_per_zspage, opz);
			std::vector<Obj> all;
			for (size_t i = 0; i < 20 * opz; i++) {
				zs_handle h = zs_malloc(p, sz, 0);
				ASSERT_NE(h, 0u);
				all.push_back({ h, sz, i + 1 });
				ASSERT_TRUE(write_object(p, h, i + 1, sz, (int)(i % 3)));
			}
			Obj A = all[18 * opz + 10], B = all[19 * opz + 4];
			ASSERT_FALSE(zs_test::straddles(10, sz, kPage));
			ASSERT_TRUE(zs_test::straddles(4, sz, kPage));
			uint8_t *a = (uint8_t *)zs_map_object(p, A.h, ZS_MM_RW);
			uint8_t *b = (uint8_t *)zs_map_object(p, B.h, ZS_MM_RW);
			ASSERT_TRUE(a && b);
			std::vector<Obj> live;
			for (size_t z = 0; z < 20; z++)
				for (size_t i = 0; i < opz; i++) {
					const Obj &o = all[z * opz + i];
					bool keep = (z == 0 && i < 3) ||
						    (z == 18 && i >= 20 && i < 30) ||
						    (z == 19 && i >= 30 && i < 40);
					if (o.h == A.h || o.h == B.h)
						continue;
					if (keep)
						live.push_back(o);
					else {
						ASSERT_EQ(zs_free(p, o.h), 0);
					}
				}
			auto cls = [&] {
				auto v = class_stats(p);
				return v[(size_t)zs_test::class_for(v, sz)];
			};
			auto zspages = [&] { return zs_test::total_zspages(cls()); };
			// Where a nested map of @o shows it: where its mapping does,
			// if it did not move (one view per object and thread).
			auto still_at = [&](const Obj &o, const uint8_t *m) {
				void *again = zs_map_object(p, o.h, ZS_MM_RO);
				zs_unmap_object(p, o.h);
				return again == m;
			};
			if (no_auto) {
				EXPECT_EQ(zspages(), 3u);
			}
			zs_compact(p);
			ASSERT_EQ(zs_check(p), 0u);
			EXPECT_EQ(zspages(), 2u) << "both pinned zspages stay, Z0's objects moved";
			EXPECT_TRUE(test_content::same(a, sz, A.seed));
			EXPECT_TRUE(test_content::same(b, sz, B.seed));
			EXPECT_TRUE(still_at(A, a)) << "a mapped object moved";
			EXPECT_TRUE(still_at(B, b)) << "a mapped object moved";
			EXPECT_EQ(zs_test::first_bad(p, live, 0), -1);
			// Unpin A (with new bytes); it may move now.
			A.seed = 555;
			memcpy(a, test_content::bytes(A.seed, sz).data(), sz);
			zs_unmap_object(p, A.h);
			live.push_back(A);
			zs_compact(p);
			ASSERT_EQ(zs_check(p), 0u);
			EXPECT_GE(zspages(), 1u);
			EXPECT_LE(zspages(), 2u) << "B's zspage and at most one more";
			EXPECT_LE(zs_test::partial_zspages(cls()), 2u);
			EXPECT_TRUE(test_content::same(b, sz, B.seed)) << "pinned B was touched";
			EXPECT_TRUE(still_at(B, b)) << "a mapped object moved";
			EXPECT_EQ(zs_test::first_bad(p, live, 3), -1);
			// Unpin B (with new bytes, written back at unmap in copy mode).
			B.seed = 777;
			memcpy(b, test_content::bytes(B.seed, sz).data(), sz);
			zs_unmap_object(p, B.h);
			live.push_back(B);
			EXPECT_EQ(zs_test::first_bad(p, live, 3), -1);
			zs_compact(p);
			ASSERT_EQ(zs_check(p), 0u);
			EXPECT_EQ(zspages(), 1u);
			EXPECT_EQ(zs_get_total_pages(p),
				  zs_test::pages_for(live.size() - 1, sz, kPage));
			EXPECT_EQ(fully_compacted(p), "");
			EXPECT_EQ(zs_test::first_bad(p, live, 3), -1);
			// New zspages after all that work as before.
			for (size_t i = 0; i < 3 * opz; i++) {
				zs_handle h = zs_malloc(p, sz, 0);
				ASSERT_NE(h, 0u);
				live.push_back({ h, sz, 9000 + i });
				ASSERT_TRUE(write_object(p, h, 9000 + i, sz, (int)(i % 3)));
			}
			ASSERT_EQ(zs_check(p), 0u);
			EXPECT_EQ(zs_test::first_bad(p, live, 3), -1);
			for (const Obj &o : live) {
				ASSERT_EQ(zs_free(p, o.h), 0);
			}
			EXPECT_EQ(zs_test::emptied(p), "");
		}
}

} // namespace
