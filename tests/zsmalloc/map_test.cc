// Mappings: zs_map_object/zs_unmap_object and zs_obj_read_begin/end/write.
// Nesting up to ZS_MAX_MAPPINGS and EBUSY past it, nested mappings of one
// object (one view), unmapping what is not mapped, freeing what is mapped,
// the pairing of read_begin and read_end, in-place versus copied reads,
// zs_obj_write's length limits, destroying a pool with a live mapping
// (death test), and a mapping held across compaction (the object is pinned
// where it is). Each in every layout (zs_test::accesses()): contiguous,
// where every access is in place, and scattered, where a straddler is
// copied or remapped unless its pages happen to be consecutive.
#include <errno.h>
#include <stdint.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

const size_t kPage = zs_test::page_size();

// A fresh pool with @n objects of @size (a class size, so that object i of
// the first zspage is the i-th allocated), each holding test_content::bytes(i + 1).
// With @spaced, a page of another class is taken before each page the
// zspage grows by, so that in the scattered layout no two of its pages are
// consecutive (a straddler is then really copied or remapped).
struct Filled {
	Pool pool;
	std::vector<Obj> objs;
	std::vector<zs_handle> spacers;

	Filled(size_t size, size_t n, zs_map_method method = ZS_MAP_COPY, bool spaced = false)
	{
		pool = make_pool(0, method);
		for (size_t i = 0; i < n; i++) {
			if (spaced && i > 0 &&
			    zs_test::pages_for(i, size, kPage) >
				    zs_test::pages_for(i - 1, size, kPage)) {
				size_t pages = zs_get_total_pages(pool.get());
				while (zs_get_total_pages(pool.get()) == pages) {
					zs_handle sp = zs_malloc(pool.get(), kPage, 0);
					if (!sp)
						return;
					spacers.push_back(sp);
				}
			}
			zs_handle h = zs_malloc(pool.get(), size, 0);
			if (!h)
				return;
			objs.push_back({ h, size, i + 1 });
			write_object(pool.get(), h, i + 1, size, (int)(i % 3));
		}
	}
	zs_pool *p()
	{
		return pool.get();
	}
	// Index of the first object that straddles a page boundary.
	size_t first_straddling() const
	{
		for (size_t i = 0; i < objs.size(); i++)
			if (straddles(i, objs[i].size, kPage))
				return i;
		return SIZE_MAX;
	}
	bool intact()
	{
		return zs_test::first_bad(p(), objs, 0) == -1;
	}
};

// Class 1392 (4 KiB pages): objects 0 and 1 in page 0, object 2 straddles
// pages 0 and 1 (1312 bytes in page 0), object 3 in page 1.
const size_t kSize = 1392;

TEST(Map, Geometry)
{
	Filled f(kSize, 8);
	ASSERT_EQ(f.objs.size(), 8u);
	auto cs = zs_test::class_stats(f.p());
	const zs_class_stat &c = cs[(size_t)zs_test::class_for(cs, kSize)];
	ASSERT_EQ(c.size, kSize) << "the tests below assume a class of exactly 1392";
	ASSERT_GE(c.pages_per_zspage, 3u);
	EXPECT_EQ(f.first_straddling(), 2u);
	EXPECT_TRUE(f.intact());
}

// ---- Nesting -------------------------------------------------------------

TEST(Map, NestingUpToFourThenEbusy)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Filled f(kSize, 12, acc.method);
		zs_pool *p = f.p();
		std::vector<Obj> &o = f.objs;
		// Two in-page, two straddling (2 and 5), four modes of access.
		void *m0 = zs_map_object(p, o[0].h, ZS_MM_RO);
		void *m2 = zs_map_object(p, o[2].h, ZS_MM_RW);
		char buf[kSize];
		void *r1 = zs_obj_read_begin(p, o[1].h, kSize, buf);
		void *m5 = zs_map_object(p, o[5].h, ZS_MM_RO);
		ASSERT_TRUE(m0 && m2 && r1 && m5);
		EXPECT_TRUE(test_content::same(m0, kSize, o[0].seed));
		EXPECT_TRUE(test_content::same(m2, kSize, o[2].seed));
		EXPECT_TRUE(test_content::same(r1, kSize, o[1].seed));
		EXPECT_TRUE(test_content::same(m5, kSize, o[5].seed));
		// A fifth: refused, whatever the call, the handle or the pool.
		errno = 0;
		EXPECT_EQ(zs_map_object(p, o[3].h, ZS_MM_RO), nullptr);
		EXPECT_EQ(errno, EBUSY);
		errno = 0;
		EXPECT_EQ(zs_map_object(p, o[0].h, ZS_MM_RO), nullptr);
		EXPECT_EQ(errno, EBUSY);
		errno = 0;
		EXPECT_EQ(zs_obj_read_begin(p, o[4].h, 16, buf), nullptr);
		EXPECT_EQ(errno, EBUSY);
		// A bad handle is refused as bad, not as one too many (the
		// handle is validated first).
		for (zs_handle bad : { (zs_handle)0, o[4].h ^ ((zs_handle)1 << 38), ~(zs_handle)0 })
			EXPECT_EQ(refused_as_bad(p, bad, 16), "") << "handle " << bad;
		Pool other = make_pool();
		zs_handle oh = zs_malloc(other.get(), 100, 0);
		ASSERT_NE(oh, 0u);
		errno = 0;
		EXPECT_EQ(zs_map_object(other.get(), oh, ZS_MM_RW), nullptr);
		EXPECT_EQ(errno, EBUSY);
		// Writes (zs_obj_write) need no mapping.
		EXPECT_TRUE(write_object(p, o[7].h, 77, kSize, 0));
		o[7].seed = 77;
		// The refusals changed none of the live mappings.
		EXPECT_TRUE(test_content::same(m0, kSize, o[0].seed));
		EXPECT_TRUE(test_content::same(m2, kSize, o[2].seed));
		EXPECT_TRUE(test_content::same(m5, kSize, o[5].seed));
		// One ends: one more may begin.
		zs_unmap_object(p, o[5].h);
		void *om = zs_map_object(other.get(), oh, ZS_MM_RW);
		EXPECT_NE(om, nullptr);
		errno = 0;
		EXPECT_EQ(zs_map_object(p, o[3].h, ZS_MM_RO), nullptr);
		EXPECT_EQ(errno, EBUSY);
		zs_unmap_object(other.get(), oh);
		EXPECT_EQ(zs_obj_read_end(p, o[1].h, r1), 0);
		zs_unmap_object(p, o[2].h);
		zs_unmap_object(p, o[0].h);
		// All ended: four again, all of one object.
		void *a[4];
		for (int i = 0; i < 4; i++) {
			a[i] = zs_map_object(p, o[2].h, ZS_MM_RO);
			ASSERT_NE(a[i], nullptr) << i;
			EXPECT_TRUE(test_content::same(a[i], kSize, o[2].seed));
		}
		EXPECT_EQ(zs_map_object(p, o[2].h, ZS_MM_RO), nullptr);
		for (int i = 0; i < 4; i++)
			zs_unmap_object(p, o[2].h);
		errno = 0;
		zs_unmap_object(p, o[2].h);
		EXPECT_EQ(errno, EINVAL) << "a fifth unmap of four mappings";
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(f.intact());
		ASSERT_EQ(zs_free(other.get(), oh), 0);
	}
}

// The limit is per thread: another thread maps four while this one holds four.
TEST(Map, LimitIsPerThread)
{
	Filled f(kSize, 16);
	zs_pool *p = f.p();
	for (int i = 0; i < 4; i++) {
		ASSERT_NE(zs_map_object(p, f.objs[(size_t)i].h, ZS_MM_RO), nullptr);
	}
	std::atomic<int> ok{ 0 };
	std::thread t([&] {
		void *m[4];
		for (int i = 0; i < 4; i++) {
			m[i] = zs_map_object(p, f.objs[(size_t)i + 4].h, ZS_MM_RO);
			if (m[i] && test_content::same(m[i], kSize, f.objs[(size_t)i + 4].seed))
				ok++;
		}
		if (!zs_map_object(p, f.objs[8].h, ZS_MM_RO) && errno == EBUSY)
			ok++;
		for (int i = 0; i < 4; i++)
			if (m[i])
				zs_unmap_object(p, f.objs[(size_t)i + 4].h);
	});
	t.join();
	EXPECT_EQ(ok.load(), 5);
	for (int i = 0; i < 4; i++)
		zs_unmap_object(p, f.objs[(size_t)i].h);
	EXPECT_EQ(zs_check(p), 0u);
}

// Nested mappings of one object in one thread are one view (the header):
// what is written through either shows through the other and through
// zs_obj_read_begin() in this thread, and is in the object once the last
// mapping ends (copy mode writes the copy back then, if any of the nested
// maps was RW or WO). (The old design gave each nested map of a straddler
// its own copy, written back unmap by unmap.) Straddling and in-page
// objects, pages consecutive or not, every layout.
TEST(Map, NestedMappingsShareOneView)
{
	for (const zs_test::Access &acc : zs_test::accesses())
		for (bool spaced : { false, true })
			for (size_t idx : { (size_t)2, (size_t)1 }) {
				SCOPED_TRACE(std::string(acc.name) + (spaced ? ", spaced" : "") +
					     ", object " + std::to_string(idx));
				Filled f(kSize, 8, acc.method, spaced);
				zs_pool *p = f.p();
				const Obj &o = f.objs[idx];
				ASSERT_EQ(straddles(idx, kSize, kPage), idx == 2);
				std::vector<uint8_t> A = test_content::bytes(1001, kSize),
						     B = test_content::bytes(1002, kSize);
				uint8_t *p1 = static_cast<uint8_t *>(
					zs_map_object(p, o.h, ZS_MM_RW));
				ASSERT_NE(p1, nullptr);
				memcpy(p1, A.data(), kSize);
				uint8_t *p2 = static_cast<uint8_t *>(
					zs_map_object(p, o.h, ZS_MM_RW));
				ASSERT_NE(p2, nullptr);
				EXPECT_TRUE(test_content::same(p2, kSize, 1001))
					<< "the second map shows the first's writes";
				memcpy(p2, B.data(), kSize);
				EXPECT_TRUE(test_content::same(p1, kSize, 1002))
					<< "the first map shows the second's writes";
				EXPECT_TRUE(check_object(p, o.h, 1002, kSize, 0))
					<< "read_begin reads the view";
				zs_unmap_object(p, o.h); // the latest; the other still shows B
				EXPECT_TRUE(test_content::same(p1, kSize, 1002));
				EXPECT_TRUE(check_object(p, o.h, 1002, kSize, 0));
				zs_unmap_object(p, o.h); // the last: B is in the object
				EXPECT_TRUE(check_object_all(p, o.h, 1002, kSize));
				errno = 0;
				zs_unmap_object(p, o.h);
				EXPECT_EQ(errno, EINVAL);
				// RO first, RW nested: the write lands when the RO map, the
				// last, ends.
				const uint8_t *r1 = static_cast<const uint8_t *>(
					zs_map_object(p, o.h, ZS_MM_RO));
				ASSERT_NE(r1, nullptr);
				uint8_t *w2 = static_cast<uint8_t *>(
					zs_map_object(p, o.h, ZS_MM_RW));
				ASSERT_NE(w2, nullptr);
				memcpy(w2, A.data(), kSize);
				EXPECT_TRUE(test_content::same(r1, kSize, 1001));
				zs_unmap_object(p, o.h);
				zs_unmap_object(p, o.h);
				EXPECT_TRUE(check_object_all(p, o.h, 1001, kSize))
					<< "RW nested in RO: write lost";
				f.objs[idx].seed = 1001;
				EXPECT_EQ(zs_check(p), 0u);
				// Its neighbours saw nothing.
				EXPECT_TRUE(f.intact());
			}
}

// ---- Unmapping what is not mapped ------------------------------------------

TEST(Map, UnmapWithoutMap)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		const zs_map_method method = acc.method;
		Filled f(kSize, 8, method);
		zs_pool *p = f.p();
		zs_test::Snapshot s = zs_test::snapshot(p);
		for (const Obj &o : f.objs) {
			errno = 0;
			zs_unmap_object(p, o.h);
			EXPECT_EQ(errno, EINVAL);
		}
		// Mapped once, unmapped twice.
		ASSERT_NE(zs_map_object(p, f.objs[2].h, ZS_MM_RW), nullptr);
		zs_unmap_object(p, f.objs[2].h);
		errno = 0;
		zs_unmap_object(p, f.objs[2].h);
		EXPECT_EQ(errno, EINVAL);
		// read_begin is not a map: unmap refuses it, read_end still works;
		// and the other way round.
		char buf[kSize];
		void *r = zs_obj_read_begin(p, f.objs[0].h, kSize, buf);
		ASSERT_NE(r, nullptr);
		errno = 0;
		zs_unmap_object(p, f.objs[0].h);
		EXPECT_EQ(errno, EINVAL);
		EXPECT_EQ(zs_obj_read_end(p, f.objs[0].h, r), 0);
		void *m = zs_map_object(p, f.objs[0].h, ZS_MM_RO);
		ASSERT_NE(m, nullptr);
		EXPECT_EQ(zs_obj_read_end(p, f.objs[0].h, m), -EINVAL);
		zs_unmap_object(p, f.objs[0].h);
		errno = 0;
		zs_unmap_object(p, f.objs[0].h);
		EXPECT_EQ(errno, EINVAL);
		// A mapping in one pool is not one in another.
		Pool other = make_pool(0, method);
		ASSERT_NE(zs_map_object(p, f.objs[1].h, ZS_MM_RO), nullptr);
		errno = 0;
		zs_unmap_object(other.get(), f.objs[1].h);
		EXPECT_EQ(errno, EINVAL);
		zs_unmap_object(p, f.objs[1].h);
		// Nothing changed, nothing is left mapped (free works).
		EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "");
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(f.intact());
		for (const Obj &o : f.objs) {
			EXPECT_EQ(zs_free(p, o.h), 0);
		}
	}
}

// Another thread's mapping is not this thread's to end.
TEST(Map, UnmapFromAnotherThread)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Filled f(kSize, 8, acc.method, true);
		zs_pool *p = f.p();
		for (size_t i : { (size_t)1, (size_t)2 }) { // in page, straddling
			const Obj &o = f.objs[i];
			uint8_t *m = static_cast<uint8_t *>(zs_map_object(p, o.h, ZS_MM_RW));
			ASSERT_NE(m, nullptr);
			int err = 0;
			std::thread t([&] {
				errno = 0;
				zs_unmap_object(p, o.h);
				err = errno;
			});
			t.join();
			EXPECT_EQ(err, EINVAL);
			// Still ours: still shows the object and still writes back.
			EXPECT_TRUE(test_content::same(m, kSize, o.seed));
			std::vector<uint8_t> v = test_content::bytes(500 + i, kSize);
			memcpy(m, v.data(), kSize);
			zs_unmap_object(p, o.h);
			EXPECT_TRUE(check_object_all(p, o.h, 500 + i, kSize));
			f.objs[i].seed = 500 + i;
		}
		EXPECT_TRUE(f.intact());
	}
}

// ---- Freeing what is mapped ----------------------------------------------------

TEST(Map, FreeWhileMapped)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Filled f(kSize, 8, acc.method);
		zs_pool *p = f.p();
		for (size_t i : { (size_t)1, (size_t)2 }) {
			for (zs_mapmode mm : { ZS_MM_RO, ZS_MM_RW, ZS_MM_WO }) {
				const Obj &o = f.objs[i];
				void *m = zs_map_object(p, o.h, mm);
				ASSERT_NE(m, nullptr);
				zs_test::Snapshot s = zs_test::snapshot(p);
				EXPECT_EQ(zs_free(p, o.h), -EBUSY)
					<< "object " << i << " mode " << mm;
				EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "");
				if (mm == ZS_MM_WO) // contents undefined until written
					memcpy(m, test_content::bytes(o.seed, kSize).data(), kSize);
				zs_unmap_object(p, o.h);
				EXPECT_TRUE(check_object_all(p, o.h, o.seed, kSize));
			}
		}
		// An in-place read holds a pointer into the pages too.
		char buf[kSize];
		void *r = zs_obj_read_begin(p, f.objs[1].h, kSize, buf);
		ASSERT_NE(r, nullptr);
		ASSERT_NE(r, (void *)buf);
		EXPECT_EQ(zs_free(p, f.objs[1].h), -EBUSY);
		EXPECT_EQ(zs_obj_read_end(p, f.objs[1].h, r), 0);
		// Mapped twice: busy until both end.
		ASSERT_NE(zs_map_object(p, f.objs[3].h, ZS_MM_RO), nullptr);
		ASSERT_NE(zs_map_object(p, f.objs[3].h, ZS_MM_RO), nullptr);
		zs_unmap_object(p, f.objs[3].h);
		EXPECT_EQ(zs_free(p, f.objs[3].h), -EBUSY);
		zs_unmap_object(p, f.objs[3].h);
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(f.intact());
		for (const Obj &o : f.objs) {
			EXPECT_EQ(zs_free(p, o.h), 0);
		}
		EXPECT_EQ(zs_test::emptied(p), "");
	}
}

// One thread holds a mapping while another frees the object. The header:
// zs_free returns "-EBUSY if the object is mapped (by any thread)".
TEST(Map, FreeWhileMappedByAnotherThread)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Filled f(kSize, 8, acc.method);
		zs_pool *p = f.p();
		std::mutex mu;
		std::condition_variable cv;
		int stage = 0;
		uint8_t *m = nullptr;
		std::thread holder([&] {
			m = static_cast<uint8_t *>(zs_map_object(p, f.objs[1].h, ZS_MM_RW));
			std::unique_lock<std::mutex> l(mu);
			stage = 1;
			cv.notify_all();
			cv.wait(l, [&] { return stage == 2; });
			if (m)
				zs_unmap_object(p, f.objs[1].h);
		});
		{
			std::unique_lock<std::mutex> l(mu);
			cv.wait(l, [&] { return stage == 1; });
		}
		ASSERT_NE(m, nullptr);
		int ret = zs_free(p, f.objs[1].h);
		EXPECT_EQ(ret, -EBUSY) << "freed while another thread maps it";
		if (ret == 0) {
			// What that leads to: the place is handed out again while the
			// holder still writes through its pointer.
			zs_handle h2 = zs_malloc(p, kSize, 0);
			ASSERT_NE(h2, 0u);
			ASSERT_TRUE(write_object(p, h2, 4242, kSize, 0));
			memset(m, 0x5a, kSize); // the holder, allowed to write
			EXPECT_TRUE(check_object(p, h2, 4242, kSize, 0))
				<< "the new object was overwritten through the old mapping";
		}
		{
			std::lock_guard<std::mutex> l(mu);
			stage = 2;
			cv.notify_all();
		}
		holder.join();
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(f.intact());
	}
}

// ---- read_begin / read_end ---------------------------------------------------------

TEST(Read, BeginEndPairing)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Filled f(kSize, 8, acc.method, true);
		zs_pool *p = f.p();
		char buf[kSize], buf2[kSize];
		for (size_t i : { (size_t)1, (size_t)2 }) {
			const Obj &o = f.objs[i];
			// End without begin.
			EXPECT_EQ(zs_obj_read_end(p, o.h, buf), -EINVAL);
			void *r = zs_obj_read_begin(p, o.h, kSize, buf);
			ASSERT_NE(r, nullptr);
			EXPECT_TRUE(test_content::same(r, kSize, o.seed));
			// Wrong pointer, wrong handle, wrong pool: refused, the read
			// stays open.
			EXPECT_EQ(zs_obj_read_end(p, o.h, static_cast<char *>(r) + 1), -EINVAL);
			EXPECT_EQ(zs_obj_read_end(p, o.h, buf2), -EINVAL);
			EXPECT_EQ(zs_obj_read_end(p, f.objs[i + 1].h, r), -EINVAL);
			Pool other = make_pool();
			EXPECT_EQ(zs_obj_read_end(other.get(), o.h, r), -EINVAL);
			EXPECT_EQ(zs_free(p, o.h), -EBUSY) << "the read is still open";
			EXPECT_EQ(zs_obj_read_end(p, o.h, r), 0);
			// Twice.
			EXPECT_EQ(zs_obj_read_end(p, o.h, r), -EINVAL);
		}
		// Nested reads of one object end in any order, by pointer.
		void *r1 = zs_obj_read_begin(p, f.objs[2].h, kSize, buf);
		void *r2 = zs_obj_read_begin(p, f.objs[2].h, kSize, buf2);
		ASSERT_TRUE(r1 && r2);
		EXPECT_TRUE(test_content::same(r1, kSize, f.objs[2].seed));
		EXPECT_TRUE(test_content::same(r2, kSize, f.objs[2].seed));
		EXPECT_EQ(zs_obj_read_end(p, f.objs[2].h, r1), 0);
		EXPECT_EQ(zs_obj_read_end(p, f.objs[2].h, r2), 0);
		EXPECT_EQ(zs_obj_read_end(p, f.objs[2].h, r2), -EINVAL);
		// All four records are free again.
		for (int i = 0; i < 4; i++) {
			ASSERT_NE(zs_map_object(p, f.objs[0].h, ZS_MM_RO), nullptr);
		}
		for (int i = 0; i < 4; i++)
			zs_unmap_object(p, f.objs[0].h);
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(f.intact());
	}
}

// Contiguous layout: always in place, the buffer never touched. Scattered
// layout: in place when the bytes lie in one page, in the caller's buffer
// when they straddle pages that are not consecutive (spaced); the length
// decides, not the object. With pages that may be consecutive (not spaced)
// a straddler may be read in place or copied, nothing else.
TEST(Read, InPlaceOrCopied)
{
	for (const zs_test::Access &acc : zs_test::accesses())
		for (bool spaced : { true, false }) {
			SCOPED_TRACE(std::string(acc.name) + (spaced ? ", spaced" : ""));
			const bool contiguous = acc.method == ZS_MAP_DEFAULT;
			Filled f(kSize, 8, acc.method, spaced);
			ASSERT_EQ(f.objs.size(), 8u);
			zs_pool *p = f.p();
			std::vector<uint8_t> buf(kPage);
			const size_t head = kPage - 2 * kSize; // object 2's bytes in page 0
			struct Case {
				size_t obj, len;
				bool copied;
			} cases[] = {
				{ 0, kSize, false }, { 1, kSize, false }, { 1, 1, false },
				{ 3, kSize, false }, { 2, kSize, true },  { 2, head + 1, true },
				{ 2, head, false },  { 2, 1, false },     { 5, kSize, true },
			};
			for (const Case &c : cases) {
				SCOPED_TRACE("object " + std::to_string(c.obj) + " len " +
					     std::to_string(c.len));
				const Obj &o = f.objs[c.obj];
				ASSERT_EQ(straddles(c.obj, kSize, kPage), c.obj == 2 || c.obj == 5);
				memset(buf.data(), 0xa5, buf.size());
				void *r = zs_obj_read_begin(p, o.h, c.len, buf.data());
				ASSERT_NE(r, nullptr);
				bool copied = r == buf.data();
				if (contiguous) {
					EXPECT_FALSE(copied) << "the contiguous layout copied";
				} else if (spaced) {
					EXPECT_EQ(copied, c.copied);
				} else if (copied) {
					EXPECT_TRUE(c.copied)
						<< "copied bytes that lie in one page";
				}
				EXPECT_TRUE(test_content::same(r, c.len, o.seed));
				// A copy takes exactly len bytes of the buffer; an
				// in-place read none.
				size_t used = copied ? c.len : 0;
				for (size_t k = used; k < buf.size(); k++) {
					ASSERT_EQ(buf[k], 0xa5)
						<< "buffer byte " << k << " written";
				}
				EXPECT_EQ(zs_obj_read_end(p, o.h, r), 0);
			}
			// Lengths: 1..class size.
			for (size_t len : { (size_t)0, kSize + 1, kPage, kPage + 1 }) {
				errno = 0;
				EXPECT_EQ(zs_obj_read_begin(p, f.objs[2].h, len, buf.data()),
					  nullptr)
					<< len;
				EXPECT_EQ(errno, EINVAL) << len;
			}
			errno = 0;
			EXPECT_EQ(zs_obj_read_begin(p, f.objs[1].h, 8, nullptr), nullptr);
			EXPECT_EQ(errno, EINVAL) << "no buffer, even for an in-place read";
			EXPECT_EQ(zs_check(p), 0u);
			EXPECT_TRUE(f.intact());
		}
}

// A request that rounds up to a larger class may read and write up to the
// class size (the header: len <= its class size).
TEST(Read, LengthLimitIsTheClassSize)
{
	Pool pool = make_pool();
	zs_pool *p = pool.get();
	auto cs = zs_test::class_stats(p);
	// A merged class: requests from merged_from up to size share it.
	const zs_class_stat *m = nullptr;
	for (const zs_class_stat &c : cs)
		if (c.merged_from < c.size && c.size < kPage / 2) {
			m = &c;
			break;
		}
	ASSERT_NE(m, nullptr);
	for (size_t req : { (size_t)m->merged_from - (zs_test::class_delta() - 1),
			    (size_t)m->merged_from, (size_t)m->size }) {
		zs_handle h = zs_malloc(p, req, 0);
		ASSERT_NE(h, 0u);
		std::vector<uint8_t> v = test_content::bytes(req, m->size), buf(m->size + 1);
		EXPECT_EQ(zs_obj_write(p, h, v.data(), m->size), 0) << req;
		EXPECT_EQ(zs_obj_write(p, h, v.data(), m->size + 1), -EINVAL) << req;
		void *r = zs_obj_read_begin(p, h, m->size, buf.data());
		ASSERT_NE(r, nullptr) << req;
		EXPECT_TRUE(test_content::same(r, m->size, req));
		EXPECT_EQ(zs_obj_read_end(p, h, r), 0);
		EXPECT_EQ(zs_obj_read_begin(p, h, m->size + 1, buf.data()), nullptr);
		EXPECT_EQ(zs_free(p, h), 0);
	}
}

// ---- zs_obj_write ----------------------------------------------------------------

TEST(Write, LengthLimitsAndPartialWrites)
{
	for (const zs_test::Access &acc : zs_test::accesses())
		for (bool spaced : { false, true }) {
			SCOPED_TRACE(std::string(acc.name) + (spaced ? ", spaced" : ""));
			Filled f(kSize, 8, acc.method, spaced);
			zs_pool *p = f.p();
			std::vector<uint8_t> v = test_content::bytes(9, kPage + 1);
			zs_test::Snapshot s = zs_test::snapshot(p);
			for (size_t i : { (size_t)1, (size_t)2 }) {
				zs_handle h = f.objs[i].h;
				EXPECT_EQ(zs_obj_write(p, h, v.data(), 0), -EINVAL);
				EXPECT_EQ(zs_obj_write(p, h, v.data(), kSize + 1), -EINVAL);
				EXPECT_EQ(zs_obj_write(p, h, v.data(), kPage + 1), -EINVAL);
				EXPECT_EQ(zs_obj_write(p, h, nullptr, 8), -EINVAL);
			}
			EXPECT_TRUE(f.intact()) << "a refused write wrote";
			EXPECT_EQ(zs_test::diff(s, zs_test::snapshot(p)), "");
			// Partial writes change the first len bytes only; across the
			// boundary of a straddling object too.
			const size_t head = kPage - 2 * kSize;
			for (size_t len :
			     { (size_t)1, head - 1, head, head + 1, kSize - 1, kSize }) {
				const Obj &o = f.objs[2];
				std::vector<uint8_t> want = test_content::bytes(o.seed, kSize),
						     w = test_content::bytes(len * 7, len);
				memcpy(want.data(), w.data(), len);
				ASSERT_EQ(zs_obj_write(p, o.h, w.data(), len), 0);
				std::vector<uint8_t> buf(kSize);
				void *r = zs_obj_read_begin(p, o.h, kSize, buf.data());
				ASSERT_NE(r, nullptr);
				EXPECT_EQ(memcmp(r, want.data(), kSize), 0) << "len " << len;
				EXPECT_EQ(zs_obj_read_end(p, o.h, r), 0);
				ASSERT_TRUE(write_object(p, o.h, o.seed, kSize, 0)); // restore
			}
			EXPECT_TRUE(f.intact());
			EXPECT_EQ(zs_check(p), 0u);
		}
}

// ---- Destroying a pool that is still mapped ---------------------------------------

// @what 0..3 in the contiguous layout (the default), 4..7 the same in the
// scattered one (copy mode).
void destroy_while(int what)
{
	zs_config cfg = {};
	cfg.name = "doomed";
	cfg.map_method = what >= 4 ? ZS_MAP_COPY : ZS_MAP_DEFAULT;
	zs_pool *p = zs_create_pool_config(&cfg);
	zs_handle h[3];
	for (int i = 0; i < 3; i++) {
		h[i] = zs_malloc(p, kSize, 0);
		write_object(p, h[i], 1, kSize, 0);
	}
	char buf[kSize];
	switch (what < 0 ? what : what % 4) {
	case 0:
		zs_map_object(p, h[0], ZS_MM_RO); // in page
		break;
	case 1:
		zs_map_object(p, h[2], ZS_MM_RW); // straddling
		break;
	case 2:
		zs_obj_read_begin(p, h[1], kSize, buf); // in place
		break;
	case 3:
		zs_obj_read_begin(p, h[2], kSize, buf); // straddling
		break;
	}
	zs_destroy_pool(p);
}

TEST(MapDeathTest, DestroyWithLiveMapping)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(destroy_while(0), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(1), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(2), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(3), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(4), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(5), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(6), "doomed.*1 mapped");
	EXPECT_DEATH(destroy_while(7), "doomed.*1 mapped");
	destroy_while(-1); // nothing mapped: no death
}

// A mapping held by another thread counts too.
TEST(MapDeathTest, DestroyWhileAnotherThreadMaps)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(
		{
			zs_pool *p = zs_create_pool("doomed2");
			zs_handle h = zs_malloc(p, 100, 0);
			std::mutex mu;
			std::condition_variable cv;
			bool mapped = false;
			std::thread t([&] {
				zs_map_object(p, h, ZS_MM_RO);
				std::unique_lock<std::mutex> l(mu);
				mapped = true;
				cv.notify_all();
				cv.wait(l, [] { return false; }); // holds it forever
			});
			std::unique_lock<std::mutex> l(mu);
			cv.wait(l, [&] { return mapped; });
			zs_destroy_pool(p);
			t.detach();
		},
		"doomed2.*1 mapped");
}

// Mappings end when the pool may go: after unmap and read_end, no death.
TEST(Map, DestroyAfterEverythingEnded)
{
	zs_pool *p = zs_create_pool("fine");
	zs_handle h = zs_malloc(p, kSize, 0);
	char buf[kSize];
	ASSERT_NE(zs_map_object(p, h, ZS_MM_RW), nullptr);
	void *r = zs_obj_read_begin(p, h, kSize, buf);
	ASSERT_NE(r, nullptr);
	zs_unmap_object(p, h);
	EXPECT_EQ(zs_obj_read_end(p, h, r), 0);
	zs_destroy_pool(p);
}

// ---- A mapping held across compaction ---------------------------------------------

// A class-1008 pool (16 pages, 65 objects per zspage) with three zspages:
// Z0 keeps only object X, Z1 and Z2 keep 30 objects each. Unpinned, a
// compaction would leave one zspage (61 objects); with X mapped, X must
// stay where it is: two zspages. Without automatic compaction (which would
// have moved objects while they were freed), unless @auto_compact.
struct Sparse {
	static const size_t kSz = 1008;
	Pool pool;
	std::vector<Obj> objs; // live ones; objs[0] is X
	size_t x_index;

	Sparse(zs_map_method method, size_t x, bool auto_compact = false)
	{
		x_index = x;
		zs_config cfg = zs_test::pool_config(0, method);
		cfg.no_auto_compact = !auto_compact;
		pool = make_pool(cfg);
		std::vector<Obj> all;
		for (size_t i = 0; i < 195; i++) {
			zs_handle h = zs_malloc(pool.get(), kSz, 0);
			all.push_back({ h, kSz, 10000 + i });
			write_object(pool.get(), h, 10000 + i, kSz, (int)(i % 3));
		}
		objs.push_back(all[x]);
		for (size_t i = 0; i < 195; i++) {
			bool keep = i >= 65 && (i % 65) < 30;
			if (keep)
				objs.push_back(all[i]);
			else if (i != x)
				zs_free(pool.get(), all[i].h);
		}
	}
	zs_class_stat cls()
	{
		auto cs = zs_test::class_stats(pool.get());
		return cs[(size_t)zs_test::class_for(cs, kSz)];
	}
	// 1 if a nested map of @o shows it at @m (it did not move).
	bool still_at(const Obj &o, const void *m)
	{
		void *again = zs_map_object(pool.get(), o.h, ZS_MM_RO);
		zs_unmap_object(pool.get(), o.h);
		return again == m;
	}
};

// X held by map RW, map RO or read_begin (a read pins the object until
// zs_obj_read_end(), copied or not), in a page or straddling, in every
// layout; with automatic compaction X may have moved before it was mapped,
// and its zspage may be the one the others move into.
TEST(Map, MappingPinsAcrossCompaction)
{
	for (const zs_test::Access &acc : zs_test::accesses())
		for (bool auto_compact : { false, true }) {
			// X in a page, X straddling; held by map RW, map RO, read_begin.
			for (size_t x : { (size_t)10, (size_t)4 }) {
				for (int how = 0; how < 3; how++) {
					SCOPED_TRACE(
						std::string(acc.name) +
						(auto_compact ? ", automatic compaction" : "") +
						", x " + std::to_string(x) + " how " +
						std::to_string(how));
					Sparse s(acc.method, x, auto_compact);
					zs_pool *p = s.pool.get();
					ASSERT_EQ(s.objs.size(), 61u);
					ASSERT_EQ(straddles(x, Sparse::kSz, kPage), x == 4);
					ASSERT_EQ(s.cls().objs_per_zspage, 65u);
					if (!auto_compact) {
						ASSERT_EQ(zs_test::total_zspages(s.cls()), 3u);
					}
					ASSERT_EQ(zs_test::first_bad(p, s.objs, 3), -1);
					const Obj X = s.objs[0];
					std::vector<uint8_t> buf(kPage);
					uint8_t *m;
					if (how == 0)
						m = (uint8_t *)zs_map_object(p, X.h, ZS_MM_RW);
					else if (how == 1)
						m = (uint8_t *)zs_map_object(p, X.h, ZS_MM_RO);
					else
						m = (uint8_t *)zs_obj_read_begin(
							p, X.h, Sparse::kSz, buf.data());
					ASSERT_NE(m, nullptr);
					size_t pages = zs_get_total_pages(p);
					size_t freed = zs_compact(p);
					EXPECT_EQ(zs_check(p), 0u);
					EXPECT_EQ(zs_free(p, X.h), -EBUSY) << "X is pinned";
					if (!auto_compact) {
						EXPECT_EQ(zs_test::total_zspages(s.cls()), 2u)
							<< "Z0 pinned, Z1 and Z2 merged";
					} else {
						EXPECT_GE(zs_test::total_zspages(s.cls()), 1u);
						EXPECT_LE(zs_test::total_zspages(s.cls()), 2u)
							<< "X's zspage and at most one more";
					}
					EXPECT_EQ(zs_get_total_pages(p), pages - freed);
					// The pointer still shows X, where X still is.
					EXPECT_TRUE(test_content::same(m, Sparse::kSz, X.seed));
					if (m != buf.data()) {
						EXPECT_TRUE(s.still_at(X, m))
							<< "a pinned object moved";
					}
					if (how == 0) {
						// Writes through it land in X.
						std::vector<uint8_t> v = test_content::bytes(
							31337, Sparse::kSz);
						memcpy(m, v.data(), Sparse::kSz);
						zs_unmap_object(p, X.h);
						s.objs[0].seed = 31337;
					} else if (how == 1) {
						zs_unmap_object(p, X.h);
					} else {
						EXPECT_EQ(zs_obj_read_end(p, X.h, m), 0);
					}
					EXPECT_EQ(zs_test::first_bad(p, s.objs, 3), -1);
					// Unpinned, X may move: one zspage is left.
					zs_compact(p);
					EXPECT_EQ(zs_check(p), 0u);
					EXPECT_EQ(zs_test::total_zspages(s.cls()), 1u);
					EXPECT_EQ(zs_test::first_bad(p, s.objs, 3), -1);
					for (const Obj &o : s.objs) {
						ASSERT_EQ(zs_free(p, o.h), 0);
					}
					EXPECT_EQ(zs_test::emptied(p), "");
				}
			}
		}
}

// An object mapped in the fullest zspage (a destination): pins hold
// objects, not zspages, so compaction may move others into the places
// around it (the old design left the whole zspage alone); the mapped bytes
// stay exactly as they were and the object where it is.
TEST(Map, PinnedDestinationUntouched)
{
	for (const zs_test::Access &acc : zs_test::accesses()) {
		SCOPED_TRACE(acc.name);
		Sparse s(acc.method, 10);
		zs_pool *p = s.pool.get();
		// Map an object of Z1 (the fullest with Z2): its neighbours'
		// places are holes a compaction would fill.
		const Obj &y = s.objs[1];
		uint8_t *m = (uint8_t *)zs_map_object(p, y.h, ZS_MM_RO);
		ASSERT_NE(m, nullptr);
		zs_compact(p);
		EXPECT_TRUE(test_content::same(m, Sparse::kSz, y.seed));
		EXPECT_TRUE(s.still_at(y, m)) << "a pinned object moved";
		EXPECT_EQ(zs_check(p), 0u);
		EXPECT_EQ(zs_test::first_bad(p, s.objs, 0), -1);
		zs_unmap_object(p, y.h);
		zs_compact(p);
		EXPECT_EQ(zs_test::total_zspages(s.cls()), 1u);
		EXPECT_EQ(zs_test::first_bad(p, s.objs, 3), -1);
	}
}

} // namespace
