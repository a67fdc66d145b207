// misuse_test.cc - deliberate misuse across the three libraries, in the
// spirit of mimalloc's test-wrong: each wrong call must get a clear error
// and leave the pool intact (checker 0, every object's bytes, the counts),
// or be a documented abort. The per-library suites test each entry point's
// refusals one by one (tests/xvmalloc/misuse_test, tests/zsmalloc/handle_test
// and map_test, tests/mapping/pair_test); this suite adds what they do not
// reach:
//   - one "wrong program" per allocator: a sequence of every kind of misuse
//     (double free, another pool's object, use after free, unmap without
//     map, map and free of a freed handle, free while mapped, a mapping too
//     many, sizes past every limit) interleaved with compaction and held
//     mappings, the pool checked after each step;
//   - sizes at and past every limit of every layer, in one table;
//   - threads that exit while holding mappings (zsmalloc ends them as
//     zs_unmap_object() would, writes kept; the mapping layer's windows
//     and buffers are dropped, nothing written back half-way; the pool can
//     be destroyed);
//   - destroying one pool while holding a mapping of another, and
//     destroying pools with live objects (every page and descriptor goes
//     back: LeakSanitizer and /proc/self/fd watch);
//   - the reproducers of defects the fuzzers found, kept as regressions.
#include <dirent.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mapping/mapping.h"
#include "tests/stress/stress_util.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

namespace
{

using stress::Rng;

// ---- zsmalloc: a wrong program ---------------------------------------

class ZsWrong : public ::testing::TestWithParam<zs_map_method>
{
      protected:
	struct Obj {
		size_t size;
		uint64_t seed;
	};

	void SetUp() override
	{
		zs_config cfg{};
		cfg.name = "wrong";
		cfg.map_method = GetParam();
		pool = zs_create_pool_config(&cfg);
		other = zs_create_pool_config(&cfg);
		ASSERT_NE(nullptr, pool);
		ASSERT_NE(nullptr, other);
		Rng r(7);
		for (int i = 0; i < 400; i++)
			alloc(stress::compressed_size(r, page));
	}
	void TearDown() override
	{
		zs_destroy_pool(pool);
		zs_destroy_pool(other);
	}

	zs_handle alloc(size_t size)
	{
		zs_handle h = zs_malloc(pool, size, 0);
		EXPECT_NE(0u, h);
		if (!h)
			return 0;
		uint64_t seed = ++last_seed;
		EXPECT_TRUE(stress::zs_write(pool, h, size, seed, 0));
		live[h] = { size, seed };
		return h;
	}

	// Checker, counts and every object's bytes through all three paths.
	void expect_intact(const char *what)
	{
		SCOPED_TRACE(what);
		ASSERT_EQ(0u, zs_check(pool));
		ASSERT_EQ(live.size(), stress::zs_objects(pool));
		for (const auto &kv : live)
			for (int how = 0; how < 3; how++)
				ASSERT_TRUE(stress::zs_same(pool, kv.first, kv.second.size,
							    kv.second.seed, how))
					<< "handle " << kv.first << " via path " << how;
	}

	// Every entry point refuses @h (not live in pool) with EINVAL.
	void expect_refused(zs_handle h, const char *what)
	{
		SCOPED_TRACE(what);
		ASSERT_EQ(0u, live.count(h));
		size_t pages = zs_get_total_pages(pool);
		uint8_t buf[16] = {};
		EXPECT_EQ(-EINVAL, zs_free(pool, h));
		errno = 0;
		EXPECT_EQ(nullptr, zs_map_object(pool, h, ZS_MM_RW));
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		zs_unmap_object(pool, h);
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(nullptr, zs_obj_read_begin(pool, h, 1, buf));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(-EINVAL, zs_obj_read_end(pool, h, buf));
		EXPECT_EQ(-EINVAL, zs_obj_write(pool, h, buf, 1));
		zs_segment seg[ZS_MAX_SEGMENTS];
		EXPECT_EQ(-EINVAL, zs_obj_read_sg_begin(pool, h, 1, seg, ZS_MAX_SEGMENTS));
		EXPECT_EQ(-EINVAL, zs_obj_read_sg_end(pool, h));
		EXPECT_EQ(pages, zs_get_total_pages(pool));
		expect_intact(what);
	}

	zs_handle some(size_t i)
	{
		auto it = live.begin();
		std::advance(it, static_cast<long>(i % live.size()));
		return it->first;
	}

	const size_t page = stress::page_size();
	zs_pool *pool = nullptr;
	zs_pool *other = nullptr;
	std::map<zs_handle, Obj> live;
	uint64_t last_seed = 0;
};

TEST_P(ZsWrong, EveryMisuseInOneProgram)
{
	// Double free, then again after compaction moved things around.
	zs_handle a = some(3);
	live.erase(a);
	ASSERT_EQ(0, zs_free(pool, a));
	expect_refused(a, "double free");
	for (size_t i = 0; i < 200; i++) { // holes, so that compaction moves
		zs_handle h = some(i * 7);
		live.erase(h);
		ASSERT_EQ(0, zs_free(pool, h));
	}
	ASSERT_GT(zs_compact(pool), 0u);
	expect_refused(a, "double free after compaction");

	// Use after free: a handle freed, its slot reused by a new object.
	zs_handle b = some(11);
	size_t bsize = live[b].size;
	live.erase(b);
	ASSERT_EQ(0, zs_free(pool, b));
	zs_handle b2 = alloc(bsize);
	ASSERT_NE(b, b2) << "a reused slot must get a new handle";
	expect_refused(b, "use after free, slot reused");

	// Another pool's live handle, and this pool's handle given to the other.
	zs_handle foreign = zs_malloc(other, 500, 0);
	ASSERT_NE(0u, foreign);
	expect_refused(foreign, "another pool's handle");
	zs_handle mine = some(5);
	EXPECT_EQ(-EINVAL, zs_free(other, mine));
	errno = 0;
	EXPECT_EQ(nullptr, zs_map_object(other, mine, ZS_MM_RO));
	EXPECT_EQ(EINVAL, errno);
	expect_intact("own handle given to another pool");

	// Unmap without map; unmap twice; unmap in the wrong pool.
	zs_handle c = some(17);
	errno = 0;
	zs_unmap_object(pool, c);
	EXPECT_EQ(EINVAL, errno);
	void *p = zs_map_object(pool, c, ZS_MM_RW);
	ASSERT_NE(nullptr, p);
	errno = 0;
	zs_unmap_object(other, c);
	EXPECT_EQ(EINVAL, errno) << "unmap in the wrong pool";
	zs_unmap_object(pool, c);
	errno = 0;
	zs_unmap_object(pool, c);
	EXPECT_EQ(EINVAL, errno) << "second unmap";
	expect_intact("unmaps without maps");

	// Free while mapped: EBUSY, and the mapping still works; a fifth
	// mapping: EBUSY; misuse of other handles while four are held.
	std::vector<zs_handle> held;
	for (size_t i = 0; i < ZS_MAX_MAPPINGS; i++) {
		held.push_back(some(23 + i * 13));
		ASSERT_NE(nullptr, zs_map_object(pool, held.back(), ZS_MM_RO));
	}
	for (zs_handle h : held)
		EXPECT_EQ(-EBUSY, zs_free(pool, h));
	errno = 0;
	EXPECT_EQ(nullptr, zs_map_object(pool, some(2), ZS_MM_RO));
	EXPECT_EQ(EBUSY, errno);
	uint8_t buf[8];
	errno = 0;
	EXPECT_EQ(nullptr, zs_obj_read_begin(pool, some(2), 8, buf));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-EINVAL, zs_free(pool, a)) << "freed handle while four held";
	// The handle is validated first: EINVAL, not EBUSY, with four held.
	errno = 0;
	EXPECT_EQ(nullptr, zs_map_object(pool, a, ZS_MM_RO));
	EXPECT_EQ(EINVAL, errno) << "map of a freed handle while four held";
	errno = 0;
	EXPECT_EQ(nullptr, zs_obj_read_begin(pool, a, 8, buf));
	EXPECT_EQ(EINVAL, errno) << "read of a freed handle while four held";
	EXPECT_EQ(-EINVAL, zs_obj_write(pool, a, buf, 8));
	zs_compact(pool); // held objects are pinned
	for (size_t i = held.size(); i-- > 0;)
		zs_unmap_object(pool, held[i]);
	expect_intact("four held, then released");

	// read_end with the wrong pointer, or twice.
	zs_handle d = some(31);
	std::vector<uint8_t> copy(live[d].size);
	const void *q = zs_obj_read_begin(pool, d, copy.size(), copy.data());
	ASSERT_NE(nullptr, q);
	EXPECT_EQ(-EINVAL, zs_obj_read_end(pool, d, buf));
	EXPECT_EQ(-EBUSY, zs_free(pool, d)) << "free during a read";
	EXPECT_EQ(0, zs_obj_read_end(pool, d, q));
	EXPECT_EQ(-EINVAL, zs_obj_read_end(pool, d, q));
	expect_intact("read_end misuse");

	// Sizes past the limits on a live handle.
	zs_handle e = some(37);
	std::vector<uint8_t> big(page + 1, 0xee);
	errno = 0;
	EXPECT_EQ(nullptr, zs_obj_read_begin(pool, e, page + 1, big.data()));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, zs_obj_write(pool, e, big.data(), page + 1));
	EXPECT_EQ(-EINVAL, zs_obj_write(pool, e, big.data(), 0));
	errno = 0;
	EXPECT_EQ(nullptr, zs_map_object(pool, e, static_cast<zs_mapmode>(3)));
	EXPECT_EQ(EINVAL, errno);
	expect_intact("sizes past the limits");

	// Free everything, compact (which drains the cache of emptied zspages
	// too), every old handle refused.
	std::vector<zs_handle> all;
	for (const auto &kv : live)
		all.push_back(kv.first);
	for (zs_handle h : all)
		ASSERT_EQ(0, zs_free(pool, h));
	live.clear();
	zs_compact(pool);
	EXPECT_EQ(0u, zs_get_total_pages(pool));
	for (size_t i = 0; i < all.size(); i += 17)
		expect_refused(all[i], "all freed");
	ASSERT_EQ(0, zs_free(other, foreign));
}

// DEFAULT: the contiguous layout; COPY, REMAP: the scattered one.
INSTANTIATE_TEST_SUITE_P(Methods, ZsWrong,
			 ::testing::Values(ZS_MAP_DEFAULT, ZS_MAP_COPY, ZS_MAP_REMAP));

// ---- sizes at and past every limit ---------------------------------------

TEST(Limits, EveryLayer)
{
	const size_t page = stress::page_size();
	// Page source: config and map_pair bounds.
	mp_config mc{};
	mc.max_pages = uint64_t{ 1 } << 32;
	errno = 0;
	EXPECT_EQ(nullptr, mp_create(&mc));
	EXPECT_EQ(EINVAL, errno);
	mc.max_pages = 4;
	mc.backing = MP_BACKING_SHARED; // MP_REMAP maps the memfd's pages twice
	mp_source *src = mp_create(&mc);
	ASSERT_NE(nullptr, src);
	uint32_t a, b, c;
	ASSERT_EQ(0, mp_alloc_page(src, &a));
	ASSERT_EQ(0, mp_alloc_page(src, &b));
	ASSERT_EQ(0, mp_alloc_page(src, &c));
	const uint32_t pg = static_cast<uint32_t>(page);
	struct {
		uint32_t off, len;
		bool ok;
	} pair_cases[] = {
		{ 0, pg, true },     { pg - 1, 1, true },      { pg - 1, pg, true },
		{ pg - 1, 2, true }, { pg, 1, false },         { 0, pg + 1, false },
		{ 0, 0, false },     { UINT32_MAX, 1, false }, { 1, UINT32_MAX, false },
	};
	for (auto m : { MP_COPY, MP_REMAP }) {
		for (const auto &t : pair_cases) {
			errno = 0;
			void *p = mp_map_pair(src, a, c, t.off, t.len, MP_RW, m, 1);
			EXPECT_EQ(t.ok, p != nullptr) << t.off << "+" << t.len << " method " << m;
			if (p) {
				EXPECT_EQ(0, mp_unmap_pair(src, 1));
			} else {
				EXPECT_EQ(EINVAL, errno);
			}
		}
	}
	uint32_t d, e;
	ASSERT_EQ(0, mp_alloc_page(src, &d));
	EXPECT_EQ(-ENOMEM, mp_alloc_page(src, &e)) << "past max_pages";
	EXPECT_EQ(-EINVAL, mp_free_page(src, 4)) << "pfn == max_pages";
	EXPECT_EQ(-EINVAL, mp_free_page(src, UINT32_MAX));
	EXPECT_EQ(nullptr, mp_kmap(src, 4));
	mp_destroy(src);

	// xvmalloc: object sizes and config.
	xv_config xc{};
	xc.arenas = 65;
	EXPECT_EQ(nullptr, xv_create_pool_config(&xc));
	xc.arenas = 64;
	xc.max_pages = uint64_t{ 1 } << 32;
	EXPECT_EQ(nullptr, xv_create_pool_config(&xc));
	xc.max_pages = 0;
	xv_pool *xv = xv_create_pool_config(&xc);
	ASSERT_NE(nullptr, xv);
	const uint32_t xmax = xv_max_size();
	EXPECT_EQ(page - 4, xmax);
	for (uint32_t size : { 1u, xv_min_block(), xmax - 1, xmax }) {
		uint32_t pfn, off;
		ASSERT_EQ(0, xv_malloc(xv, size, &pfn, &off, 0)) << size;
		ASSERT_TRUE(stress::xv_write(xv, { pfn, off }, size, size));
		ASSERT_TRUE(stress::xv_same(xv, { pfn, off }, size, size));
		ASSERT_EQ(0, xv_free(xv, pfn, off));
	}
	for (uint32_t size : { 0u, xmax + 1, xmax + 4, UINT32_MAX }) {
		uint32_t pfn = 1, off = 1;
		EXPECT_EQ(-EINVAL, xv_malloc(xv, size, &pfn, &off, 0)) << size;
		EXPECT_EQ(0u, pfn);
		EXPECT_EQ(0u, off);
	}
	uint32_t pfn, off;
	EXPECT_EQ(-EINVAL, xv_malloc(xv, 10, &pfn, &off, 0x100));
	EXPECT_EQ(0u, xv_check(xv));
	xv_destroy_pool(xv);

	// zsmalloc: config, sizes, and the class size for reads and writes.
	zs_config zc{};
	zc.max_pages_per_zspage = ZS_MAX_PAGES_PER_ZSPAGE + 1;
	EXPECT_EQ(nullptr, zs_create_pool_config(&zc));
	zc.max_pages_per_zspage = ZS_MAX_PAGES_PER_ZSPAGE;
	zc.map_method = static_cast<zs_map_method>(3);
	EXPECT_EQ(nullptr, zs_create_pool_config(&zc));
	zc.map_method = ZS_MAP_COPY; // a map method is for the scattered layout
	zc.layout = ZS_LAYOUT_CONTIGUOUS;
	EXPECT_EQ(nullptr, zs_create_pool_config(&zc));
	zc.layout = static_cast<zs_layout>(3);
	zc.map_method = ZS_MAP_DEFAULT;
	EXPECT_EQ(nullptr, zs_create_pool_config(&zc));
	zc.layout = ZS_LAYOUT_DEFAULT;
	zc.max_pages = uint64_t{ 1 } << 32;
	EXPECT_EQ(nullptr, zs_create_pool_config(&zc));
	zc.max_pages = 0;
	zs_pool *zs = zs_create_pool_config(&zc);
	ASSERT_NE(nullptr, zs);
	const size_t zmax = page > ZS_MAX_OBJECT_SIZE ? page : ZS_MAX_OBJECT_SIZE;
	struct {
		size_t size;
		int err;
	} zcases[] = { { 0, EINVAL },
		       { 1, 0 },
		       { page - 1, 0 },
		       { page, 0 },
		       { page + 1, 0 },
		       { zmax - 1, 0 },
		       { zmax, 0 },
		       { zmax + 1, ENOSPC },
		       { zmax + 16, ENOSPC },
		       { SIZE_MAX, ENOSPC },
		       { SIZE_MAX / 2, ENOSPC } };
	for (const auto &t : zcases) {
		errno = 0;
		zs_handle h = zs_malloc(zs, t.size, 0);
		EXPECT_EQ(t.err == 0, h != 0) << t.size;
		if (!h) {
			EXPECT_EQ(t.err, errno) << t.size;
			continue;
		}
		// Reads and writes up to the class size; one more is refused.
		int n = zs_class_stats(zs, nullptr, 0);
		std::vector<zs_class_stat> cs(static_cast<size_t>(n));
		zs_class_stats(zs, cs.data(), cs.size());
		size_t cls = 0;
		for (const zs_class_stat &s : cs)
			if (s.size >= t.size) {
				cls = s.size;
				break;
			}
		ASSERT_GE(cls, t.size);
		std::vector<uint8_t> buf(cls + 1, 0x3c);
		EXPECT_EQ(0, zs_obj_write(zs, h, buf.data(), cls));
		EXPECT_EQ(-EINVAL, zs_obj_write(zs, h, buf.data(), cls + 1));
		const void *p = zs_obj_read_begin(zs, h, cls, buf.data());
		ASSERT_NE(nullptr, p);
		EXPECT_EQ(0, std::memcmp(p, std::vector<uint8_t>(cls, 0x3c).data(), cls));
		EXPECT_EQ(0, zs_obj_read_end(zs, h, p));
		errno = 0;
		EXPECT_EQ(nullptr, zs_obj_read_begin(zs, h, cls + 1, buf.data()));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(0, zs_free(zs, h));
	}
	errno = 0;
	EXPECT_EQ(0u, zs_malloc(zs, 10, ZS_NOGROW << 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0u, zs_check(zs));
	zs_destroy_pool(zs);
}

// ---- threads that exit holding mappings --------------------------------

// The header: "a thread that exits holding mappings ends them as
// zs_unmap_object() would (writes kept)". (The old design dropped them,
// a copy's writes lost.)
TEST(ThreadExit, ZsMappingsEndAsUnmapWould)
{
	for (zs_map_method m : { ZS_MAP_DEFAULT, ZS_MAP_COPY, ZS_MAP_REMAP }) {
		SCOPED_TRACE(m);
		zs_config cfg{};
		cfg.map_method = m;
		cfg.name = "exiting";
		zs_pool *pool = zs_create_pool_config(&cfg);
		ASSERT_NE(nullptr, pool);
		// 1500-byte objects: some straddle pages (copied or windowed in the
		// scattered layout), some do not (in place). A spacer page between
		// each two of their pages, so that the scattered layout's straddlers
		// are really copied or windowed.
		std::vector<zs_handle> hs, spacers;
		for (int i = 0; i < 12; i++) {
			size_t pages = zs_get_total_pages(pool);
			hs.push_back(zs_malloc(pool, 1500, 0));
			ASSERT_NE(0u, hs.back());
			ASSERT_TRUE(stress::zs_write(pool, hs.back(), 1500, 100 + i, 0));
			if (zs_get_total_pages(pool) != pages) {
				spacers.push_back(zs_malloc(pool, stress::page_size(), 0));
				ASSERT_NE(0u, spacers.back());
			}
		}
		for (size_t first = 0; first + 4 <= hs.size(); first += 4) {
			std::thread t([&] {
				// RW and WO maps written with new bytes, a read, an RO map: all
				// left held when the thread ends.
				void *p0 = zs_map_object(pool, hs[first], ZS_MM_RW);
				void *p1 = zs_map_object(pool, hs[first + 1], ZS_MM_WO);
				uint8_t local[1500];
				const void *p2 = zs_obj_read_begin(pool, hs[first + 2], 1500,
								   local);
				void *p3 = zs_map_object(pool, hs[first + 3], ZS_MM_RO);
				ASSERT_NE(nullptr, p0);
				ASSERT_NE(nullptr, p1);
				ASSERT_NE(nullptr, p2);
				ASSERT_NE(nullptr, p3);
				stress::fill(p0, 1500, 900 + first);
				stress::fill(p1, 1500, 901 + first);
			});
			t.join();
		}
		// Nothing is still mapped: free and destroy work. What the RW and WO
		// maps wrote is in their objects; the others hold their old bytes.
		for (size_t i = 0; i < hs.size(); i++) {
			zs_handle h = hs[i];
			uint64_t want = i % 4 < 2 ? 900 + i : 100 + i;
			for (int how = 0; how < 3; how++)
				EXPECT_TRUE(stress::zs_same(pool, h, 1500, want, how))
					<< "object " << i << " read by path " << how
					<< (i % 4 < 2 ? ": a write was lost" : ": changed");
		}
		EXPECT_EQ(0u, zs_check(pool));
		zs_compact(pool); // no stale pin keeps anything
		EXPECT_EQ(0u, zs_check(pool));
		for (zs_handle h : hs)
			EXPECT_EQ(0, zs_free(pool, h));
		for (zs_handle h : spacers)
			EXPECT_EQ(0, zs_free(pool, h));
		zs_compact(pool); // and the cache of emptied zspages
		EXPECT_EQ(0u, zs_get_total_pages(pool));
		zs_destroy_pool(pool); // must not abort: the exited thread holds none
	}
}

// Two pages of @src that are not neighbours (a page between them stays
// allocated), so that a two-page map of them needs a window or a copy.
void alloc_apart(mp_source *src, uint32_t *a, uint32_t *b)
{
	uint32_t gap;
	ASSERT_EQ(0, mp_alloc_page(src, a));
	ASSERT_EQ(0, mp_alloc_page(src, &gap));
	ASSERT_EQ(0, mp_alloc_page(src, b));
}

TEST(ThreadExit, PageSourceWindowsAndBuffersAreReleased)
{
	mp_config shared{};
	shared.backing = MP_BACKING_SHARED; // remap windows
	mp_source *src = mp_create(&shared);
	ASSERT_NE(nullptr, src);
	const uint32_t page = static_cast<uint32_t>(stress::page_size());
	uint32_t a, b;
	ASSERT_NO_FATAL_FAILURE(alloc_apart(src, &a, &b));
	stress::fill(mp_kmap(src, a), page, 1);
	stress::fill(mp_kmap(src, b), page, 2);
	for (int round = 0; round < 50; round++) { // leaks would add up
		std::thread t([&] {
			void *w = mp_map_pair(src, a, b, page - 10, 20, MP_RO, MP_REMAP, 1);
			void *c = mp_map_pair(src, a, b, page - 10, 20, MP_RW, MP_COPY, 2);
			ASSERT_NE(nullptr, w);
			ASSERT_NE(nullptr, c);
			std::memset(c, 0x99, 20); // never copied back: the thread ends
		});
		t.join();
	}
	EXPECT_TRUE(stress::same(mp_kmap(src, a), page, 1));
	EXPECT_TRUE(stress::same(mp_kmap(src, b), page, 2));
	mp_destroy(src);
}

// ---- destroying pools ------------------------------------------------------

size_t open_fds()
{
	size_t n = 0;
	if (DIR *d = opendir("/proc/self/fd")) {
		while (readdir(d))
			n++;
		closedir(d);
	}
	return n;
}

TEST(Destroy, OnePoolWhileAnotherIsMapped)
{
	zs_pool *a = zs_create_pool("kept");
	zs_pool *b = zs_create_pool("destroyed");
	ASSERT_NE(nullptr, a);
	ASSERT_NE(nullptr, b);
	zs_handle ha = zs_malloc(a, 3000, 0);
	zs_handle hb = zs_malloc(b, 3000, 0);
	ASSERT_TRUE(stress::zs_write(a, ha, 3000, 5, 0));
	ASSERT_TRUE(stress::zs_write(b, hb, 3000, 6, 0));
	void *p = zs_map_object(a, ha, ZS_MM_RW);
	ASSERT_NE(nullptr, p);
	zs_destroy_pool(b); // b has live objects, no mapping: fine
	EXPECT_TRUE(stress::same(p, 3000, 5));
	zs_unmap_object(a, ha);
	EXPECT_TRUE(stress::zs_same(a, ha, 3000, 5, 0));
	EXPECT_EQ(0u, zs_check(a));
	zs_destroy_pool(a);
}

TEST(Destroy, PoolsWithLiveObjectsGiveEverythingBack)
{
	const size_t fds = open_fds();
	for (int round = 0; round < 20; round++) {
		zs_pool *zs = zs_create_pool("live");
		xv_pool *xv = xv_create_pool();
		mp_source *src = mp_create(nullptr);
		ASSERT_NE(nullptr, zs);
		ASSERT_NE(nullptr, xv);
		ASSERT_NE(nullptr, src);
		Rng r(round);
		for (int i = 0; i < 300; i++) {
			ASSERT_NE(0u, zs_malloc(zs, stress::compressed_size(r, 4096), 0));
			uint32_t pfn, off;
			ASSERT_EQ(0, xv_malloc(xv,
					       static_cast<uint32_t>(
						       stress::compressed_size(r, xv_max_size())),
					       &pfn, &off, 0));
		}
		zs_compact(zs);
		uint32_t pfn;
		ASSERT_EQ(0, mp_alloc_page(src, &pfn));
		zs_destroy_pool(zs);
		xv_destroy_pool(xv);
		mp_destroy(src);
	}
	EXPECT_EQ(fds, open_fds()) << "a memfd was left open";
}

// ---- defects found by the fuzzers: regression tests -------------------------

// mapping.h promises for mp_unmap_pair(): "-EINVAL ... if one of the pages
// was freed while mapped (the mapping ends; nothing is written)". A copy
// mapping whose page is freed and then allocated again (to another owner)
// before the unmap passes the validity check and writes its stale bytes
// into the new owner's page. Found by //tests/fuzz:mapping_fuzz; fixed by a
// per-page generation, bumped by every free and compared at unmap.
TEST(MappingMisuse, CopyBackIntoAPageAllocatedAgain)
{
	mp_source *src = mp_create(nullptr);
	ASSERT_NE(nullptr, src);
	const uint32_t page = static_cast<uint32_t>(stress::page_size());
	uint32_t a, b;
	ASSERT_NO_FATAL_FAILURE(alloc_apart(src, &a, &b));
	uint8_t *p = static_cast<uint8_t *>(
		mp_map_pair(src, a, b, page - 8, 16, MP_RW, MP_COPY, 7));
	ASSERT_NE(nullptr, p);
	std::memset(p, 0x42, 16);
	ASSERT_EQ(0, mp_free_page(src, b)); // freed while mapped...
	uint32_t again;
	ASSERT_EQ(0, mp_alloc_page(src, &again)); // ...and handed out again
	ASSERT_EQ(b, again);
	stress::fill(mp_kmap(src, again), page, 77); // the new owner's bytes
	EXPECT_EQ(-EINVAL, mp_unmap_pair(src, 7));
	EXPECT_TRUE(stress::same(mp_kmap(src, again), page, 77))
		<< "the stale copy landed in the new owner's page";
	mp_destroy(src);
}

} // namespace
