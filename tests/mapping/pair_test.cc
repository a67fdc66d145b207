// The two-page map: remap windows show the pages' own bytes; the copy method
// follows RO/WO/RW; bad arguments are refused; slots nest and run out cleanly.
#include <errno.h>

#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "mapping/mapping.h"
#include "tests/common/content.h"

namespace
{

struct SourceDeleter {
	void operator()(mp_source *s) const
	{
		mp_destroy(s);
	}
};
using Source = std::unique_ptr<mp_source, SourceDeleter>;

// Remap windows map a page twice, which needs the shared (memfd) backing.
mp_source *make_shared(uint32_t cache_pages = 0)
{
	mp_config cfg = {};
	cfg.backing = MP_BACKING_SHARED;
	cfg.cache_pages = cache_pages;
	return mp_create(&cfg);
}

class PairTest : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		src.reset(make_shared());
		ASSERT_NE(src, nullptr);
		page = (uint32_t)mp_page_size();
		// a, gap, b: a and b are not adjacent in the direct map.
		ASSERT_EQ(mp_alloc_page(src.get(), &a), 0);
		ASSERT_EQ(mp_alloc_page(src.get(), &gap), 0);
		ASSERT_EQ(mp_alloc_page(src.get(), &b), 0);
		ASSERT_NE(b, a + 1);
		fill(a, 'A');
		fill(b, 'B');
	}
	uint8_t *kmap(uint32_t pfn)
	{
		return static_cast<uint8_t *>(mp_kmap(src.get(), pfn));
	}
	// Page @pfn holds the bytes of @seed (tests/common/content.h).
	void fill(uint32_t pfn, uint64_t seed)
	{
		test_content::fill(kmap(pfn), page, seed);
	}
	// Byte @i of a page filled with @seed.
	uint8_t expect(uint64_t seed, uint32_t i)
	{
		return test_content::byte_at(seed, i);
	}

	Source src;
	uint32_t page = 0, a = 0, gap = 0, b = 0;
};

TEST_F(PairTest, RemapWindowIsThePagesOwnBytes)
{
	const uint32_t off = page - 100, len = 300;
	uint8_t *w = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, off, len, MP_RW, MP_REMAP, 1));
	ASSERT_NE(w, nullptr) << strerror(errno);
	// Not the direct map: a real window.
	EXPECT_NE(w, kmap(a) + off);
	// Reading through the window shows A's tail then B's head.
	for (uint32_t i = 0; i < 100; i++)
		ASSERT_EQ(w[i], expect('A', off + i));
	for (uint32_t i = 0; i < 200; i++)
		ASSERT_EQ(w[100 + i], expect('B', i));
	// Writes through the window land in the pages at once (no copy).
	memset(w, 0x11, len);
	for (uint32_t i = 0; i < 100; i++)
		ASSERT_EQ(kmap(a)[off + i], 0x11);
	for (uint32_t i = 0; i < 200; i++)
		ASSERT_EQ(kmap(b)[i], 0x11);
	EXPECT_EQ(kmap(b)[200], expect('B', 200));
	// And writes to the pages show in the window.
	kmap(a)[page - 1] = 0x77;
	kmap(b)[0] = 0x88;
	EXPECT_EQ(w[99], 0x77);
	EXPECT_EQ(w[100], 0x88);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), 0);
}

TEST_F(PairTest, RemapReusesTheWindowOfTheSamePair)
{
	void *w1 = mp_map_pair(src.get(), a, b, 10, page, MP_RO, MP_REMAP, 1);
	ASSERT_NE(w1, nullptr);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), 0);
	void *w2 = mp_map_pair(src.get(), a, b, 10, page, MP_RO, MP_REMAP, 2);
	EXPECT_EQ(w1, w2);
	// A second live mapping of the same pair shares the window too.
	void *w3 = mp_map_pair(src.get(), a, b, 20, page, MP_RO, MP_REMAP, 3);
	EXPECT_EQ(static_cast<uint8_t *>(w3), static_cast<uint8_t *>(w2) + 10);
	EXPECT_EQ(mp_unmap_pair(src.get(), 3), 0);
	EXPECT_EQ(mp_unmap_pair(src.get(), 2), 0);
	// The reverse pair is a different window.
	uint8_t *r = static_cast<uint8_t *>(
		mp_map_pair(src.get(), b, a, page - 1, 2, MP_RO, MP_REMAP, 4));
	ASSERT_NE(r, nullptr);
	EXPECT_EQ(r[0], expect('B', page - 1));
	EXPECT_EQ(r[1], expect('A', 0));
	EXPECT_EQ(mp_unmap_pair(src.get(), 4), 0);
}

TEST_F(PairTest, ManyPairsCycleThroughTheWindows)
{
	// More distinct pairs than windows: every mapping still shows the truth.
	std::vector<uint32_t> pfns;
	for (int i = 0; i < 3 * MP_WINDOWS; i++) {
		uint32_t p;
		ASSERT_EQ(mp_alloc_page(src.get(), &p), 0);
		fill(p, 'a' + i);
		pfns.push_back(p);
	}
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i + 2 < pfns.size(); i++) {
			uint32_t x = pfns[i], y = pfns[pfns.size() - 1 - i];
			if (y == x + 1 || x == y)
				continue;
			uint8_t *w = static_cast<uint8_t *>(
				mp_map_pair(src.get(), x, y, page - 8, 16, MP_RO, MP_REMAP, i));
			ASSERT_NE(w, nullptr);
			EXPECT_EQ(w[7], expect('a' + (int)i, page - 1));
			EXPECT_EQ(w[8], expect('a' + (int)(pfns.size() - 1 - i), 0));
			ASSERT_EQ(mp_unmap_pair(src.get(), i), 0);
		}
	}
}

TEST_F(PairTest, AdjacentPfnsUseTheDirectMap)
{
	uint32_t next = a + 1; // `gap` follows a in a fresh source
	ASSERT_EQ(gap, next);
	for (mp_method m : { MP_REMAP, MP_COPY }) {
		void *p = mp_map_pair(src.get(), a, gap, page - 4, 8, MP_RW, m, 9);
		if (m == MP_REMAP) {
			EXPECT_EQ(p, kmap(a) + page - 4);
		}
		ASSERT_NE(p, nullptr);
		EXPECT_EQ(mp_unmap_pair(src.get(), 9), 0);
	}
}

TEST_F(PairTest, InPageRangeIsTheDirectMap)
{
	for (mp_method m : { MP_REMAP, MP_COPY }) {
		void *p = mp_map_pair(src.get(), a, b, 100, 200, MP_RW, m, 5);
		EXPECT_EQ(p, kmap(a) + 100);
		EXPECT_EQ(mp_unmap_pair(src.get(), 5), 0);
	}
}

TEST_F(PairTest, CopyReadOnlyCopiesInAndDiscardsWrites)
{
	const uint32_t off = page - 1000, len = 2048;
	uint8_t *p = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, off, len, MP_RO, MP_COPY, 1));
	ASSERT_NE(p, nullptr);
	EXPECT_NE(p, kmap(a) + off);
	for (uint32_t i = 0; i < 1000; i++)
		ASSERT_EQ(p[i], expect('A', off + i));
	for (uint32_t i = 0; i < len - 1000; i++)
		ASSERT_EQ(p[1000 + i], expect('B', i));
	memset(p, 0, len);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), 0);
	EXPECT_EQ(kmap(a)[off], expect('A', off));
	EXPECT_EQ(kmap(b)[0], expect('B', 0));
}

TEST_F(PairTest, CopyWriteOnlyCopiesOutOnly)
{
	const uint32_t off = page - 1000, len = 2048;
	// Dirty the thread's buffer first so a copy-in would be visible.
	uint8_t *p = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, off, len, MP_RO, MP_COPY, 1));
	ASSERT_NE(p, nullptr);
	ASSERT_EQ(mp_unmap_pair(src.get(), 1), 0);
	fill(a, 'X');
	fill(b, 'Y');
	p = static_cast<uint8_t *>(mp_map_pair(src.get(), a, b, off, len, MP_WO, MP_COPY, 2));
	ASSERT_NE(p, nullptr);
	EXPECT_NE(p[0], expect('X', off)) << "WO copied the pages in";
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13);
	// Not in the pages until unmap.
	EXPECT_EQ(kmap(a)[off], expect('X', off));
	EXPECT_EQ(mp_unmap_pair(src.get(), 2), 0);
	for (uint32_t i = 0; i < 1000; i++)
		ASSERT_EQ(kmap(a)[off + i], (uint8_t)(i * 13));
	for (uint32_t i = 1000; i < len; i++)
		ASSERT_EQ(kmap(b)[i - 1000], (uint8_t)(i * 13));
	// Bytes outside the range are untouched.
	EXPECT_EQ(kmap(a)[off - 1], expect('X', off - 1));
	EXPECT_EQ(kmap(b)[len - 1000], expect('Y', len - 1000));
}

TEST_F(PairTest, CopyReadWriteCopiesBothWays)
{
	const uint32_t off = page - 16, len = 64;
	uint8_t *p = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, off, len, MP_RW, MP_COPY, 1));
	ASSERT_NE(p, nullptr);
	EXPECT_EQ(p[15], expect('A', page - 1));
	EXPECT_EQ(p[16], expect('B', 0));
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(p[i] ^ 0xff);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), 0);
	EXPECT_EQ(kmap(a)[page - 1], (uint8_t)(expect('A', page - 1) ^ 0xff));
	EXPECT_EQ(kmap(b)[47], (uint8_t)(expect('B', 47) ^ 0xff));
	EXPECT_EQ(kmap(b)[48], expect('B', 48));
}

TEST_F(PairTest, SlotsNestAndRunOut)
{
	std::vector<uint8_t *> ptrs;
	for (int i = 0; i < MP_MAX_MAPPINGS; i++) {
		uint8_t *p = static_cast<uint8_t *>(
			mp_map_pair(src.get(), a, b, page - 10 - i, 20, MP_RW, MP_COPY, 100 + i));
		ASSERT_NE(p, nullptr) << i;
		ptrs.push_back(p);
	}
	for (int i = 0; i < MP_MAX_MAPPINGS; i++) // distinct buffers
		for (int j = i + 1; j < MP_MAX_MAPPINGS; j++)
			EXPECT_NE(ptrs[i], ptrs[j]);
	errno = 0;
	EXPECT_EQ(mp_map_pair(src.get(), a, b, page - 10, 20, MP_RW, MP_COPY, 99), nullptr);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(mp_unmap_pair(src.get(), 101), 0);
	EXPECT_NE(mp_map_pair(src.get(), a, b, page - 10, 20, MP_RW, MP_REMAP, 99), nullptr);
	EXPECT_EQ(mp_unmap_pair(src.get(), 99), 0);
	for (int i : { 0, 2, 3 })
		EXPECT_EQ(mp_unmap_pair(src.get(), 100 + i), 0);
}

TEST_F(PairTest, SameKeyUnmapsTheLatestFirst)
{
	uint8_t *p1 = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, page - 2, 4, MP_WO, MP_COPY, 7));
	uint8_t *p2 = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, page - 2, 4, MP_WO, MP_COPY, 7));
	ASSERT_TRUE(p1 && p2);
	memset(p1, 1, 4);
	memset(p2, 2, 4);
	ASSERT_EQ(mp_unmap_pair(src.get(), 7), 0);
	EXPECT_EQ(kmap(b)[0], 2);
	ASSERT_EQ(mp_unmap_pair(src.get(), 7), 0);
	EXPECT_EQ(kmap(b)[0], 1);
	EXPECT_EQ(mp_unmap_pair(src.get(), 7), -EINVAL);
}

TEST_F(PairTest, BadArgumentsAreRefused)
{
	uint32_t freed;
	ASSERT_EQ(mp_alloc_page(src.get(), &freed), 0);
	ASSERT_EQ(mp_free_page(src.get(), freed), 0);
	struct Case {
		uint32_t pa, pb, off, len;
		int mode, method;
	} cases[] = {
		{ a, b, page, 10, MP_RW, MP_COPY },         // offset past the page
		{ a, b, 0, 0, MP_RW, MP_COPY },             // empty
		{ a, b, 0, page + 1, MP_RW, MP_COPY },      // longer than a page
		{ a, b, page - 1, 2, 3, MP_COPY },          // bad mode
		{ a, b, page - 1, 2, MP_RW, 2 },            // bad method
		{ freed, b, page - 1, 2, MP_RW, MP_COPY },  // freed page A
		{ a, freed, page - 1, 2, MP_RW, MP_REMAP }, // freed page B
		{ a, 999999, page - 1, 2, MP_RW, MP_COPY }, // never allocated
		{ UINT32_MAX, b, 0, 2, MP_RW, MP_REMAP },   // out of range
	};
	for (const Case &c : cases) {
		errno = 0;
		EXPECT_EQ(mp_map_pair(src.get(), c.pa, c.pb, c.off, c.len, (mp_mode)c.mode,
				      (mp_method)c.method, 1),
			  nullptr)
			<< c.pa << " " << c.pb << " " << c.off << " " << c.len;
		EXPECT_EQ(errno, EINVAL);
	}
	EXPECT_EQ(mp_map_pair(nullptr, a, b, 0, 1, MP_RW, MP_COPY, 1), nullptr);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), -EINVAL); // nothing mapped
	EXPECT_EQ(mp_unmap_pair(nullptr, 1), -EINVAL);
}

TEST_F(PairTest, PageFreedWhileMappedIsNotWrittenBack)
{
	uint8_t *p = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, page - 8, 16, MP_RW, MP_COPY, 3));
	ASSERT_NE(p, nullptr);
	memset(p, 0x42, 16);
	ASSERT_EQ(mp_free_page(src.get(), b), 0);
	EXPECT_EQ(mp_unmap_pair(src.get(), 3), -EINVAL);
	EXPECT_EQ(mp_page_valid(src.get(), b), 0);
	EXPECT_EQ(kmap(a)[page - 1], expect('A', page - 1)) << "half written";
	// The slot was released.
	EXPECT_EQ(mp_unmap_pair(src.get(), 3), -EINVAL);
}

TEST_F(PairTest, MappingOfADestroyedSourceIsNeverReused)
{
	uint8_t *w = static_cast<uint8_t *>(
		mp_map_pair(src.get(), a, b, page - 1, 2, MP_RO, MP_REMAP, 1));
	ASSERT_NE(w, nullptr);
	ASSERT_EQ(mp_unmap_pair(src.get(), 1), 0);
	uint32_t a0 = a, b0 = b;
	src.reset(make_shared());
	ASSERT_NE(src, nullptr);
	uint32_t x, y, z;
	ASSERT_EQ(mp_alloc_page(src.get(), &x), 0);
	ASSERT_EQ(mp_alloc_page(src.get(), &y), 0);
	ASSERT_EQ(mp_alloc_page(src.get(), &z), 0);
	ASSERT_EQ(x, a0); // same pfns as before, different source
	ASSERT_EQ(z, b0);
	kmap(x)[page - 1] = 0x31;
	kmap(z)[0] = 0x32;
	uint8_t *w2 = static_cast<uint8_t *>(
		mp_map_pair(src.get(), x, z, page - 1, 2, MP_RO, MP_REMAP, 1));
	ASSERT_NE(w2, nullptr);
	EXPECT_EQ(w2[0], 0x31);
	EXPECT_EQ(w2[1], 0x32);
	EXPECT_EQ(mp_unmap_pair(src.get(), 1), 0);
}

TEST_F(PairTest, PageFreedWhileMappedIsReportedByEveryMethod)
{
	// A window onto a and b; b freed and allocated again meanwhile.
	ASSERT_NE(mp_map_pair(src.get(), a, b, page - 8, 16, MP_RO, MP_REMAP, 4), nullptr);
	ASSERT_EQ(mp_free_page(src.get(), b), 0);
	uint32_t again;
	ASSERT_EQ(mp_alloc_page(src.get(), &again), 0);
	ASSERT_EQ(again, b);
	EXPECT_EQ(mp_unmap_pair(src.get(), 4), -EINVAL);
	// A range inside page a (the direct map), a freed.
	ASSERT_NE(mp_map_pair(src.get(), a, b, 8, 16, MP_RW, MP_COPY, 5), nullptr);
	ASSERT_EQ(mp_free_page(src.get(), a), 0);
	EXPECT_EQ(mp_unmap_pair(src.get(), 5), -EINVAL);
	// Adjacent pfns (the direct map, whatever the method), the second freed.
	uint32_t x = gap, y = gap + 1;
	ASSERT_EQ(mp_page_valid(src.get(), y), 1); // b was reallocated: gap + 1 == b
	ASSERT_NE(mp_map_pair(src.get(), x, y, page - 4, 8, MP_RO, MP_COPY, 6), nullptr);
	ASSERT_EQ(mp_free_page(src.get(), y), 0);
	EXPECT_EQ(mp_unmap_pair(src.get(), 6), -EINVAL);
	// Pages left alone: 0, and every slot is free again.
	ASSERT_NE(mp_map_pair(src.get(), x, x, 0, 16, MP_RO, MP_REMAP, 7), nullptr);
	EXPECT_EQ(mp_unmap_pair(src.get(), 7), 0);
	for (int i = 0; i < MP_MAX_MAPPINGS; i++)
		ASSERT_NE(mp_map_pair(src.get(), x, x, 0, 16, MP_RO, MP_REMAP, 10 + i), nullptr);
	for (int i = 0; i < MP_MAX_MAPPINGS; i++)
		EXPECT_EQ(mp_unmap_pair(src.get(), 10 + i), 0);
}

TEST_F(PairTest, GenerationsOutlastManyReusesOfOnePage)
{
	// With a one-page cache, freeing and allocating again returns the same
	// pfn every time: 65,536 rounds (bringing a 16-bit generation back to
	// where it was) must still be seen, and the new owner's page must not
	// be written.
	Source one(make_shared(1));
	ASSERT_NE(one, nullptr);
	uint32_t p, gap2, q;
	ASSERT_EQ(mp_alloc_page(one.get(), &p), 0);
	ASSERT_EQ(mp_alloc_page(one.get(), &gap2), 0);
	ASSERT_EQ(mp_alloc_page(one.get(), &q), 0);
	uint8_t *m = static_cast<uint8_t *>(
		mp_map_pair(one.get(), p, q, page - 8, 16, MP_RW, MP_COPY, 1));
	ASSERT_NE(m, nullptr);
	memset(m, 0xcc, 16);
	for (int i = 0; i < 65536; i++) {
		ASSERT_EQ(mp_free_page(one.get(), q), 0);
		uint32_t r;
		ASSERT_EQ(mp_alloc_page(one.get(), &r), 0);
		ASSERT_EQ(r, q);
	}
	EXPECT_EQ(mp_unmap_pair(one.get(), 1), -EINVAL);
	EXPECT_EQ(static_cast<uint8_t *>(mp_kmap(one.get(), q))[0], 0);
	EXPECT_NE(static_cast<uint8_t *>(mp_kmap(one.get(), p))[page - 1], 0xcc);
}

TEST_F(PairTest, DestroyedSourceGivesItsSlotsBack)
{
	// Every slot held by mappings of a source that is then destroyed.
	Source doomed(make_shared());
	ASSERT_NE(doomed, nullptr);
	uint32_t x, y, z;
	ASSERT_EQ(mp_alloc_page(doomed.get(), &x), 0);
	ASSERT_EQ(mp_alloc_page(doomed.get(), &y), 0);
	ASSERT_EQ(mp_alloc_page(doomed.get(), &z), 0);
	for (int i = 0; i < MP_MAX_MAPPINGS; i++)
		ASSERT_NE(mp_map_pair(doomed.get(), x, z, page - 4, 8, i % 2 ? MP_RO : MP_RW,
				      i % 2 ? MP_REMAP : MP_COPY, i),
			  nullptr);
	EXPECT_EQ(mp_map_pair(src.get(), a, b, 0, 8, MP_RO, MP_COPY, 9), nullptr);
	EXPECT_EQ(errno, EBUSY); // the source is alive: its slots are held
	doomed.reset();
	// Now they come back, for this source and windows both.
	for (int i = 0; i < MP_MAX_MAPPINGS; i++) {
		uint8_t *w = static_cast<uint8_t *>(
			mp_map_pair(src.get(), a, b, page - 1, 2, MP_RO, MP_REMAP, 20 + i));
		ASSERT_NE(w, nullptr) << i << ": " << strerror(errno);
		EXPECT_EQ(w[0], expect('A', page - 1));
		EXPECT_EQ(w[1], expect('B', 0));
	}
	for (int i = 0; i < MP_MAX_MAPPINGS; i++)
		EXPECT_EQ(mp_unmap_pair(src.get(), 20 + i), 0);
}

} // namespace
