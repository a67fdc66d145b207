// API tests of zsmalloc/zsmalloc.h: pool creation and its errors, zs_malloc's
// errors, every object size from 1 to the page size and sizes from there to
// ZS_MAX_OBJECT_SIZE (class choice, contents through every access path, in
// every layout), the class table, zs_huge_class_size(), the statistics and
// zs_dump_classes(), ZS_NOGROW and the page limit. A pool keeps the pages
// of emptied zspages in its cache: "empty" below means every page it holds
// is a cached one, and none after zs_trim() (zs_test::emptied()).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

const size_t kPage = zs_test::page_size();
const size_t kDelta = zs_test::class_delta();
// The largest object (the header: 64 KiB, or the page size if larger).
const size_t kMaxObj = kPage > ZS_MAX_OBJECT_SIZE ? kPage : ZS_MAX_OBJECT_SIZE;
// The longest zspage of objects above a page (the header: 128 pages).
const unsigned kLargeChain = 128;
// The most objects a zspage holds (the design: its bitmap is 5 words).
const unsigned kMaxObjsPerZspage = 320;

// Sizes above a page, every @step-th from a page + 1, and the largest.
std::vector<size_t> large_sizes(size_t step)
{
	std::vector<size_t> v;
	for (size_t size = kPage + 1; size < kMaxObj; size += step)
		v.push_back(size);
	v.push_back(kMaxObj);
	return v;
}

// Every size from 1 to a page, then large_sizes(@step).
std::vector<size_t> every_size(size_t step)
{
	std::vector<size_t> v;
	for (size_t size = 1; size <= kPage; size++)
		v.push_back(size);
	for (size_t size : large_sizes(step))
		v.push_back(size);
	return v;
}

// ---- Creation -------------------------------------------------------------

TEST(Create, Defaults)
{
	zs_pool *a = zs_create_pool("a");
	ASSERT_NE(a, nullptr);
	zs_pool *b = zs_create_pool(nullptr);
	ASSERT_NE(b, nullptr);
	zs_pool *c = zs_create_pool_config(nullptr);
	ASSERT_NE(c, nullptr);
	zs_config zero = {};
	zs_pool *d = zs_create_pool_config(&zero);
	ASSERT_NE(d, nullptr);
	for (zs_pool *p : { a, b, c, d }) {
		EXPECT_EQ(zs_get_total_pages(p), 0u);
		EXPECT_EQ(zs_check(p), 0u);
		zs_stats st;
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.objects, 0u);
		EXPECT_EQ(st.pages_used, 0u);
		EXPECT_EQ(st.pages_compacted, 0u);
		EXPECT_EQ(st.objects_moved, 0u);
		EXPECT_EQ(st.pages_cached, 0u);
		EXPECT_EQ(st.auto_compactions, 0u);
		EXPECT_GT(zs_huge_class_size(p), kPage / 2);
		EXPECT_LE(zs_huge_class_size(p), kPage);
		EXPECT_GT(zs_class_stats(p, nullptr, 0), 0);
		EXPECT_EQ(zs_compact(p), 0u);
	}
	// The defaults are one configuration: same class table everywhere.
	auto ca = class_stats(a), cc = class_stats(c), cd = class_stats(d);
	ASSERT_EQ(ca.size(), cc.size());
	ASSERT_EQ(ca.size(), cd.size());
	for (size_t i = 0; i < ca.size(); i++) {
		EXPECT_EQ(ca[i].size, cc[i].size);
		EXPECT_EQ(ca[i].pages_per_zspage, cd[i].pages_per_zspage);
	}
	// A default pool is a 16-page-chain pool (the header: 0 means 16).
	Pool p16 = make_pool(16);
	auto c16 = class_stats(p16.get());
	ASSERT_EQ(ca.size(), c16.size());
	for (size_t i = 0; i < ca.size(); i++) {
		EXPECT_EQ(ca[i].pages_per_zspage, c16[i].pages_per_zspage);
	}
	zs_destroy_pool(a);
	zs_destroy_pool(b);
	zs_destroy_pool(c);
	zs_destroy_pool(d);
	zs_destroy_pool(nullptr); // ignored
}

zs_pool *create_with(unsigned chain, int method, uint64_t max_pages, int layout = 0)
{
	zs_config cfg = {};
	cfg.max_pages_per_zspage = chain;
	cfg.layout = (zs_layout)layout;
	cfg.map_method = (zs_map_method)method;
	cfg.max_pages = max_pages;
	errno = 0;
	return zs_create_pool_config(&cfg);
}

TEST(Create, ConfigErrors)
{
	for (unsigned chain : { 17u, 18u, 32u, 255u, 256u, 1000u, ~0u }) {
		EXPECT_EQ(create_with(chain, 0, 0), nullptr) << "chain " << chain;
		EXPECT_EQ(errno, EINVAL) << "chain " << chain;
	}
	for (int method : { 3, 4, 100, -1 }) {
		EXPECT_EQ(create_with(0, method, 0), nullptr) << "method " << method;
		EXPECT_EQ(errno, EINVAL) << "method " << method;
	}
	for (int layout : { 3, 4, 100, -1 }) {
		EXPECT_EQ(create_with(0, 0, 0, layout), nullptr) << "layout " << layout;
		EXPECT_EQ(errno, EINVAL) << "layout " << layout;
	}
	// A map method says how straddlers of the scattered layout are shown:
	// with the contiguous layout asked for explicitly, it is an error.
	for (int method : { ZS_MAP_COPY, ZS_MAP_REMAP }) {
		EXPECT_EQ(create_with(0, method, 0, ZS_LAYOUT_CONTIGUOUS), nullptr)
			<< "method " << method;
		EXPECT_EQ(errno, EINVAL) << "method " << method;
	}
	for (uint64_t mp : { (uint64_t)UINT32_MAX + 1, (uint64_t)1 << 40, ~(uint64_t)0 }) {
		EXPECT_EQ(create_with(0, 0, mp), nullptr) << "max_pages " << mp;
		EXPECT_EQ(errno, EINVAL) << "max_pages " << mp;
	}
	// The largest legal limit is not a configuration error (it may still
	// fail for want of address space, with another errno).
	zs_pool *p = create_with(0, 0, UINT32_MAX);
	if (p)
		zs_destroy_pool(p);
	else {
		EXPECT_NE(errno, EINVAL) << "max_pages UINT32_MAX is legal";
	}
}

// Every chain length with every layout and map method: the explicit
// layouts, and a map method alone (which selects the scattered layout).
TEST(Create, EveryChainLengthAndMethod)
{
	const int configs[][2] = {
		{ ZS_LAYOUT_DEFAULT, ZS_MAP_DEFAULT },   { ZS_LAYOUT_DEFAULT, ZS_MAP_COPY },
		{ ZS_LAYOUT_DEFAULT, ZS_MAP_REMAP },     { ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT },
		{ ZS_LAYOUT_SCATTERED, ZS_MAP_DEFAULT }, { ZS_LAYOUT_SCATTERED, ZS_MAP_COPY },
		{ ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP },
	};
	for (unsigned chain = 1; chain <= ZS_MAX_PAGES_PER_ZSPAGE; chain++)
		for (const auto &lm : configs) {
			SCOPED_TRACE("chain " + std::to_string(chain) + " layout " +
				     std::to_string(lm[0]) + " method " + std::to_string(lm[1]));
			zs_pool *p = create_with(chain, lm[1], 0, lm[0]);
			ASSERT_NE(p, nullptr);
			for (const zs_class_stat &c : class_stats(p)) {
				EXPECT_GE(c.pages_per_zspage, 1u);
				// The chain bounds the classes up to a page; larger
				// objects take the chains their sizes need.
				EXPECT_LE(c.pages_per_zspage, c.size <= kPage ? chain : kLargeChain)
					<< "class " << c.size;
			}
			// One object of each of a few sizes works in every pool.
			for (size_t size : { (size_t)1, (size_t)1000, kPage - 1, kPage, kPage + 1,
					     3 * kPage + 100, kMaxObj }) {
				zs_handle h = zs_malloc(p, size, 0);
				ASSERT_NE(h, 0u) << "size " << size;
				ASSERT_TRUE(write_object(p, h, size, size, 0));
				ASSERT_TRUE(check_object_all(p, h, size, size)) << "size " << size;
				ASSERT_EQ(zs_free(p, h), 0);
			}
			EXPECT_EQ(zs_test::emptied(p), "");
			EXPECT_EQ(zs_check(p), 0u);
			zs_destroy_pool(p);
		}
}

// ---- zs_malloc errors -------------------------------------------------------

TEST(Malloc, Errors)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	zs_handle keep = zs_malloc(p, 100, 0);
	ASSERT_NE(keep, 0u);
	ASSERT_TRUE(write_object(p, keep, 7, 100, 0));
	zs_test::Snapshot before = zs_test::snapshot(p);

	struct Case {
		zs_pool *pool;
		size_t size;
		int flags;
		int err;
	} cases[] = {
		{ p, 0, 0, EINVAL },
		{ p, 0, ZS_NOGROW, EINVAL },
		{ p, kMaxObj + 1, 0, ENOSPC },
		{ p, kMaxObj + 1, ZS_NOGROW, ENOSPC },
		{ p, kMaxObj + 16, 0, ENOSPC },
		{ p, 2 * kMaxObj, 0, ENOSPC },
		{ p, SIZE_MAX, 0, ENOSPC },
		{ p, (size_t)UINT32_MAX + 100, 0, ENOSPC },
		{ p, 100, 0x2, EINVAL },
		{ p, 100, 0x80, EINVAL },
		{ p, 100, ZS_NOGROW | 0x4, EINVAL },
		{ p, 100, -1, EINVAL },
		{ p, 100, INT32_MIN, EINVAL },
		{ nullptr, 100, 0, EINVAL },
		{ nullptr, 0, 0, EINVAL },
	};
	for (const Case &c : cases) {
		errno = 0;
		EXPECT_EQ(zs_malloc(c.pool, c.size, c.flags), 0u)
			<< "size " << c.size << " flags " << c.flags;
		EXPECT_EQ(errno, c.err) << "size " << c.size << " flags " << c.flags;
		ASSERT_EQ(zs_check(p), 0u);
	}
	EXPECT_EQ(zs_test::diff(before, zs_test::snapshot(p)), "");
	EXPECT_TRUE(check_object_all(p, keep, 7, 100));
	// The extremes that are legal.
	zs_handle one = zs_malloc(p, 1, 0), page = zs_malloc(p, kPage, 0);
	zs_handle above = zs_malloc(p, kPage + 1, 0), max = zs_malloc(p, kMaxObj, 0);
	ASSERT_NE(one, 0u);
	ASSERT_NE(page, 0u);
	ASSERT_NE(above, 0u);
	ASSERT_NE(max, 0u);
	ASSERT_TRUE(write_object(p, max, 8, kMaxObj, 2));
	EXPECT_TRUE(check_object_all(p, max, 8, kMaxObj));
	EXPECT_EQ(zs_free(p, one), 0);
	EXPECT_EQ(zs_free(p, page), 0);
	EXPECT_EQ(zs_free(p, above), 0);
	EXPECT_EQ(zs_free(p, max), 0);
	EXPECT_EQ(zs_free(p, keep), 0);
	EXPECT_EQ(zs_test::emptied(p), "");
}

// Every call takes a NULL pool (or other NULL argument) without crashing.
TEST(Api, NullArguments)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_handle h = zs_malloc(pool.get(), 64, 0);
	ASSERT_NE(h, 0u);
	char buf[64] = {};

	EXPECT_EQ(zs_free(nullptr, h), -EINVAL);
	errno = 0;
	EXPECT_EQ(zs_map_object(nullptr, h, ZS_MM_RO), nullptr);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	zs_unmap_object(nullptr, h);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	EXPECT_EQ(zs_obj_read_begin(nullptr, h, 8, buf), nullptr);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	EXPECT_EQ(zs_obj_read_begin(pool.get(), h, 8, nullptr), nullptr);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(zs_obj_read_end(nullptr, h, buf), -EINVAL);
	EXPECT_EQ(zs_obj_read_end(pool.get(), h, nullptr), -EINVAL);
	EXPECT_EQ(zs_obj_write(nullptr, h, buf, 8), -EINVAL);
	EXPECT_EQ(zs_obj_write(pool.get(), h, nullptr, 8), -EINVAL);
	EXPECT_EQ(zs_compact(nullptr), 0u);
	EXPECT_EQ(zs_trim(nullptr), 0u);
	zs_segment seg[ZS_MAX_SEGMENTS];
	EXPECT_EQ(zs_obj_read_sg_begin(nullptr, h, 8, seg, ZS_MAX_SEGMENTS), -EINVAL);
	EXPECT_EQ(zs_obj_read_sg_begin(pool.get(), h, 8, nullptr, ZS_MAX_SEGMENTS), -EINVAL);
	EXPECT_EQ(zs_obj_read_sg_end(nullptr, h), -EINVAL);
	EXPECT_EQ(zs_get_total_pages(nullptr), 0u);
	EXPECT_EQ(zs_huge_class_size(nullptr), 0u);
	zs_stats st;
	memset(&st, 0xab, sizeof(st));
	zs_pool_stats(nullptr, &st);
	zs_pool_stats(pool.get(), nullptr);
	EXPECT_EQ(zs_class_stats(nullptr, nullptr, 0), -EINVAL);
	EXPECT_EQ(zs_dump_classes(nullptr, stderr), -EINVAL);
	EXPECT_EQ(zs_dump_classes(pool.get(), nullptr), -EINVAL);
	zs_fail_nth_page_alloc(nullptr, 1);
	// A bad map mode is refused and takes no mapping.
	for (int mm : { 3, 4, -1, 1000 }) {
		errno = 0;
		EXPECT_EQ(zs_map_object(pool.get(), h, (zs_mapmode)mm), nullptr) << mm;
		EXPECT_EQ(errno, EINVAL) << mm;
	}
	EXPECT_EQ(zs_free(pool.get(), h), 0) << "a refused call left a mapping behind";
	EXPECT_EQ(zs_check(pool.get()), 0u);
	EXPECT_EQ(zs_test::emptied(pool.get()), "");
}

// ---- Every size -------------------------------------------------------------

// Every size from 1 to the page size, and every 61st from there to the
// largest: allocated next to the others (so that neighbours would show any
// overrun), written through one path, read back through all three; it
// lands in the smallest class that holds it. In every layout.
TEST(Malloc, EverySize)
{
	const std::vector<size_t> sizes = every_size(61);
	for (const zs_test::Access &a : zs_test::accesses()) {
		SCOPED_TRACE(a.name);
		Pool pool = make_pool(0, a.method);
		ASSERT_NE(pool, nullptr);
		zs_pool *p = pool.get();
		std::vector<zs_class_stat> before = class_stats(p);
		std::vector<Obj> objs;
		for (size_t size : sizes) {
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u) << "size " << size << ": " << strerror(errno);
			std::vector<zs_class_stat> after = class_stats(p);
			ASSERT_EQ(after.size(), before.size());
			int got = -1, changed = 0;
			for (size_t c = 0; c < after.size(); c++)
				if (after[c].obj_used != before[c].obj_used) {
					changed++;
					got = (int)c;
					EXPECT_EQ(after[c].obj_used, before[c].obj_used + 1);
				}
			ASSERT_EQ(changed, 1) << "size " << size;
			const zs_class_stat &c = after[(size_t)got];
			size_t rounded = zs_test::round_up(size, kDelta);
			EXPECT_GE(c.size, size) << "size " << size;
			EXPECT_LE(c.merged_from, rounded) << "size " << size;
			if (c.merged_from == c.size) {
				EXPECT_LT(c.size, size + kDelta) << "size " << size;
			}
			EXPECT_EQ(got, class_for(after, size)) << "size " << size;
			before = after;

			uint64_t seed = size * 1000003u;
			ASSERT_TRUE(write_object(p, h, seed, size, (int)(size % 3))) << size;
			ASSERT_TRUE(check_object_all(p, h, seed, size)) << "size " << size;
			objs.push_back({ h, size, seed });
			if (size % 64 == 0) {
				ASSERT_EQ(zs_check(p), 0u) << "size " << size;
			}
		}
		ASSERT_EQ(zs_check(p), 0u);
		zs_stats st;
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.objects, sizes.size());
		// Everything is still there, through every path.
		EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
		// Free in a scattered order, checking the rest as we go.
		std::mt19937_64 rng(7);
		std::shuffle(objs.begin(), objs.end(), rng);
		for (size_t i = 0; i < objs.size(); i++) {
			ASSERT_TRUE(check_object(p, objs[i].h, objs[i].seed, objs[i].size,
						 (int)(i % 3)))
				<< "size " << objs[i].size;
			ASSERT_EQ(zs_free(p, objs[i].h), 0) << "size " << objs[i].size;
			if (i % 256 == 0) {
				ASSERT_EQ(zs_check(p), 0u);
			}
		}
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_EQ(zs_test::emptied(p), "");
		EXPECT_EQ(zs_check(p), 0u);
	}
}

// Each size alone in a pool: alloc, write, read back, free, and the pool is
// empty again; zs_check after every step. The object holds exactly the
// pages it touches: at once in a pool without a cache; in a pool with one
// (a zspage taken back from the cache brings its pages along) once
// zs_compact() gave back what no object touches, cache included.
TEST(Malloc, EverySizeAlone)
{
	const std::vector<size_t> sizes = every_size(97);
	for (bool cache : { false, true }) {
		SCOPED_TRACE(cache ? "cache" : "no cache");
		zs_config cfg = zs_test::pool_config();
		cfg.cache_pages = cache ? 0 : UINT32_MAX;
		Pool pool = make_pool(cfg);
		ASSERT_NE(pool, nullptr);
		zs_pool *p = pool.get();
		for (size_t size : sizes) {
			const uint64_t pages = zs_test::pages_for(0, size, kPage);
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u) << size;
			if (!cache) {
				ASSERT_EQ(zs_get_total_pages(p), pages) << "size " << size;
			} else {
				ASSERT_GE(zs_test::class_pages(p), pages) << "size " << size;
				ASSERT_EQ(zs_compact(p), zs_get_total_pages(p) - pages)
					<< "size " << size;
				ASSERT_EQ(zs_get_total_pages(p), pages) << "size " << size;
			}
			ASSERT_EQ(zs_test::class_pages(p), pages) << "size " << size;
			ASSERT_EQ(zs_check(p), 0u);
			ASSERT_TRUE(write_object(p, h, size, size, (int)(size % 3)));
			ASSERT_TRUE(check_object_all(p, h, size, size)) << size;
			ASSERT_EQ(zs_free(p, h), 0);
			if (!cache) {
				ASSERT_EQ(zs_get_total_pages(p), 0u) << "size " << size;
			} else {
				ASSERT_EQ(zs_test::pool_stats(p).pages_cached, pages)
					<< "size " << size;
			}
			ASSERT_EQ(zs_check(p), 0u);
		}
		EXPECT_EQ(zs_test::emptied(p), "");
	}
}

// ---- The class table --------------------------------------------------------

void check_class_table(zs_pool *p, unsigned chain)
{
	int n = zs_class_stats(p, nullptr, 0);
	ASSERT_GT(n, 0);
	std::vector<zs_class_stat> cs = class_stats(p);
	ASSERT_EQ(cs.size(), (size_t)n);
	const uint32_t delta = (uint32_t)kDelta;
	EXPECT_EQ(cs.front().merged_from, delta);
	EXPECT_EQ(cs.back().size, kMaxObj);
	for (size_t i = 0; i < cs.size(); i++) {
		const zs_class_stat &c = cs[i];
		SCOPED_TRACE("chain " + std::to_string(chain) + " class " + std::to_string(c.size));
		EXPECT_EQ(c.index, i);
		EXPECT_EQ(c.size % delta, 0u);
		EXPECT_EQ(c.merged_from % delta, 0u);
		EXPECT_LE(c.merged_from, c.size);
		if (i > 0) {
			EXPECT_GT(c.size, cs[i - 1].size);
			// Sizes are covered without gaps or overlaps.
			EXPECT_EQ(c.merged_from, cs[i - 1].size + delta);
			// Equal geometry would have been merged.
			EXPECT_FALSE(c.pages_per_zspage == cs[i - 1].pages_per_zspage &&
				     c.objs_per_zspage == cs[i - 1].objs_per_zspage);
		}
		EXPECT_GE(c.pages_per_zspage, 1u);
		// The chain bounds the classes up to a page; larger objects
		// take chains of up to 128 pages whatever the configuration.
		EXPECT_LE(c.pages_per_zspage,
			  c.size <= kPage ? (chain ? chain : 16u) : kLargeChain);
		EXPECT_GE(c.objs_per_zspage, 1u);
		EXPECT_LE(c.objs_per_zspage, kMaxObjsPerZspage);
		uint64_t bytes = (uint64_t)c.pages_per_zspage * kPage;
		EXPECT_LE((uint64_t)c.objs_per_zspage * c.size, bytes);
		// Objects are packed: not one more fits (unless the zspage
		// holds the most objects a zspage may), and the chain has no
		// page its objects do not reach.
		if (c.objs_per_zspage < kMaxObjsPerZspage) {
			EXPECT_GT((uint64_t)(c.objs_per_zspage + 1) * c.size, bytes);
		}
		EXPECT_EQ(zs_test::pages_for(c.objs_per_zspage - 1, c.size, kPage),
			  c.pages_per_zspage);
		// Every merged size has the same geometry as the class: the
		// same object count fits in the same chain.
		EXPECT_LE((uint64_t)c.objs_per_zspage * c.merged_from, bytes);
		if (c.objs_per_zspage < kMaxObjsPerZspage) {
			EXPECT_GT((uint64_t)(c.objs_per_zspage + 1) * c.merged_from, bytes);
		}
		EXPECT_EQ(zs_test::pages_for(c.objs_per_zspage - 1, c.merged_from, kPage),
			  c.pages_per_zspage);
		// A fresh pool holds nothing.
		EXPECT_EQ(c.obj_allocated, 0u);
		EXPECT_EQ(c.obj_used, 0u);
		EXPECT_EQ(c.pages_used, 0u);
		EXPECT_EQ(c.freeable, 0u);
		EXPECT_EQ(zs_test::total_zspages(c), 0u);
	}
	// Asking for fewer entries fills only those and still gives the count.
	std::vector<zs_class_stat> few(4);
	memset(few.data(), 0x5a, few.size() * sizeof(few[0]));
	EXPECT_EQ(zs_class_stats(p, few.data(), 2), n);
	EXPECT_EQ(few[0].size, cs[0].size);
	EXPECT_EQ(few[1].size, cs[1].size);
	const unsigned char *raw = reinterpret_cast<const unsigned char *>(&few[2]);
	for (size_t i = 0; i < 2 * sizeof(few[0]); i++) {
		ASSERT_EQ(raw[i], 0x5a) << "zs_class_stats wrote past n";
	}
}

TEST(Classes, TableSanity)
{
	for (unsigned chain = 0; chain <= ZS_MAX_PAGES_PER_ZSPAGE; chain++) {
		Pool pool = make_pool(chain);
		ASSERT_NE(pool, nullptr);
		check_class_table(pool.get(), chain);
	}
}

// Power-of-two sizes waste nothing (they divide the page, or a page
// divides them).
TEST(Classes, PowerOfTwoSizesWasteNothing)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	auto cs = class_stats(pool.get());
	for (size_t size = 16; size <= kMaxObj; size *= 2) {
		int c = class_for(cs, size);
		ASSERT_GE(c, 0);
		if (cs[(size_t)c].size != size)
			continue; // merged into a larger class
		EXPECT_EQ((uint64_t)cs[(size_t)c].objs_per_zspage * size,
			  (uint64_t)cs[(size_t)c].pages_per_zspage * kPage)
			<< "size " << size;
	}
}

// ---- zs_huge_class_size -------------------------------------------------------

TEST(Classes, HugeClassSize)
{
	for (unsigned chain : { 0u, 1u, 2u, 4u, 8u, 16u }) {
		SCOPED_TRACE("chain " + std::to_string(chain));
		Pool pool = make_pool(chain);
		ASSERT_NE(pool, nullptr);
		zs_pool *p = pool.get();
		size_t huge = zs_huge_class_size(p);
		ASSERT_GT(huge, 0u);
		ASSERT_LE(huge, kPage);
		auto cs = class_stats(p);
		// The table agrees: from `huge` up, one object per page; just
		// below it, more.
		int c = class_for(cs, huge);
		ASSERT_GE(c, 0);
		EXPECT_EQ(cs[(size_t)c].objs_per_zspage, cs[(size_t)c].pages_per_zspage);
		// Huge objects take the longest chain, one page each (the old
		// design: one-page zspages): fewer zspages, as dense.
		EXPECT_EQ(cs[(size_t)c].pages_per_zspage, chain ? chain : 16u);
		EXPECT_EQ(cs[(size_t)class_for(cs, kPage)].pages_per_zspage, chain ? chain : 16u);
		EXPECT_EQ(cs[(size_t)c].merged_from, zs_test::round_up(huge, kDelta));
		if (huge > kDelta) {
			int b = class_for(cs, huge - kDelta);
			ASSERT_GE(b, 0);
			EXPECT_GT(cs[(size_t)b].objs_per_zspage, cs[(size_t)b].pages_per_zspage);
		}
		// Objects of that size and larger: one page each, as they come.
		std::vector<zs_handle> hs;
		size_t sizes[] = { huge, huge + 1, kPage, (huge + kPage) / 2 };
		for (int i = 0; i < 40; i++) {
			size_t before = zs_get_total_pages(p);
			size_t size = sizes[i % 4] > kPage ? kPage : sizes[i % 4];
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			EXPECT_EQ(zs_get_total_pages(p), before + 1) << "object " << i;
			ASSERT_TRUE(write_object(p, h, 100 + i, size, i % 3));
			hs.push_back(h);
		}
		for (int i = 0; i < 40; i++) {
			size_t size = sizes[i % 4] > kPage ? kPage : sizes[i % 4];
			ASSERT_TRUE(check_object_all(p, hs[i], 100 + i, size));
		}
		EXPECT_EQ(zs_check(p), 0u);
		// Just below: 40 objects take fewer than 40 pages.
		if (huge > kDelta) {
			size_t before = zs_get_total_pages(p);
			for (int i = 0; i < 40; i++) {
				zs_handle h = zs_malloc(p, huge - kDelta, 0);
				ASSERT_NE(h, 0u);
				hs.push_back(h);
			}
			EXPECT_LT(zs_get_total_pages(p) - before, 40u);
		}
		for (zs_handle h : hs) {
			ASSERT_EQ(zs_free(p, h), 0);
		}
		EXPECT_EQ(zs_test::emptied(p), "");
	}
}

// ---- Statistics and the class dump ------------------------------------------

// With automatic compaction and without: the counters are the same
// either way, and zs_compact() frees exactly what the class table called
// freeable (in a pool nobody touches, after zs_trim()).
TEST(Stats, PoolCounters)
{
	for (int no_auto : { 0, 1 }) {
		SCOPED_TRACE(no_auto ? "no automatic compaction" : "automatic compaction");
		zs_config cfg = zs_test::pool_config();
		cfg.no_auto_compact = no_auto;
		Pool pool = make_pool(cfg);
		ASSERT_NE(pool, nullptr);
		zs_pool *p = pool.get();
		zs_stats st;
		zs_pool_stats(p, &st);
		uint64_t meta0 = st.metadata_bytes;
		EXPECT_GT(meta0, 0u);
		EXPECT_EQ(st.handles_reserved, 0u);

		std::vector<Obj> objs;
		std::mt19937_64 rng(11);
		for (int i = 0; i < 3000; i++) {
			size_t size = 1 + rng() % kPage;
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			ASSERT_TRUE(write_object(p, h, i, size, 0));
			objs.push_back({ h, size, (uint64_t)i });
		}
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.objects, 3000u);
		EXPECT_EQ(st.pages_used, zs_get_total_pages(p));
		EXPECT_GE(st.handles_reserved, st.objects);
		EXPECT_GT(st.metadata_bytes, meta0);
		EXPECT_EQ(st.pages_compacted, 0u);
		EXPECT_EQ(st.objects_moved, 0u) << "nothing was freed: nothing to move";
		EXPECT_EQ(st.auto_compactions, 0u);
		EXPECT_EQ(st.pages_cached, 0u) << "no zspage emptied";
		// Class figures add up to the pool's (cached pages belong to no
		// class).
		uint64_t objects = 0, pages = 0;
		for (const zs_class_stat &c : class_stats(p)) {
			objects += c.obj_used;
			pages += c.pages_used;
			EXPECT_LE(c.obj_used, c.obj_allocated);
			// Places in the pages the class holds (zspages fill lazily).
			EXPECT_LE(c.obj_allocated, zs_test::total_zspages(c) * c.objs_per_zspage);
			EXPECT_LE(c.obj_allocated, c.pages_used * kPage / c.size);
			EXPECT_GE(c.obj_allocated, c.obj_used);
			EXPECT_LE(c.pages_used, zs_test::total_zspages(c) * c.pages_per_zspage);
			EXPECT_GE(c.pages_used, zs_test::min_pages(c));
		}
		EXPECT_EQ(objects, st.objects);
		EXPECT_EQ(pages + st.pages_cached, st.pages_used);

		// Free two thirds, compact: the counters follow.
		std::vector<Obj> kept;
		for (size_t i = 0; i < objs.size(); i++) {
			if (i % 3) {
				ASSERT_EQ(zs_free(p, objs[i].h), 0);
			} else
				kept.push_back(objs[i]);
		}
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.objects, kept.size());
		if (no_auto) {
			EXPECT_EQ(st.objects_moved, 0u) << "moved with no compaction";
			EXPECT_EQ(st.auto_compactions, 0u);
		}
		EXPECT_EQ(zs_test::class_pages(p) + st.pages_cached, st.pages_used);
		size_t trimmed = zs_trim(p);
		EXPECT_EQ(trimmed, st.pages_cached);
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.pages_cached, 0u);
		uint64_t freeable = 0;
		for (const zs_class_stat &c : class_stats(p))
			freeable += c.freeable;
		size_t freed = zs_compact(p);
		EXPECT_GT(freed, 0u);
		EXPECT_EQ(freed, freeable) << "freeable is what zs_compact() frees";
		zs_stats st2;
		zs_pool_stats(p, &st2);
		EXPECT_EQ(st2.pages_compacted, st.pages_compacted + freed);
		EXPECT_GT(st2.objects_moved, st.objects_moved);
		EXPECT_EQ(st2.objects, kept.size());
		EXPECT_EQ(st2.pages_used, st.pages_used - freed);
		EXPECT_EQ(st2.pages_cached, 0u);
		EXPECT_EQ(zs_test::first_bad(p, kept, 3), -1);
		for (const Obj &o : kept) {
			ASSERT_EQ(zs_free(p, o.h), 0);
		}
		zs_pool_stats(p, &st);
		EXPECT_EQ(st.objects, 0u);
		EXPECT_EQ(st.pages_used, st.pages_cached);
		EXPECT_EQ(st.pages_compacted, st2.pages_compacted) << "ever, not now";
		EXPECT_EQ(zs_test::emptied(p), "");
		EXPECT_EQ(zs_check(p), 0u);
	}
}

std::string dump(zs_pool *p, int *ret)
{
	char *buf = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*ret = zs_dump_classes(p, f);
	fclose(f);
	std::string s(buf, len);
	free(buf);
	return s;
}

std::vector<std::string> lines(const std::string &s)
{
	std::vector<std::string> v;
	std::istringstream in(s);
	for (std::string l; std::getline(in, l);)
		v.push_back(l);
	return v;
}

TEST(Stats, DumpClasses)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	int ret = 1;
	// Empty: header, column names, the total row with zeros.
	std::vector<std::string> l = lines(dump(p, &ret));
	ASSERT_EQ(ret, 0);
	ASSERT_EQ(l.size(), 3u) << dump(p, &ret);
	EXPECT_NE(l[0].find("test"), std::string::npos) << "pool name: " << l[0];
	for (const char *col : { "class", "size", "obj_allocated", "obj_used", "pages_used",
				 "pages_per_zspage", "freeable" })
		EXPECT_NE(l[1].find(col), std::string::npos) << col;
	EXPECT_NE(l[2].find("Total"), std::string::npos);

	// Three classes in use: three rows and a total that adds up.
	std::vector<zs_handle> hs;
	for (int i = 0; i < 100; i++)
		for (size_t size : { (size_t)100, (size_t)1000, (size_t)3000 })
			hs.push_back(zs_malloc(p, size, 0));
	for (int i = 0; i < 100; i += 2) {
		ASSERT_EQ(zs_free(p, hs[(size_t)i * 3 + 1]), 0);
	}
	l = lines(dump(p, &ret));
	ASSERT_EQ(ret, 0);
	ASSERT_EQ(l.size(), 6u) << dump(p, &ret);
	auto cs = class_stats(p);
	uint64_t tot[5] = {};
	for (int r = 2; r < 5; r++) {
		std::istringstream in(l[(size_t)r]);
		unsigned long long v[18];
		for (int k = 0; k < 18; k++) {
			ASSERT_TRUE(in >> v[k]) << "row " << l[(size_t)r];
		}
		ASSERT_LT(v[0], cs.size());
		const zs_class_stat &c = cs[v[0]];
		EXPECT_EQ(v[1], c.size);
		for (int g = 1; g < ZS_NR_FULLNESS; g++) {
			EXPECT_EQ(v[1 + g], c.zspages[g]) << "group " << g;
		}
		EXPECT_EQ(v[13], c.obj_allocated);
		EXPECT_EQ(v[14], c.obj_used);
		EXPECT_EQ(v[15], c.pages_used);
		EXPECT_EQ(v[16], c.pages_per_zspage);
		EXPECT_EQ(v[17], c.freeable);
		for (int k = 0; k < 3; k++)
			tot[k] += v[13 + k];
		tot[3] += v[17];
	}
	{
		std::istringstream in(l[5]);
		std::string word;
		in >> word;
		EXPECT_EQ(word, "Total");
		unsigned long long v[15];
		for (int k = 0; k < 15; k++) {
			ASSERT_TRUE(in >> v[k]) << l[5];
		}
		EXPECT_EQ(v[11], tot[0]);
		EXPECT_EQ(v[12], tot[1]);
		EXPECT_EQ(v[13], tot[2]);
		EXPECT_EQ(v[14], tot[3]);
		EXPECT_EQ(v[12], 250u);
		// Every page but the cached ones belongs to a class.
		EXPECT_EQ(v[13] + zs_test::pool_stats(p).pages_cached, zs_get_total_pages(p));
	}
	// A stream that cannot be written: -EIO.
	FILE *ro = fopen("/dev/null", "r");
	ASSERT_NE(ro, nullptr);
	EXPECT_EQ(zs_dump_classes(p, ro), -EIO);
	fclose(ro);
	for (size_t i = 0; i < hs.size(); i++)
		if (i % 3 != 1 || (i / 3) % 2) {
			ASSERT_EQ(zs_free(p, hs[i]), 0);
		}
	EXPECT_EQ(zs_test::emptied(p), "");
}

// ---- ZS_NOGROW ---------------------------------------------------------------

TEST(Malloc, NoGrow)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	auto cs = class_stats(p);
	const size_t size = 100;
	const zs_class_stat c = cs[(size_t)class_for(cs, size)];

	// Nothing to grow into: ENOMEM, nothing taken.
	errno = 0;
	EXPECT_EQ(zs_malloc(p, size, ZS_NOGROW), 0u);
	EXPECT_EQ(errno, ENOMEM);
	EXPECT_EQ(zs_get_total_pages(p), 0u);
	EXPECT_EQ(zs_check(p), 0u);
	zs_test::Snapshot empty = zs_test::snapshot(p);
	EXPECT_EQ(zs_test::diff(zs_test::snapshot(make_pool().get()), empty, false), "");

	// One object takes a page; the objects that end in that page come
	// without growing, the next one does not.
	std::vector<Obj> objs;
	zs_handle h = zs_malloc(p, size, 0);
	ASSERT_NE(h, 0u);
	ASSERT_EQ(zs_get_total_pages(p), 1u);
	objs.push_back({ h, size, 1 });
	uint64_t in_first_page = kPage / c.size;
	for (uint64_t i = 1; i < in_first_page; i++) {
		h = zs_malloc(p, size, ZS_NOGROW);
		ASSERT_NE(h, 0u) << "object " << i << " fits in the first page";
		objs.push_back({ h, size, i + 1 });
	}
	for (const Obj &o : objs) {
		ASSERT_TRUE(write_object(p, o.h, o.seed, o.size, 0));
	}
	zs_test::Snapshot full = zs_test::snapshot(p);
	errno = 0;
	EXPECT_EQ(zs_malloc(p, size, ZS_NOGROW), 0u)
		<< "object " << in_first_page << " needs the second page";
	EXPECT_EQ(errno, ENOMEM);
	EXPECT_EQ(zs_test::diff(full, zs_test::snapshot(p)), "");
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
	// A hole makes room again.
	ASSERT_EQ(zs_free(p, objs[3].h), 0);
	objs.erase(objs.begin() + 3);
	h = zs_malloc(p, size, ZS_NOGROW);
	ASSERT_NE(h, 0u);
	ASSERT_TRUE(write_object(p, h, 999, size, 1));
	objs.push_back({ h, size, 999 });
	EXPECT_EQ(zs_get_total_pages(p), 1u);
	// Without the flag the pool grows.
	h = zs_malloc(p, size, 0);
	ASSERT_NE(h, 0u);
	objs.push_back({ h, size, 1000 });
	ASSERT_TRUE(write_object(p, h, 1000, size, 2));
	EXPECT_EQ(zs_get_total_pages(p), 2u);
	// Other classes have nothing: NOGROW fails there.
	errno = 0;
	EXPECT_EQ(zs_malloc(p, 2000, ZS_NOGROW), 0u);
	EXPECT_EQ(errno, ENOMEM);
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
}

// ZS_NOGROW promises ENOMEM only "with no room". Here there is room: zspage
// Z0 of the class has 40 free places in pages it already holds. But the
// allocation goes to the fullest zspage (Z2, 40 of 65, its next object in
// a page not yet present), and ZS_NOGROW gives up there. (No automatic
// compaction: it could fill Z0's holes from Z2 first.)
TEST(Malloc, NoGrowUsesRoomInOtherZspages)
{
	Pool pool = zs_test::make_still_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	const size_t size = 1008; // 16 pages, 65 objects per zspage
	std::vector<zs_handle> hs;
	for (int i = 0; i < 65 + 65 + 40; i++) {
		hs.push_back(zs_malloc(p, size, 0));
		ASSERT_NE(hs.back(), 0u);
	}
	for (int i = 0; i < 40; i++) // Z0: objects 0..39 freed, pages kept
		ASSERT_EQ(zs_free(p, hs[(size_t)i]), 0);
	size_t pages = zs_get_total_pages(p);
	errno = 0;
	zs_handle h = zs_malloc(p, size, ZS_NOGROW);
	EXPECT_NE(h, 0u) << "ENOMEM with 40 free places in present pages";
	EXPECT_EQ(zs_get_total_pages(p), pages);
	EXPECT_EQ(zs_check(p), 0u);
}

// The same situation reached without the flag, by the page limit or an
// injected fault: the object goes into the room there is, as with
// ZS_NOGROW, rather than fail (an audit found the default failing where
// the flag succeeded).
TEST(Malloc, NoPageToBeHadUsesRoomInOtherZspages)
{
	for (int how = 0; how < 2; how++) {
		zs_config cfg = {};
		cfg.max_pages = how == 0 ? 30 : 0;
		cfg.no_auto_compact = 1; // the zspages as allocated
		Pool pool(zs_create_pool_config(&cfg));
		ASSERT_NE(pool, nullptr);
		zs_pool *p = pool.get();
		const size_t size = 1008; // 16 pages, 65 objects per zspage
		std::vector<zs_handle> hs;
		for (int i = 0; i < 65 + 40; i++) {
			hs.push_back(zs_malloc(p, size, 0));
			ASSERT_NE(hs.back(), 0u) << i;
		}
		for (int i = 0; i < 33; i++) // Z0: holes in its present pages
			ASSERT_EQ(zs_free(p, hs[(size_t)i]), 0);
		size_t pages = zs_get_total_pages(p);
		if (how == 0) {
			// Use up the limit with another class.
			while (zs_malloc(p, 3000, 0))
				;
			pages = zs_get_total_pages(p);
			ASSERT_EQ(pages, 30u);
		} else {
			zs_fail_nth_page_alloc(p, 1);
		}
		// Z1 (40 of 65, the fullest) needs a new page for its next
		// object; none comes, so the object goes into a hole of Z0.
		errno = 0;
		zs_handle h = zs_malloc(p, size, 0);
		EXPECT_NE(h, 0u) << (how == 0 ? "page limit" : "injected fault") << ": "
				 << strerror(errno);
		EXPECT_EQ(zs_get_total_pages(p), pages);
		EXPECT_EQ(zs_check(p), 0u);
		zs_fail_nth_page_alloc(p, 0);
	}
}

// A pool that keeps freed pages resident for reuse (cache_pages) behaves
// the same: reused pages hold no stale bytes that matter, counts agree.
TEST(Create, CachePages)
{
	zs_config cfg = {};
	cfg.cache_pages = 16;
	Pool pool(zs_create_pool_config(&cfg));
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::mt19937_64 rng(3);
	std::vector<Obj> objs;
	uint64_t next = 1;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 500; i++) {
			size_t size = 1 + rng() % kPage;
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			objs.push_back({ h, size, next++ });
			ASSERT_TRUE(write_object(p, h, objs.back().seed, size, (int)(next % 3)));
		}
		std::shuffle(objs.begin(), objs.end(), rng);
		for (size_t i = 0; i < objs.size() / 2; i++) {
			ASSERT_EQ(zs_free(p, objs[i].h), 0);
		}
		objs.erase(objs.begin(), objs.begin() + (long)(objs.size() / 2));
		if (round % 3 == 2)
			zs_compact(p);
		ASSERT_EQ(zs_check(p), 0u);
		ASSERT_EQ(zs_test::first_bad(p, objs, 3), -1) << "round " << round;
		zs_stats st = zs_test::pool_stats(p);
		ASSERT_EQ(zs_test::class_pages(p) + st.pages_cached, zs_get_total_pages(p))
			<< "the pool's pages are its classes' and its cache's";
		ASSERT_LE(st.pages_cached, cfg.cache_pages) << "one thread: one shard's cache";
	}
	for (const Obj &o : objs) {
		ASSERT_EQ(zs_free(p, o.h), 0);
	}
	EXPECT_LE(zs_test::pool_stats(p).pages_cached, cfg.cache_pages);
	EXPECT_EQ(zs_test::emptied(p), "");
}

// ---- The page limit ----------------------------------------------------------

TEST(Malloc, PageLimit)
{
	const uint64_t limit = 64;
	const uint64_t seed = zs_test::test_seed(5);
	printf("page limit seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	Pool pool = make_pool(0, ZS_MAP_DEFAULT, limit);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	uint64_t next_seed = 1;

	auto fill = [&](int round) {
		int failures = 0;
		while (failures < 300) {
			size_t size = 1 + rng() % kPage;
			zs_test::Snapshot before = zs_test::snapshot(p);
			errno = 0;
			zs_handle h = zs_malloc(p, size, 0);
			if (!h) {
				ASSERT_EQ(errno, ENOMEM) << "size " << size;
				ASSERT_EQ(zs_test::diff(before, zs_test::snapshot(p), false), "")
					<< "a failed zs_malloc changed the pool";
				ASSERT_EQ(zs_check(p), 0u);
				failures++;
				continue;
			}
			ASSERT_LE(zs_get_total_pages(p), limit);
			Obj o{ h, size, next_seed++ };
			ASSERT_TRUE(write_object(p, h, o.seed, size, (int)(o.seed % 3)));
			objs.push_back(o);
		}
		// Failures come only when a page is needed and none is left.
		EXPECT_EQ(zs_get_total_pages(p), limit) << "round " << round;
		ASSERT_EQ(zs_check(p), 0u);
		ASSERT_EQ(zs_test::first_bad(p, objs, 3), -1) << "round " << round;
	};
	fill(0);
	// Free half, compact, fill again; twice.
	for (int round = 1; round <= 2; round++) {
		std::shuffle(objs.begin(), objs.end(), rng);
		size_t half = objs.size() / 2;
		for (size_t i = half; i < objs.size(); i++) {
			ASSERT_EQ(zs_free(p, objs[i].h), 0);
		}
		objs.resize(half);
		zs_compact(p);
		ASSERT_EQ(zs_check(p), 0u);
		ASSERT_EQ(zs_test::first_bad(p, objs, 0), -1);
		fill(round);
	}
	for (const Obj &o : objs) {
		ASSERT_EQ(zs_free(p, o.h), 0);
	}
	EXPECT_EQ(zs_test::emptied(p), "");
}

// A limit smaller than one zspage: each page still serves.
TEST(Malloc, PageLimitOfOne)
{
	Pool pool = make_pool(0, ZS_MAP_DEFAULT, 1);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	zs_handle a = zs_malloc(p, kPage, 0);
	ASSERT_NE(a, 0u);
	errno = 0;
	EXPECT_EQ(zs_malloc(p, kPage, 0), 0u);
	EXPECT_EQ(errno, ENOMEM);
	errno = 0;
	EXPECT_EQ(zs_malloc(p, 100, 0), 0u);
	EXPECT_EQ(errno, ENOMEM);
	ASSERT_EQ(zs_free(p, a), 0);
	// The page is back: the 36 objects of 112 bytes that fit in it.
	std::vector<zs_handle> hs;
	for (int i = 0; i < 36; i++) {
		zs_handle h = zs_malloc(p, 112, 0);
		ASSERT_NE(h, 0u) << i;
		hs.push_back(h);
	}
	EXPECT_EQ(zs_malloc(p, 112, 0), 0u);
	EXPECT_EQ(zs_get_total_pages(p), 1u);
	EXPECT_EQ(zs_check(p), 0u);
	for (zs_handle h : hs) {
		ASSERT_EQ(zs_free(p, h), 0);
	}
}

} // namespace
