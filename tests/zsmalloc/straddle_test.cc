// Objects that straddle page boundaries. For every class up to a page and a
// sample of those above it (and in depth for a few with long chains) a
// whole zspage is filled, and every object that crosses a page boundary is
// written through one path and read through the others, in the contiguous
// layout (every object in place) and the scattered one under ZS_MAP_COPY
// and ZS_MAP_REMAP, with the zspage's pages adjacent in the page source or
// deliberately not (a spacer page taken between each two, so that the
// scattered paths need a real copy or window). Its neighbours hold guard
// contents that must never change. The map modes are held to their
// contract: RO (a copy: writes through the pointer are lost; in place: they
// land), WO (what is written lands), RW (old bytes visible, new ones land).
#include <errno.h>
#include <stdint.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

const size_t kPage = zs_test::page_size();

// One zspage of a class, filled: objs[i] is object i of the zspage.
struct Zspage {
	Pool pool;
	zs_class_stat cls{};
	std::vector<Obj> objs;
	std::vector<zs_handle> spacers;
	bool ok = false;

	// @size must be a class size. With @spaced, a page of another class
	// is taken before each page the zspage grows by.
	Zspage(size_t size, zs_map_method method, bool spaced)
	{
		pool = make_pool(0, method);
		if (!pool)
			return;
		auto cs = zs_test::class_stats(pool.get());
		int c = zs_test::class_for(cs, size);
		if (c < 0 || cs[(size_t)c].size != size)
			return;
		cls = cs[(size_t)c];
		// A spacer of another class, a page each.
		size_t spacer = zs_test::class_for(cs, kPage) == c ? 2000 : kPage;
		for (uint64_t i = 0; i < cls.objs_per_zspage; i++) {
			bool grows = i == 0 || zs_test::pages_for(i, size, kPage) >
						       zs_test::pages_for(i - 1, size, kPage);
			if (spaced && grows && i > 0) {
				size_t pages = zs_get_total_pages(pool.get());
				while (zs_get_total_pages(pool.get()) == pages) {
					zs_handle s = zs_malloc(pool.get(), spacer, 0);
					if (!s)
						return;
					spacers.push_back(s);
				}
			}
			zs_handle h = zs_malloc(pool.get(), size, 0);
			if (!h)
				return;
			// Guard contents: distinct per object and per run.
			objs.push_back({ h, size, size * 100000 + i + 1 });
			if (!write_object(pool.get(), h, objs.back().seed, size, 0))
				return;
		}
		auto after = zs_test::class_stats(pool.get());
		ok = zs_test::total_zspages(after[(size_t)c]) == 1 &&
		     after[(size_t)c].obj_used == cls.objs_per_zspage &&
		     after[(size_t)c].pages_used == cls.pages_per_zspage;
	}
	zs_pool *p()
	{
		return pool.get();
	}
	// The neighbours of object @i (and @i itself unless @self is false)
	// hold their contents; returns a description of the first that does not.
	std::string neighbours_ok(size_t i, bool self = true)
	{
		for (size_t k = i ? i - 1 : 0; k <= i + 1 && k < objs.size(); k++) {
			if (k == i && !self)
				continue;
			if (!check_object(p(), objs[k].h, objs[k].seed, objs[k].size, 0))
				return "object " + std::to_string(k);
		}
		return "";
	}
};

const char *kWrite[] = { "obj_write", "map WO", "map RW" };
const char *kRead[] = { "read_begin", "map RO", "map RW" };

// 1 if @m, a mapping of object @h of @size bytes, is the object's own
// bytes (the one segment zs_obj_read_sg_begin() finds), not a copy.
bool in_place(zs_pool *p, zs_handle h, size_t size, const void *m)
{
	zs_segment seg[ZS_MAX_SEGMENTS];
	int n = zs_obj_read_sg_begin(p, h, size, seg, ZS_MAX_SEGMENTS);
	bool same = n == 1 && seg[0].addr == m;
	if (n > 0)
		zs_obj_read_sg_end(p, h);
	return same;
}

// Every class up to a page, and every 16th class above it and the last.
std::vector<zs_class_stat> classes_to_fill(const std::vector<zs_class_stat> &cs)
{
	std::vector<zs_class_stat> v;
	size_t above = 0;
	for (size_t i = 0; i < cs.size(); i++)
		if (cs[i].size <= kPage || above++ % 16 == 0 || i + 1 == cs.size())
			v.push_back(cs[i]);
	return v;
}

const char *method_name(zs_map_method m)
{
	return m == ZS_MAP_DEFAULT ? "contiguous" : m == ZS_MAP_COPY ? "copy" : "remap";
}

// Every straddling object of one zspage: each write path, then each read
// path; neighbours untouched throughout.
void every_path(Zspage &z, uint64_t *nseed, int *straddlers)
{
	for (size_t i = 0; i < z.objs.size(); i++) {
		if (!straddles(i, z.cls.size, kPage))
			continue;
		++*straddlers;
		Obj &o = z.objs[i];
		for (int w = 0; w < 3; w++) {
			uint64_t seed = (*nseed)++;
			ASSERT_TRUE(write_object(z.p(), o.h, seed, o.size, w))
				<< "object " << i << " " << kWrite[w];
			o.seed = seed;
			for (int r = 0; r < 3; r++) {
				ASSERT_TRUE(check_object(z.p(), o.h, seed, o.size, r))
					<< "object " << i << " written by " << kWrite[w]
					<< ", read by " << kRead[r];
			}
			ASSERT_EQ(z.neighbours_ok(i), "")
				<< "after writing object " << i << " by " << kWrite[w];
		}
	}
}

// Every class up to a page and a sample above it, one full zspage each, in
// every layout and method, pages adjacent or not (the contiguous layout's
// pages are consecutive whatever else is allocated: spacing it tests
// nothing more).
TEST(Straddle, EveryClassEveryBoundary)
{
	Pool probe = make_pool();
	auto cs = classes_to_fill(zs_test::class_stats(probe.get()));
	for (zs_map_method method : { ZS_MAP_DEFAULT, ZS_MAP_COPY, ZS_MAP_REMAP }) {
		for (bool spaced : { false, true }) {
			if (spaced && method == ZS_MAP_DEFAULT)
				continue;
			int straddlers = 0;
			uint64_t nseed = 1u << 30;
			for (const zs_class_stat &c : cs) {
				SCOPED_TRACE("class " + std::to_string(c.size) + " " +
					     method_name(method) + (spaced ? " spaced" : ""));
				Zspage z(c.size, method, spaced);
				ASSERT_TRUE(z.ok) << "could not fill one zspage";
				every_path(z, &nseed, &straddlers);
				if (HasFatalFailure())
					return;
				ASSERT_EQ(zs_check(z.p()), 0u);
				ASSERT_EQ(zs_test::first_bad(z.p(), z.objs, 1), -1);
			}
			printf("%s %s: %d straddling objects in %zu classes\n", method_name(method),
			       spaced ? "spaced" : "adjacent", straddlers, cs.size());
			EXPECT_GT(straddlers, 1000);
		}
	}
}

// The classes with the longest chains, in depth.
std::vector<size_t> deep_classes()
{
	Pool probe = make_pool();
	std::vector<size_t> v;
	auto cs = zs_test::class_stats(probe.get());
	// Small, middling and large objects, long chains, some merged.
	for (size_t want : { (size_t)208, (size_t)720, (size_t)1008, (size_t)1392, (size_t)2448,
			     (size_t)3264, (size_t)3840 }) {
		int c = zs_test::class_for(cs, want);
		if (c >= 0 && cs[(size_t)c].pages_per_zspage >= 9)
			v.push_back(cs[(size_t)c].size);
	}
	return v;
}

TEST(Straddle, DeepClassesExist)
{
	EXPECT_GE(deep_classes().size(), 5u);
}

// The contiguous layout shows every object in place, back to back with its
// neighbours as the zspage holds them, however the pool's other pages were
// taken (spaced): map and read_begin return the same pointer, never a copy.
TEST(Straddle, ContiguousObjectsAreInPlace)
{
	for (size_t size : deep_classes()) {
		Zspage z(size, ZS_MAP_DEFAULT, true);
		ASSERT_TRUE(z.ok);
		std::vector<uint8_t> buf(size);
		for (size_t i = 1; i < z.objs.size(); i++) {
			uint8_t *prev = (uint8_t *)zs_map_object(z.p(), z.objs[i - 1].h, ZS_MM_RO);
			uint8_t *cur = (uint8_t *)zs_map_object(z.p(), z.objs[i].h, ZS_MM_RW);
			const void *r = zs_obj_read_begin(z.p(), z.objs[i].h, size, buf.data());
			ASSERT_TRUE(prev && cur && r);
			EXPECT_EQ(prev + size, cur) << "class " << size << " object " << i;
			EXPECT_EQ(r, (const void *)cur) << "class " << size << " object " << i;
			EXPECT_TRUE(in_place(z.p(), z.objs[i].h, size, cur));
			EXPECT_TRUE(test_content::same(cur, size, z.objs[i].seed));
			EXPECT_EQ(zs_obj_read_end(z.p(), z.objs[i].h, r), 0);
			zs_unmap_object(z.p(), z.objs[i].h);
			zs_unmap_object(z.p(), z.objs[i - 1].h);
		}
	}
}

// In spaced pools the remap path must really use a window: the straddling
// object does not sit right after its in-page neighbour in memory. (A
// precondition of the tests below, not a promise of the header.)
TEST(Straddle, SpacedPagesAreNotAdjacent)
{
	for (size_t size : deep_classes()) {
		Zspage z(size, ZS_MAP_REMAP, true);
		ASSERT_TRUE(z.ok);
		for (size_t i = 1; i < z.objs.size(); i++) {
			if (!straddles(i, size, kPage))
				continue;
			uint8_t *prev = (uint8_t *)zs_map_object(z.p(), z.objs[i - 1].h, ZS_MM_RO);
			uint8_t *cur = (uint8_t *)zs_map_object(z.p(), z.objs[i].h, ZS_MM_RO);
			ASSERT_TRUE(prev && cur);
			EXPECT_NE(prev + size, cur) << "class " << size << " object " << i;
			EXPECT_TRUE(test_content::same(cur, size, z.objs[i].seed));
			zs_unmap_object(z.p(), z.objs[i].h);
			zs_unmap_object(z.p(), z.objs[i - 1].h);
		}
	}
}

struct Param {
	zs_map_method method;
	bool spaced;
};

void PrintTo(const Param &prm, std::ostream *os)
{
	*os << method_name(prm.method) << (prm.spaced ? ", spaced pages" : ", adjacent pages");
}

class StraddleModes : public ::testing::TestWithParam<Param>
{
};

// For each deep class: a zspage of it in @prm's method and spacing,
// @body(z, size) on it, then the whole zspage checked: zs_check(), and every
// object's bytes through every path. Stops at the first fatal failure.
template <typename F> void each_deep_zspage(const Param &prm, F body)
{
	for (size_t size : deep_classes()) {
		SCOPED_TRACE("class " + std::to_string(size));
		Zspage z(size, prm.method, prm.spaced);
		ASSERT_TRUE(z.ok);
		body(z, size);
		if (::testing::Test::HasFatalFailure())
			return;
		EXPECT_EQ(zs_check(z.p()), 0u);
		EXPECT_EQ(zs_test::first_bad(z.p(), z.objs, 3), -1);
	}
}

// @body(z, i, size) for each object i of each deep zspage (above) that
// straddles a page boundary.
template <typename F> void each_deep_straddler(const Param &prm, F body)
{
	each_deep_zspage(prm, [&](Zspage &z, size_t size) {
		for (size_t i = 0; i < z.objs.size(); i++) {
			if (!straddles(i, size, kPage))
				continue;
			body(z, i, size);
			if (::testing::Test::HasFatalFailure())
				return;
		}
	});
}

// RO: the object shows its bytes; writes through the pointer are lost when
// it is a copy (copy mode, pages not consecutive), land when it is the
// object's own bytes (the contiguous layout always; copy mode when the
// pages happen to be consecutive), "may be lost" with remap; neighbours
// never change.
TEST_P(StraddleModes, ReadOnly)
{
	const Param prm = GetParam();
	each_deep_straddler(prm, [&](Zspage &z, size_t i, size_t size) {
		Obj &o = z.objs[i];
		uint8_t *m = (uint8_t *)zs_map_object(z.p(), o.h, ZS_MM_RO);
		ASSERT_NE(m, nullptr);
		ASSERT_TRUE(test_content::same(m, size, o.seed)) << "object " << i;
		const bool own = in_place(z.p(), o.h, size, m);
		if (prm.method == ZS_MAP_DEFAULT) {
			ASSERT_TRUE(own) << "object " << i << ": the contiguous layout copied";
		}
		if (prm.method == ZS_MAP_COPY && prm.spaced) {
			ASSERT_FALSE(own) << "object " << i << ": spaced pages, no copy";
		}
		memset(m, 0x5a, size);
		zs_unmap_object(z.p(), o.h);
		std::vector<uint8_t> buf(size);
		void *r = zs_obj_read_begin(z.p(), o.h, size, buf.data());
		ASSERT_NE(r, nullptr);
		bool kept = test_content::same(r, size, o.seed);
		bool all_new = true;
		for (size_t k = 0; k < size; k++)
			all_new &= ((uint8_t *)r)[k] == 0x5a;
		ASSERT_EQ(zs_obj_read_end(z.p(), o.h, r), 0);
		if (prm.method != ZS_MAP_REMAP && !own) {
			EXPECT_TRUE(kept)
				<< "object " << i << ": a write through an RO copy landed";
		} else if (prm.method != ZS_MAP_REMAP) {
			EXPECT_TRUE(all_new) << "object " << i << ": a write in place was lost";
		} else {
			EXPECT_TRUE(kept || all_new) << "object " << i << ": half a write";
		}
		ASSERT_EQ(z.neighbours_ok(i, false), "") << "RO write to object " << i;
		ASSERT_TRUE(write_object(z.p(), o.h, o.seed, size, 0));
	});
}

// WO: what is written lands, whatever was there; writing only a part
// leaves the rest of the object undefined but never touches a neighbour.
TEST_P(StraddleModes, WriteOnly)
{
	const Param prm = GetParam();
	uint64_t nseed = 1u << 20;
	each_deep_straddler(prm, [&](Zspage &z, size_t i, size_t size) {
		Obj &o = z.objs[i];
		uint8_t *m = (uint8_t *)zs_map_object(z.p(), o.h, ZS_MM_WO);
		ASSERT_NE(m, nullptr);
		o.seed = nseed++;
		memcpy(m, test_content::bytes(o.seed, size).data(), size);
		zs_unmap_object(z.p(), o.h);
		ASSERT_TRUE(check_object_all(z.p(), o.h, o.seed, size)) << "object " << i;
		ASSERT_EQ(z.neighbours_ok(i), "") << "WO of object " << i;
		// Partial: the first and the last 10 bytes only.
		m = (uint8_t *)zs_map_object(z.p(), o.h, ZS_MM_WO);
		ASSERT_NE(m, nullptr);
		memset(m, 0x11, 10);
		memset(m + size - 10, 0x22, 10);
		zs_unmap_object(z.p(), o.h);
		std::vector<uint8_t> buf(size);
		void *r = zs_obj_read_begin(z.p(), o.h, size, buf.data());
		ASSERT_NE(r, nullptr);
		for (size_t k = 0; k < 10; k++) {
			ASSERT_EQ(((uint8_t *)r)[k], 0x11) << "object " << i;
			ASSERT_EQ(((uint8_t *)r)[size - 10 + k], 0x22) << "object " << i;
		}
		ASSERT_EQ(zs_obj_read_end(z.p(), o.h, r), 0);
		ASSERT_EQ(z.neighbours_ok(i, false), "") << "partial WO of object " << i;
		ASSERT_TRUE(write_object(z.p(), o.h, o.seed, size, 0));
	});
}

// RW: the old bytes are visible, the changes land, both sides of the
// boundary.
TEST_P(StraddleModes, ReadWrite)
{
	const Param prm = GetParam();
	each_deep_straddler(prm, [&](Zspage &z, size_t i, size_t size) {
		Obj &o = z.objs[i];
		std::vector<uint8_t> want = test_content::bytes(o.seed, size);
		uint8_t *m = (uint8_t *)zs_map_object(z.p(), o.h, ZS_MM_RW);
		ASSERT_NE(m, nullptr);
		ASSERT_EQ(memcmp(m, want.data(), size), 0) << "object " << i;
		for (size_t k = 0; k < size; k += 7) {
			m[k] ^= 0xff;
			want[k] ^= 0xff;
		}
		zs_unmap_object(z.p(), o.h);
		for (int r = 0; r < 3; r++) {
			std::vector<uint8_t> buf(size);
			const void *q = r == 0 ? zs_obj_read_begin(z.p(), o.h, size, buf.data())
					       : zs_map_object(z.p(), o.h,
							       r == 1 ? ZS_MM_RO : ZS_MM_RW);
			ASSERT_NE(q, nullptr);
			EXPECT_EQ(memcmp(q, want.data(), size), 0)
				<< "object " << i << " read by " << kRead[r];
			if (r == 0) {
				ASSERT_EQ(zs_obj_read_end(z.p(), o.h, q), 0);
			} else
				zs_unmap_object(z.p(), o.h);
		}
		ASSERT_EQ(z.neighbours_ok(i, false), "") << "RW of object " << i;
		ASSERT_TRUE(write_object(z.p(), o.h, o.seed, size, 0));
	});
}

// Write by one path, read by every other, for the deep classes.
TEST_P(StraddleModes, EveryPathPair)
{
	const Param prm = GetParam();
	uint64_t nseed = 1u << 24;
	int straddlers = 0;
	each_deep_zspage(prm, [&](Zspage &z, size_t) { every_path(z, &nseed, &straddlers); });
	EXPECT_GT(straddlers, 40);
}

// Four straddling objects mapped RW at once (in place, four copy buffers or
// four windows): each shows its own bytes and each write-back lands in its own
// object, whatever order the unmaps come in.
TEST_P(StraddleModes, FourAtOnce)
{
	const Param prm = GetParam();
	uint64_t nseed = 1u << 26;
	each_deep_zspage(prm, [&](Zspage &z, size_t size) {
		std::vector<size_t> idx;
		for (size_t i = 0; i < z.objs.size(); i++)
			if (straddles(i, size, kPage))
				idx.push_back(i);
		ASSERT_GE(idx.size(), 4u);
		for (size_t start = 0; start + 4 <= idx.size(); start++) {
			uint8_t *m[4];
			for (int k = 0; k < 4; k++) {
				Obj &o = z.objs[idx[start + (size_t)k]];
				m[k] = (uint8_t *)zs_map_object(z.p(), o.h, ZS_MM_RW);
				ASSERT_NE(m[k], nullptr);
				ASSERT_TRUE(test_content::same(m[k], size, o.seed));
			}
			for (int k = 0; k < 4; k++) {
				Obj &o = z.objs[idx[start + (size_t)k]];
				o.seed = nseed++;
				memcpy(m[k], test_content::bytes(o.seed, size).data(), size);
			}
			// Unmap in an order that changes with start.
			for (int k = 0; k < 4; k++) {
				int j = (int)((k * 3 + start) % 4);
				zs_unmap_object(z.p(), z.objs[idx[start + (size_t)j]].h);
			}
			for (int k = 0; k < 4; k++) {
				ASSERT_EQ(z.neighbours_ok(idx[start + (size_t)k]), "")
					<< "batch at " << start;
			}
		}
	});
}

INSTANTIATE_TEST_SUITE_P(Methods, StraddleModes,
			 ::testing::Values(Param{ ZS_MAP_DEFAULT, false },
					   Param{ ZS_MAP_DEFAULT, true },
					   Param{ ZS_MAP_COPY, false }, Param{ ZS_MAP_COPY, true },
					   Param{ ZS_MAP_REMAP, false },
					   Param{ ZS_MAP_REMAP, true }),
			 [](const ::testing::TestParamInfo<Param> &pi) {
				 return std::string(pi.param.method == ZS_MAP_DEFAULT ? "Contiguous"
						    : pi.param.method == ZS_MAP_COPY  ? "Copy"
										      : "Remap") +
					(pi.param.spaced ? "Spaced" : "Adjacent");
			 });

} // namespace
