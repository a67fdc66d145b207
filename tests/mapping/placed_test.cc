// Placed page sources: the owner names every pfn (mp_alloc_pages_at()) in a
// pfn space larger than the page limit; runs are contiguous in the direct map.
#include <errno.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mapping/mapping.h"

namespace
{

struct SourceDeleter {
	void operator()(mp_source *s) const
	{
		mp_destroy(s);
	}
};
using Source = std::unique_ptr<mp_source, SourceDeleter>;

Source make_placed(uint64_t max_pages, uint64_t span, mp_backing backing = MP_BACKING_PRIVATE)
{
	mp_config cfg = {};
	cfg.max_pages = max_pages;
	cfg.span_pages = span;
	cfg.placed = 1;
	cfg.backing = backing;
	Source s(mp_create(&cfg));
	EXPECT_NE(s, nullptr) << strerror(errno);
	return s;
}

uint8_t *page_at(mp_source *s, uint32_t pfn)
{
	return mp_direct_map(s) + ((size_t)pfn << mp_page_shift());
}

TEST(Placed, ConfigChecks)
{
	mp_config cfg = {};
	cfg.max_pages = 100;
	cfg.span_pages = 99; // below the limit
	EXPECT_EQ(mp_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);
	cfg.span_pages = (uint64_t)UINT32_MAX + 1;
	EXPECT_EQ(mp_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);
	cfg.span_pages = 0;
	cfg.backing = static_cast<mp_backing>(7);
	EXPECT_EQ(mp_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);
}

TEST(Placed, RunsAreContiguousZeroedAndCounted)
{
	for (mp_backing b : { MP_BACKING_PRIVATE, MP_BACKING_SHARED }) {
		Source s = make_placed(64, 1 << 20, b);
		const size_t page = mp_page_size();
		uint32_t p;
		EXPECT_EQ(mp_alloc_page(s.get(), &p), -EINVAL) << "placed: no free choice";
		// A run far into the span, past the page limit's worth of pfns.
		ASSERT_EQ(mp_alloc_pages_at(s.get(), 500000, 16), 0);
		uint8_t *run = page_at(s.get(), 500000);
		for (size_t i = 0; i < 16 * page; i++)
			ASSERT_EQ(run[i], 0);
		memset(run, 0x6b, 16 * page); // one contiguous range of 16 pages
		for (uint32_t i = 0; i < 16; i++) {
			EXPECT_TRUE(mp_page_valid(s.get(), 500000 + i));
			EXPECT_EQ(mp_kmap(s.get(), 500000 + i), run + i * page);
		}
		EXPECT_FALSE(mp_page_valid(s.get(), 500016));
		mp_stats st;
		mp_get_stats(s.get(), &st);
		EXPECT_EQ(st.pages_used, 16u);
		EXPECT_EQ(st.allocs, 16u);
		// Freed pages read as zero when allocated again.
		std::vector<uint32_t> pfns;
		for (uint32_t i = 0; i < 16; i++)
			pfns.push_back(500000 + i);
		ASSERT_EQ(mp_free_pages(s.get(), pfns.data(), pfns.size()), 0);
		ASSERT_EQ(mp_alloc_pages_at(s.get(), 500004, 2), 0);
		for (size_t i = 0; i < 2 * page; i++)
			ASSERT_EQ(run[4 * page + i], 0);
	}
}

TEST(Placed, AllOrNothing)
{
	Source s = make_placed(10, 1000);
	ASSERT_EQ(mp_alloc_pages_at(s.get(), 5, 1), 0);
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 3, 4), -EINVAL) << "overlaps pfn 5";
	EXPECT_FALSE(mp_page_valid(s.get(), 3));
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 998, 3), -EINVAL) << "past the span";
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 1000, 1), -EINVAL);
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 0, 0), -EINVAL);
	EXPECT_EQ(mp_alloc_pages_at(nullptr, 0, 1), -EINVAL);
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 100, 10), -ENOMEM) << "1 + 10 > 10";
	EXPECT_FALSE(mp_page_valid(s.get(), 100));
	ASSERT_EQ(mp_alloc_pages_at(s.get(), 100, 9), 0) << "exactly the limit";
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 10u);
	EXPECT_EQ(st.alloc_failures, 1u);
	uint32_t bad = 7;
	EXPECT_EQ(mp_free_pages(s.get(), &bad, 1), -EINVAL);
}

TEST(Placed, FaultInjectionCountsEachPage)
{
	Source s = make_placed(0, 4096);
	mp_fail_nth_alloc(s.get(), 3);
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 0, 4), -ENOMEM) << "the 3rd page";
	EXPECT_FALSE(mp_page_valid(s.get(), 0));
	EXPECT_EQ(mp_alloc_pages_at(s.get(), 0, 4), 0) << "once only";
}

// A page freed by one thread is given back outside the lock; an allocation
// of the same pfn meanwhile must wait for it, never be zeroed afterwards.
TEST(Placed, ReallocatedPageIsNeverDiscardedLater)
{
	Source s = make_placed(0, 1 << 16);
	const size_t page = mp_page_size();
	for (int round = 0; round < 200; round++) {
		const uint32_t n = 64, base = (uint32_t)(round % 8) * 128;
		ASSERT_EQ(mp_alloc_pages_at(s.get(), base, n), 0);
		std::vector<uint32_t> pfns;
		for (uint32_t i = 0; i < n; i++)
			pfns.push_back(base + i);
		std::thread freer([&] { ASSERT_EQ(mp_free_pages(s.get(), pfns.data(), n), 0); });
		int rc;
		while ((rc = mp_alloc_pages_at(s.get(), base + n - 1, 1)) != 0)
			ASSERT_EQ(rc, -EINVAL);
		memset(page_at(s.get(), base + n - 1), 0x33, page);
		freer.join();
		ASSERT_EQ(page_at(s.get(), base + n - 1)[page - 1], 0x33) << "round " << round;
		uint32_t last = base + n - 1;
		ASSERT_EQ(mp_free_pages(s.get(), &last, 1), 0);
	}
}

} // namespace
