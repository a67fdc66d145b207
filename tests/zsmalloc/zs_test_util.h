// Shared helpers of the zsmalloc tests: pools that clean up, and
// reading/writing objects of seeded contents (tests/common/content.h)
// through every access path.
#ifndef ZSALLOC_TESTS_ZSMALLOC_ZS_TEST_UTIL_H
#define ZSALLOC_TESTS_ZSMALLOC_ZS_TEST_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/content.h"
#include "zsmalloc/zsmalloc.h"

namespace zs_test
{

struct PoolDeleter {
	void operator()(zs_pool *p) const
	{
		zs_destroy_pool(p);
	}
};
using Pool = std::unique_ptr<zs_pool, PoolDeleter>;

// A pool's configuration as most tests want it: @method COPY or REMAP with
// the default layout selects ZS_LAYOUT_SCATTERED (the header), DEFAULT the
// contiguous layout.
inline zs_config pool_config(unsigned chain = 0, zs_map_method method = ZS_MAP_DEFAULT,
			     uint64_t max_pages = 0, uint32_t shards = 0)
{
	zs_config cfg = {};
	cfg.name = "test";
	cfg.max_pages_per_zspage = chain;
	cfg.map_method = method;
	cfg.max_pages = max_pages;
	cfg.shards = shards;
	return cfg;
}

inline Pool make_pool(const zs_config &cfg)
{
	return Pool(zs_create_pool_config(&cfg));
}

inline Pool make_pool(unsigned chain = 0, zs_map_method method = ZS_MAP_DEFAULT,
		      uint64_t max_pages = 0, uint32_t shards = 0)
{
	return make_pool(pool_config(chain, method, max_pages, shards));
}

// A pool in which only zs_compact() moves objects (no automatic
// compaction): for tests that hold objects to the places and pages the
// allocation order gives them.
inline Pool make_still_pool(unsigned chain = 0, zs_map_method method = ZS_MAP_DEFAULT,
			    uint64_t max_pages = 0, uint32_t shards = 0)
{
	zs_config cfg = pool_config(chain, method, max_pages, shards);
	cfg.no_auto_compact = 1;
	return make_pool(cfg);
}

// The three ways a pool can show an object's bytes: the contiguous layout
// (every object in place), and the scattered layout with straddlers copied
// or remapped (selected by the map method alone, layout DEFAULT).
struct Access {
	zs_map_method method;
	const char *name;
};

inline std::vector<Access> accesses()
{
	return { { ZS_MAP_DEFAULT, "contiguous" },
		 { ZS_MAP_COPY, "scattered copy" },
		 { ZS_MAP_REMAP, "scattered remap" } };
}

// Write @len seeded bytes into object @h, through the path @how picks:
// 0: zs_obj_write, 1: map WO, 2: map RW.
inline bool write_object(zs_pool *pool, zs_handle h, uint64_t seed, size_t len, int how)
{
	std::vector<uint8_t> v = test_content::bytes(seed, len);
	if (how == 0)
		return zs_obj_write(pool, h, v.data(), len) == 0;
	void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_WO : ZS_MM_RW);
	if (!p)
		return false;
	memcpy(p, v.data(), len);
	zs_unmap_object(pool, h);
	return true;
}

// Check that object @h holds @len seeded bytes, through the path @how picks:
// 0: zs_obj_read_begin/end, 1: map RO, 2: map RW (and write nothing).
inline bool check_object(zs_pool *pool, zs_handle h, uint64_t seed, size_t len, int how)
{
	std::vector<uint8_t> want = test_content::bytes(seed, len), buf(len);
	const void *p;
	if (how == 0)
		p = zs_obj_read_begin(pool, h, len, buf.data());
	else
		p = zs_map_object(pool, h, how == 1 ? ZS_MM_RO : ZS_MM_RW);
	if (!p)
		return false;
	bool same = memcmp(p, want.data(), len) == 0;
	if (how == 0)
		same &= zs_obj_read_end(pool, h, p) == 0;
	else
		zs_unmap_object(pool, h);
	return same;
}

// check_object() through all three paths.
inline bool check_object_all(zs_pool *pool, zs_handle h, uint64_t seed, size_t len)
{
	return check_object(pool, h, seed, len, 0) && check_object(pool, h, seed, len, 1) &&
	       check_object(pool, h, seed, len, 2);
}

// "" if object @h holds @len seeded bytes through every path; else what
// each path saw: NULL and errno, or the first and the number of bad bytes.
inline std::string explain_object(zs_pool *pool, zs_handle h, uint64_t seed, size_t len)
{
	static const char *const names[] = { "read_begin", "map RO", "map RW" };
	std::string out;
	std::vector<uint8_t> want = test_content::bytes(seed, len), buf(len);
	for (int how = 0; how < 3; how++) {
		errno = 0;
		const uint8_t *p = static_cast<const uint8_t *>(
			how == 0 ? zs_obj_read_begin(pool, h, len, buf.data())
				 : zs_map_object(pool, h, how == 1 ? ZS_MM_RO : ZS_MM_RW));
		if (!p) {
			out += std::string(names[how]) + ": NULL, " + strerror(errno) + "; ";
			continue;
		}
		size_t bad = 0, first = 0;
		for (size_t i = 0; i < len; i++)
			if (p[i] != want[i] && !bad++)
				first = i;
		if (bad) {
			char line[160];
			snprintf(line, sizeof(line),
				 "%s: %zu of %zu bytes wrong from byte %zu (0x%02x, want 0x%02x); ",
				 names[how], bad, len, first, p[first], want[first]);
			out += line;
		}
		if (how == 0)
			zs_obj_read_end(pool, h, p);
		else
			zs_unmap_object(pool, h);
	}
	return out;
}

// "" if @h is refused as a bad handle by every call that validates it
// first: zs_map_object() and zs_obj_read_begin() (NULL, errno EINVAL) and
// zs_obj_read_sg_begin() (-EINVAL), each asked for @len bytes; else what
// each call that did otherwise did.
inline std::string refused_as_bad(zs_pool *pool, zs_handle h, size_t len)
{
	std::ostringstream o;
	std::vector<uint8_t> buf(len);
	zs_segment seg[ZS_MAX_SEGMENTS];
	errno = 0;
	void *m = zs_map_object(pool, h, ZS_MM_RO);
	if (m || errno != EINVAL)
		o << "map: " << m << ", errno " << errno << "; ";
	errno = 0;
	void *r = zs_obj_read_begin(pool, h, len, buf.data());
	if (r || errno != EINVAL)
		o << "read_begin: " << r << ", errno " << errno << "; ";
	int n = zs_obj_read_sg_begin(pool, h, len, seg, ZS_MAX_SEGMENTS);
	if (n != -EINVAL)
		o << "read_sg_begin: " << n << "; ";
	return o.str();
}

// A seed from the environment (ZS_TEST_SEED) or @fallback.
inline uint64_t test_seed(uint64_t fallback)
{
	const char *s = getenv("ZS_TEST_SEED");
	return s ? strtoull(s, nullptr, 0) : fallback;
}

// ---- Beyond the model test: objects, class tables, snapshots ------------

inline size_t page_size()
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

// The spacing of the size classes: 8 bytes for 4 KiB pages.
inline size_t class_delta()
{
	return page_size() >> 9;
}

// @size rounded up to a multiple of @to.
inline size_t round_up(size_t size, size_t to)
{
	return (size + to - 1) / to * to;
}

// A size like that of a compressed page, drawn from @rng: one in 8 tiny
// (1..128), one in 8 near a page, one in 8 anything up to a page, the rest
// 200..2999. With @multi_page, one in 16 of the "up to a page" draws
// spans two to four pages instead.
inline size_t compressed_size(std::mt19937_64 &rng, bool multi_page = false)
{
	const size_t page = page_size();
	switch (rng() % 8) {
	case 0:
		return 1 + rng() % 128;
	case 1:
		return page - rng() % 400;
	case 2:
		if (multi_page && rng() % 16 == 0)
			return page + 1 + rng() % (3 * page);
		return 1 + rng() % page;
	default:
		return 200 + rng() % 2800;
	}
}

// A live object as the tests track it.
struct Obj {
	zs_handle h;
	size_t size;   // bytes requested (and written)
	uint64_t seed; // its contents: test_content::bytes(seed, size)
};

// Every object of @objs holds its bytes, read through path @how (0..2, or
// 3: all three). Returns the index of the first bad object, or -1.
inline long first_bad(zs_pool *pool, const std::vector<Obj> &objs, int how)
{
	for (size_t i = 0; i < objs.size(); i++) {
		const Obj &o = objs[i];
		bool ok = how == 3 ? check_object_all(pool, o.h, o.seed, o.size)
				   : check_object(pool, o.h, o.seed, o.size, how);
		if (!ok)
			return (long)i;
	}
	return -1;
}

inline zs_stats pool_stats(zs_pool *pool)
{
	zs_stats st;
	zs_pool_stats(pool, &st);
	return st;
}

inline std::vector<zs_class_stat> class_stats(zs_pool *pool)
{
	int n = zs_class_stats(pool, nullptr, 0);
	std::vector<zs_class_stat> v(n > 0 ? (size_t)n : 0);
	if (n > 0)
		zs_class_stats(pool, v.data(), v.size());
	return v;
}

// Pages held by the classes (zs_class_stat.pages_used summed): the pool's
// pages but for the cached ones.
inline uint64_t class_pages(zs_pool *pool)
{
	uint64_t n = 0;
	for (const zs_class_stat &c : class_stats(pool))
		n += c.pages_used;
	return n;
}

// "" if @pool holds no object and no page but those of its cache of
// emptied zspages: zs_get_total_pages() == pages_used == pages_cached, no
// class holds a page, zs_trim() gives exactly the cached pages back, and
// then the pool holds no page at all. Else what is wrong.
inline std::string emptied(zs_pool *pool)
{
	std::ostringstream o;
	zs_stats st = pool_stats(pool);
	size_t total = zs_get_total_pages(pool);
	uint64_t held = class_pages(pool);
	if (st.objects)
		o << st.objects << " objects left; ";
	if (st.pages_used != total)
		o << "pages_used " << st.pages_used << " != total " << total << "; ";
	if (total != st.pages_cached)
		o << total << " pages, " << st.pages_cached << " of them cached; ";
	if (held)
		o << "the classes hold " << held << " pages; ";
	size_t trimmed = zs_trim(pool);
	if (trimmed != st.pages_cached)
		o << "zs_trim() gave back " << trimmed << " of " << st.pages_cached
		  << " cached pages; ";
	st = pool_stats(pool);
	if (zs_get_total_pages(pool) || st.pages_used || st.pages_cached)
		o << "after zs_trim(): " << zs_get_total_pages(pool) << " pages, "
		  << st.pages_cached << " cached; ";
	return o.str();
}

// Position in @cs of the class that stores objects of @size bytes, or -1.
inline int class_for(const std::vector<zs_class_stat> &cs, size_t size)
{
	for (size_t i = 0; i < cs.size(); i++)
		if (cs[i].merged_from <= round_up(size, class_delta()) && size <= cs[i].size)
			return (int)i;
	return -1;
}

// The size of the class that holds @size in a pool of @chain (0: default).
inline size_t class_size(size_t size, unsigned chain = 0)
{
	Pool probe = make_pool(chain);
	std::vector<zs_class_stat> cs = class_stats(probe.get());
	return cs[(size_t)class_for(cs, size)].size;
}

// Pages a zspage of a class of @size needs to hold objects 0..@idx.
inline uint64_t pages_for(uint64_t idx, uint64_t size, uint64_t page = 4096)
{
	return ((idx + 1) * size + page - 1) / page;
}

// 1 if object @idx of a class of @size crosses a page boundary.
inline bool straddles(uint64_t idx, uint64_t size, uint64_t page = 4096)
{
	return (idx * size) / page != ((idx + 1) * size - 1) / page;
}

// Everything a caller can observe of a pool's state, to compare before and
// after a call that must change nothing.
struct Snapshot {
	size_t total_pages;
	zs_stats stats;
	std::vector<zs_class_stat> classes;
};

inline Snapshot snapshot(zs_pool *pool)
{
	Snapshot s;
	s.total_pages = zs_get_total_pages(pool);
	zs_pool_stats(pool, &s.stats);
	s.classes = class_stats(pool);
	return s;
}

// What differs between two snapshots ("" when nothing does). With
// @reservations false, the slot-table and record sizes (handles_reserved,
// metadata_bytes) are not compared: they are capacity, not contents.
inline std::string diff(const Snapshot &a, const Snapshot &b, bool reservations = true)
{
	std::ostringstream o;
#define ZS_DIFF(name, x, y)                                                    \
	do {                                                                   \
		if ((x) != (y))                                                \
			o << name << ": " << (unsigned long long)(x) << " -> " \
			  << (unsigned long long)(y) << "; ";                  \
	} while (0)
	ZS_DIFF("total_pages", a.total_pages, b.total_pages);
	ZS_DIFF("stats.pages_used", a.stats.pages_used, b.stats.pages_used);
	ZS_DIFF("stats.objects", a.stats.objects, b.stats.objects);
	ZS_DIFF("stats.pages_compacted", a.stats.pages_compacted, b.stats.pages_compacted);
	ZS_DIFF("stats.objects_moved", a.stats.objects_moved, b.stats.objects_moved);
	ZS_DIFF("stats.pages_cached", a.stats.pages_cached, b.stats.pages_cached);
	ZS_DIFF("stats.auto_compactions", a.stats.auto_compactions, b.stats.auto_compactions);
	if (reservations) {
		ZS_DIFF("stats.metadata_bytes", a.stats.metadata_bytes, b.stats.metadata_bytes);
		ZS_DIFF("stats.handles_reserved", a.stats.handles_reserved,
			b.stats.handles_reserved);
	}
	ZS_DIFF("nr classes", a.classes.size(), b.classes.size());
	for (size_t i = 0; i < a.classes.size() && i < b.classes.size(); i++) {
		const zs_class_stat &x = a.classes[i], &y = b.classes[i];
		std::string c = "class " + std::to_string(x.size) + " ";
		ZS_DIFF(c + "obj_allocated", x.obj_allocated, y.obj_allocated);
		ZS_DIFF(c + "obj_used", x.obj_used, y.obj_used);
		ZS_DIFF(c + "pages_used", x.pages_used, y.pages_used);
		ZS_DIFF(c + "freeable", x.freeable, y.freeable);
		for (int g = 0; g < ZS_NR_FULLNESS; g++)
			ZS_DIFF(c + "zspages[" + std::to_string(g) + "]", x.zspages[g],
				y.zspages[g]);
	}
#undef ZS_DIFF
	return o.str();
}

// The fewest pages a class can hold its live objects in: full zspages and
// one densely packed partial one.
inline uint64_t min_pages(const zs_class_stat &c, uint64_t page = 4096)
{
	uint64_t full = c.obj_used / c.objs_per_zspage, rest = c.obj_used % c.objs_per_zspage;
	return full * c.pages_per_zspage + (rest ? pages_for(rest - 1, c.size, page) : 0);
}

// zspages of a class that are neither empty nor full.
inline uint64_t partial_zspages(const zs_class_stat &c)
{
	uint64_t n = 0;
	for (int g = 1; g < ZS_NR_FULLNESS - 1; g++)
		n += c.zspages[g];
	return n;
}

inline uint64_t total_zspages(const zs_class_stat &c)
{
	uint64_t n = 0;
	for (int g = 0; g < ZS_NR_FULLNESS; g++)
		n += c.zspages[g];
	return n;
}

} // namespace zs_test

#endif
