// misuse_test.cc - deliberate misuse of <pfn, offset> pairs: double free,
// wrong, interior and unaligned offsets (every byte offset of every page the
// pool holds), free blocks, headers forged in user data (in every object, at
// every aligned offset), random pairs, unknown pfns, pages given back,
// another pool's pairs, use after free. Each is refused with EINVAL through
// every entry point; afterwards xv_check finds nothing, the stats have not
// moved and every live object still holds its bytes. Every test runs on two
// pools: objects of the compressed-page mix (two to four a page, each page's
// record lists them itself), and small objects (dozens a page, kept in the
// record's overflow map).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

using xv_test::extent;
using xv_test::page_size;

struct Obj {
	uint32_t pfn = 0, off = 0, size = 0;
	uint64_t seed = 0;
};

// Which objects a test's pool holds.
enum class Mix { kCompressed, kSmall };

void PrintTo(Mix m, std::ostream *os)
{
	*os << (m == Mix::kSmall ? "small objects" : "compressed pages");
}

class XvMisuse : public ::testing::TestWithParam<Mix>
{
      protected:
	void SetUp() override
	{
		xv_config cfg{};
		cfg.arenas = 2;
		pool = xv_create_pool_config(&cfg);
		ASSERT_NE(nullptr, pool);
		xv_test::Rng r(1234);
		for (int i = 0; i < 300; i++)
			objs.push_back(alloc(pick_size(r)));
	}

	uint32_t pick_size(xv_test::Rng &r)
	{
		if (GetParam() == Mix::kSmall)
			return static_cast<uint32_t>(r.range(1, 120));
		return xv_test::compressed_size(r, xv_max_size());
	}

	// The pages the pool holds (xv_walk).
	std::set<uint32_t> pfns()
	{
		std::set<uint32_t> pfns;
		for (const xv_test::Block &b : xv_test::walk_blocks(pool))
			pfns.insert(b.pfn);
		return pfns;
	}

	std::set<std::pair<uint32_t, uint32_t>> live_pairs()
	{
		std::set<std::pair<uint32_t, uint32_t>> live;
		for (const Obj &o : objs)
			live.insert({ o.pfn, o.off });
		return live;
	}

	// The entry points that do not change the pool refuse <pfn, off> with
	// EINVAL (xv_free is asked by the caller, whose stats check covers it).
	static bool is_refused(xv_pool *pool, uint32_t pfn, uint32_t off)
	{
		errno = 0;
		if (xv_map(pool, pfn, off) != nullptr || errno != EINVAL)
			return false;
		errno = 0;
		xv_unmap(pool, pfn, off);
		if (errno != EINVAL)
			return false;
		errno = 0;
		return xv_get_object_size(pool, pfn, off) == 0 && errno == EINVAL;
	}
	void TearDown() override
	{
		xv_destroy_pool(pool);
	}

	Obj alloc(uint32_t size)
	{
		Obj o;
		o.size = size;
		o.seed = size * 2654435761u + objs.size();
		EXPECT_EQ(0, xv_malloc(pool, size, &o.pfn, &o.off, 0));
		void *p = xv_map(pool, o.pfn, o.off);
		EXPECT_NE(nullptr, p);
		if (p)
			xv_test::fill(p, size, o.seed);
		return o;
	}

	// The pool is exactly as the live objects say.
	void expect_intact(const char *what)
	{
		SCOPED_TRACE(what);
		EXPECT_EQ(0u, xv_check(pool));
		xv_stats s = xv_test::stats(pool);
		EXPECT_EQ(objs.size(), s.objects);
		uint64_t bytes = 0;
		for (const Obj &o : objs) {
			bytes += o.size;
			const void *p = xv_map(pool, o.pfn, o.off);
			ASSERT_NE(nullptr, p);
			ASSERT_EQ(o.size, xv_get_object_size(pool, o.pfn, o.off));
			ASSERT_TRUE(xv_test::verify(p, o.size, o.seed))
				<< "<" << o.pfn << ", " << o.off << "> damaged";
		}
		EXPECT_EQ(bytes, s.bytes_requested);
	}

	// Every entry point refuses the pair with EINVAL and changes nothing.
	void expect_refused(uint32_t pfn, uint32_t off, const char *what)
	{
		SCOPED_TRACE(what);
		xv_stats before = xv_test::stats(pool);
		EXPECT_EQ(-EINVAL, xv_free(pool, pfn, off)) << pfn << ", " << off;
		errno = 0;
		EXPECT_EQ(nullptr, xv_map(pool, pfn, off));
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		xv_unmap(pool, pfn, off);
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(0u, xv_get_object_size(pool, pfn, off));
		EXPECT_EQ(EINVAL, errno);
		xv_stats after = xv_test::stats(pool);
		EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
		expect_intact(what);
	}

	Obj take(size_t i)
	{
		Obj o = objs[i];
		objs.erase(objs.begin() + static_cast<ptrdiff_t>(i));
		return o;
	}

	xv_pool *pool = nullptr;
	std::vector<Obj> objs;
};

TEST_P(XvMisuse, DoubleFree)
{
	for (size_t i : { 0, 17, 100, 200 }) {
		Obj o = take(i);
		ASSERT_EQ(0, xv_free(pool, o.pfn, o.off));
		expect_refused(o.pfn, o.off, "double free");
		expect_refused(o.pfn, o.off, "triple free");
	}
}

TEST_P(XvMisuse, WrongOffsets)
{
	const Obj o = objs[42];
	const uint32_t page = page_size();
	for (uint32_t off : { o.off + 1, o.off + 2, o.off + 3, o.off - 1, o.off + 4, o.off + 8,
			      o.off - 4, o.off - 8, 0u, 1u, 2u, 3u, page - 4, page, page + 4,
			      0x10004u, UINT32_MAX - 3, UINT32_MAX }) {
		if (off == o.off)
			continue;
		bool live = false;
		for (const Obj &x : objs)
			live |= x.pfn == o.pfn && x.off == off;
		if (!live)
			expect_refused(o.pfn, off, "wrong offset");
	}
}

// Every byte offset of every page the pool holds (and the first past it)
// that is not an object's is refused by every entry point; the objects'
// own pairs are accepted.
TEST_P(XvMisuse, EveryOffsetOfEveryPage)
{
	const std::set<std::pair<uint32_t, uint32_t>> live = live_pairs();
	const std::set<uint32_t> pages = pfns();
	ASSERT_GT(pages.size(), GetParam() == Mix::kSmall ? 2u : 50u);
	xv_stats before = xv_test::stats(pool);
	size_t accepted = 0;
	for (uint32_t pfn : pages) {
		for (uint32_t off = 0; off <= page_size() + 4; off++) {
			if (live.count({ pfn, off })) {
				ASSERT_NE(nullptr, xv_map(pool, pfn, off)) << pfn << ", " << off;
				ASSERT_NE(0u, xv_get_object_size(pool, pfn, off));
				accepted++;
				continue;
			}
			ASSERT_EQ(-EINVAL, xv_free(pool, pfn, off)) << pfn << ", " << off;
			ASSERT_TRUE(is_refused(pool, pfn, off)) << pfn << ", " << off;
		}
	}
	EXPECT_EQ(objs.size(), accepted);
	xv_stats after = xv_test::stats(pool);
	EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
	expect_intact("every offset");
}

// Random pairs: pfns around the pool's and across the whole range, offsets
// in and past a page, and 32-bit noise. Only live pairs are accepted.
TEST_P(XvMisuse, RandomPairs)
{
	const std::set<std::pair<uint32_t, uint32_t>> live = live_pairs();
	uint32_t top = *pfns().rbegin();
	xv_test::Rng r(GetParam() == Mix::kSmall ? 5 : 6);
	xv_stats before = xv_test::stats(pool);
	int hits = 0;
	for (int i = 0; i < 300000; i++) {
		uint32_t pfn, off;
		switch (r.below(3)) {
		case 0:
			pfn = static_cast<uint32_t>(r.below(top + 8));
			off = static_cast<uint32_t>(r.below(page_size() + 8));
			break;
		case 1:
			pfn = static_cast<uint32_t>(r.below(top + 8));
			off = static_cast<uint32_t>(r.below(page_size() / 4)) * 4;
			break;
		default:
			pfn = static_cast<uint32_t>(r.next());
			off = static_cast<uint32_t>(r.next());
		}
		if (live.count({ pfn, off })) {
			hits++;
			ASSERT_NE(nullptr, xv_map(pool, pfn, off));
			continue;
		}
		ASSERT_EQ(-EINVAL, xv_free(pool, pfn, off)) << pfn << ", " << off;
		ASSERT_TRUE(is_refused(pool, pfn, off)) << pfn << ", " << off;
	}
	EXPECT_GT(hits, 0); // the draw does reach live objects
	xv_stats after = xv_test::stats(pool);
	EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
	expect_intact("random pairs");
}

// Headers forged in every object at every 4-aligned offset: each claims a
// used block of a size that ends exactly where the real object ends (or at
// the page end, or 36 bytes on), whose prev field names the real block
// before it with the flags an allocator would set, and a copy of a real
// header taken from another object. None is taken for an object: the
// pool's record of the page, not the page, says which offsets are live.
TEST_P(XvMisuse, HeadersForgedInEveryObject)
{
	xv_stats before = xv_test::stats(pool);
	const std::set<std::pair<uint32_t, uint32_t>> live = live_pairs();
	uint32_t real_hdr;
	{
		const unsigned char *q = static_cast<const unsigned char *>(
			xv_map(pool, objs[7].pfn, objs[7].off));
		ASSERT_NE(nullptr, q);
		std::memcpy(&real_hdr, q - 4, 4);
	}
	for (int variant = 0; variant < 4; variant++) {
		SCOPED_TRACE(variant);
		for (const Obj &o : objs) {
			unsigned char *p = static_cast<unsigned char *>(xv_map(pool, o.pfn, o.off));
			ASSERT_NE(nullptr, p);
			for (uint32_t i = 4; i + 4 <= o.size; i += 4) {
				uint32_t fake_off = o.off + i; // the pair the forged header heads
				uint16_t size = static_cast<uint16_t>(
					variant == 0   ? o.off + o.size - fake_off
					: variant == 1 ? page_size() - fake_off
						       : 36);
				uint16_t prev = static_cast<uint16_t>(o.off - 4);
				if (variant == 3) {
					std::memcpy(p + i - 4, &real_hdr, 4);
				} else {
					std::memcpy(p + i - 4, &size, 2);
					std::memcpy(p + i - 2, &prev, 2);
				}
			}
		}
		for (const Obj &o : objs) {
			for (uint32_t i = 4; i + 4 <= o.size; i += 4) {
				if (live.count({ o.pfn, o.off + i }))
					continue;
				ASSERT_EQ(-EINVAL, xv_free(pool, o.pfn, o.off + i)) << i;
				ASSERT_TRUE(is_refused(pool, o.pfn, o.off + i)) << i;
			}
		}
		EXPECT_EQ(0u, xv_check(pool)); // user data is data
	}
	xv_stats after = xv_test::stats(pool);
	EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
	for (Obj &o : objs) // back to the contents ExpectIntact knows
		xv_test::fill(xv_map(pool, o.pfn, o.off), o.size, o.seed);
	expect_intact("forged headers");
}

TEST_P(XvMisuse, FreeBlocksAndFragments)
{
	// A free block between two objects, and the free tail of a page.
	Obj a = take(10);
	ASSERT_EQ(0, xv_free(pool, a.pfn, a.off));
	for (const xv_test::Block &b : xv_test::walk_blocks(pool)) {
		if (b.used)
			continue;
		ASSERT_EQ(-EINVAL, xv_free(pool, b.pfn, b.offset));
	}
	expect_intact("free blocks");
}

// User data that looks exactly like a used block's header (and a chain of
// them) is not taken for an object, and does not disturb the real chain.
TEST_P(XvMisuse, HeadersForgedInUserData)
{
	Obj big = alloc(2000);
	objs.push_back(big);
	unsigned char *p = static_cast<unsigned char *>(xv_map(pool, big.pfn, big.off));
	ASSERT_NE(nullptr, p);
	// Fake used headers every 64 bytes, each claiming 60 bytes with the one
	// before as its prev, so a single-header check would accept them.
	for (uint32_t i = 64; i + 64 <= 2000; i += 64) {
		uint16_t size = 60;
		uint16_t prev = static_cast<uint16_t>(big.off - 4 + i - 64);
		std::memcpy(p + i - 4, &size, 2);
		std::memcpy(p + i - 4 + 2, &prev, 2);
	}
	std::vector<unsigned char> saved(p, p + 2000);
	for (uint32_t i = 64; i + 64 <= 2000; i += 64) {
		ASSERT_EQ(-EINVAL, xv_free(pool, big.pfn, big.off + i)) << i;
		ASSERT_EQ(0u, xv_get_object_size(pool, big.pfn, big.off + i)) << i;
	}
	EXPECT_EQ(0, std::memcmp(saved.data(), p, 2000));
	EXPECT_EQ(0u, xv_check(pool));
	EXPECT_EQ(0, xv_free(pool, big.pfn, big.off));
	objs.pop_back();
	expect_intact("forged headers");
}

TEST_P(XvMisuse, UnknownPfns)
{
	xv_stats s = xv_test::stats(pool);
	uint32_t top = 0;
	for (const Obj &o : objs)
		top = o.pfn > top ? o.pfn : top;
	for (uint32_t pfn :
	     { top + 1, top + 1000, uint32_t{ 1 } << 20, UINT32_MAX - 1, UINT32_MAX }) {
		expect_refused(pfn, 4, "unknown pfn");
	}
	EXPECT_EQ(s.pages, xv_test::stats(pool).pages);
}

TEST_P(XvMisuse, PageGivenBack)
{
	// Empty a whole page: its pfn is then no longer ours.
	const uint32_t pfn = objs[5].pfn;
	std::vector<uint32_t> offs;
	for (size_t i = objs.size(); i-- > 0;) {
		if (objs[i].pfn != pfn)
			continue;
		offs.push_back(objs[i].off);
		Obj o = take(i);
		ASSERT_EQ(0, xv_free(pool, o.pfn, o.off));
	}
	ASSERT_FALSE(offs.empty());
	for (uint32_t off : offs)
		expect_refused(pfn, off, "page given back");
	expect_refused(pfn, 4, "page given back");
}

TEST_P(XvMisuse, AnotherPoolsPairs)
{
	// pfns are per pool (each pool has its own page source): a pair of pool B
	// is refused by pool A unless A happens to have a live object there.
	xv_pool *b = xv_create_pool();
	ASSERT_NE(nullptr, b);
	xv_test::Rng r(77);
	int refused = 0;
	for (int i = 0; i < 3000; i++) {
		uint32_t pfn, off;
		ASSERT_EQ(0,
			  xv_malloc(b, xv_test::compressed_size(r, xv_max_size()), &pfn, &off, 0));
		bool live_in_a = false;
		for (const Obj &o : objs)
			live_in_a |= o.pfn == pfn && o.off == off;
		if (live_in_a)
			continue;
		ASSERT_EQ(-EINVAL, xv_free(pool, pfn, off));
		refused++;
	}
	EXPECT_GT(refused, 2500);
	EXPECT_EQ(0u, xv_check(b));
	xv_destroy_pool(b);
	expect_intact("another pool's pairs");
}

TEST_P(XvMisuse, UseAfterFree)
{
	Obj o = take(3);
	ASSERT_NE(nullptr, xv_map(pool, o.pfn, o.off));
	ASSERT_EQ(0, xv_free(pool, o.pfn, o.off));
	expect_refused(o.pfn, o.off, "use after free");
	// Reallocated at the same place, the pair is valid again: for the new
	// object only.
	uint32_t pfn, off;
	ASSERT_EQ(0, xv_malloc(pool, o.size, &pfn, &off, XV_NOGROW));
	Obj n = o;
	n.pfn = pfn;
	n.off = off;
	n.seed = 999;
	xv_test::fill(xv_map(pool, pfn, off), n.size, n.seed);
	objs.push_back(n);
	expect_intact("reallocated");
}

TEST_P(XvMisuse, NullPool)
{
	EXPECT_EQ(-EINVAL, xv_free(nullptr, objs[0].pfn, objs[0].off));
	errno = 0;
	EXPECT_EQ(nullptr, xv_map(nullptr, objs[0].pfn, objs[0].off));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(0u, xv_get_object_size(nullptr, objs[0].pfn, objs[0].off));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	xv_unmap(nullptr, objs[0].pfn, objs[0].off);
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1u, xv_check(nullptr));
	xv_stats s;
	std::memset(&s, 0xff, sizeof(s));
	xv_get_stats(nullptr, &s);
	EXPECT_EQ(0u, s.pages);
	expect_intact("null pool");
}

// The checker itself: damage a header and it reports it (and does not
// crash); repair it and it is quiet again.
TEST_P(XvMisuse, CheckerSeesCorruption)
{
	const Obj o = objs[20];
	unsigned char *p = static_cast<unsigned char *>(xv_map(pool, o.pfn, o.off));
	ASSERT_NE(nullptr, p);
	unsigned char saved[4];
	std::memcpy(saved, p - 4, 4);
	const uint16_t bad_sizes[] = { 0, 1, 7, 0xffff, 0x8000 };
	for (uint16_t size : bad_sizes) {
		std::memcpy(p - 4, &size, 2);
		EXPECT_GT(xv_check(pool), 0u) << size;
	}
	std::memcpy(p - 4, saved, 4);
	p[-2] ^= 1; // BLOCK_FREE on a used block
	EXPECT_GT(xv_check(pool), 0u);
	p[-2] ^= 1;
	p[-2] ^= 2; // PREV_FREE wrong
	EXPECT_GT(xv_check(pool), 0u);
	std::memcpy(p - 4, saved, 4);
	EXPECT_EQ(0u, xv_check(pool));
	expect_intact("repaired");
}

INSTANTIATE_TEST_SUITE_P(Mixes, XvMisuse, ::testing::Values(Mix::kCompressed, Mix::kSmall),
			 [](const ::testing::TestParamInfo<Mix> &i) {
				 return i.param == Mix::kSmall ? "SmallObjects" : "CompressedPages";
			 });

} // namespace
