// api_test.cc - uswap's API from one thread: arguments, the states a page
// goes through, round trips of every kind of page, the stats in zram's
// terms, repeated reclaim of the same pages, and the clock's order.
#include <errno.h>

#include <vector>

#include "tests/uswap/uswap_test_util.h"

namespace
{

using uswap_test::make_page;
using uswap_test::make_region;
using uswap_test::page_at;
using uswap_test::page_is;
using uswap_test::page_size;
using uswap_test::stats;
using uswap_test::write_pages;

TEST(UswapApi, BadArguments)
{
	uswap_config c = {};
	errno = 0;
	EXPECT_EQ(uswap_create(nullptr), nullptr);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	EXPECT_EQ(uswap_create(&c), nullptr); // size 0
	EXPECT_EQ(errno, EINVAL);
	c.size = page_size();
	c.batch_pages = USWAP_BATCH_MAX + 1;
	errno = 0;
	EXPECT_EQ(uswap_create(&c), nullptr);
	EXPECT_EQ(errno, EINVAL);
	c.batch_pages = 0;
	c.lz4_acceleration = -1;
	EXPECT_EQ(uswap_create(&c), nullptr);
	c.lz4_acceleration = 0;
	c.max_pages_per_zspage = ZS_MAX_PAGES_PER_ZSPAGE + 1;
	EXPECT_EQ(uswap_create(&c), nullptr);

	EXPECT_EQ(uswap_reclaim(nullptr, 1), -EINVAL);
	EXPECT_EQ(uswap_reclaim_range(nullptr, 0, 1), -EINVAL);
	EXPECT_EQ(uswap_page_state(nullptr, 0), -EINVAL);
	EXPECT_EQ(uswap_get_stats(nullptr, nullptr), -EINVAL);
	EXPECT_EQ(uswap_check(nullptr), 1u);
	EXPECT_EQ(uswap_base(nullptr), nullptr);
	EXPECT_EQ(uswap_pages(nullptr), 0u);
	EXPECT_EQ(uswap_pool(nullptr), nullptr);
	uswap_destroy(nullptr);
}

TEST(UswapApi, Advice)
{
	EXPECT_NE(std::strstr(uswap_advice(-EPERM), "vm.unprivileged_userfaultfd"), nullptr);
	EXPECT_NE(std::strstr(uswap_advice(EPERM), "CAP_SYS_PTRACE"), nullptr);
	EXPECT_NE(std::strstr(uswap_advice(-ENOSYS), "CONFIG_USERFAULTFD"), nullptr);
	EXPECT_NE(std::strstr(uswap_advice(-EOPNOTSUPP), "write-protect"), nullptr);
	EXPECT_STREQ(uswap_advice(-ENOENT), strerror(ENOENT));
}

TEST(UswapApi, RangeArguments)
{
	USWAP_REQUIRE();
	auto u = make_region(8);
	ASSERT_TRUE(u) << strerror(errno);
	EXPECT_EQ(uswap_pages(u.get()), 8u);
	EXPECT_EQ(reinterpret_cast<uintptr_t>(uswap_base(u.get())) % page_size(), 0u);
	EXPECT_EQ(uswap_reclaim_range(u.get(), 9, 0), -EINVAL);
	EXPECT_EQ(uswap_reclaim_range(u.get(), 4, 5), -EINVAL);
	EXPECT_EQ(uswap_reclaim_range(u.get(), 0, SIZE_MAX), -EINVAL);
	EXPECT_EQ(uswap_reclaim_range(u.get(), 8, 0), 0);
	EXPECT_EQ(uswap_page_state(u.get(), 8), -EINVAL);
	// Rounded up to whole pages.
	uswap_config c = {};
	c.size = page_size() + 1;
	uswap_test::Region v(uswap_create(&c));
	ASSERT_TRUE(v);
	EXPECT_EQ(uswap_pages(v.get()), 2u);
}

// A never-touched page reads as zeros, and is not reclaimed.
TEST(UswapApi, EmptyPages)
{
	USWAP_REQUIRE();
	auto u = make_region(4);
	ASSERT_TRUE(u);
	EXPECT_EQ(uswap_page_state(u.get(), 0), USWAP_EMPTY);
	EXPECT_EQ(uswap_reclaim(u.get(), 4), 0);
	EXPECT_EQ(page_at(u.get(), 1)[100], 0); // a read: the zero page
	page_at(u.get(), 2)[7] = 9;             // a write: a zeroed page
	EXPECT_EQ(uswap_page_state(u.get(), 1), USWAP_RESIDENT);
	EXPECT_EQ(uswap_page_state(u.get(), 2), USWAP_RESIDENT);
	EXPECT_EQ(uswap_page_state(u.get(), 0), USWAP_EMPTY);
	struct uswap_stats st = stats(u.get());
	EXPECT_EQ(st.zero_faults, 2u);
	EXPECT_EQ(st.faults, 0u);
	EXPECT_EQ(uswap_check(u.get()), 0u);
}

// Every kind of page out and back, several rounds, checking the states,
// resident memory and the stats on the way.
TEST(UswapApi, RoundTripsEveryKind)
{
	USWAP_REQUIRE();
	const size_t n = 256;
	const uint64_t seed = 7;
	auto u = make_region(n);
	ASSERT_TRUE(u);
	size_t same = 0, raw = 0;
	for (size_t i = 0; i < n; i++) {
		make_page(page_at(u.get(), i), seed, i, 0);
		uswap_test::Kind k = uswap_test::kind_of(seed, i);
		same += k == uswap_test::Kind::kSame || k == uswap_test::Kind::kZero;
		raw += k == uswap_test::Kind::kRaw;
	}
	ASSERT_GT(same, 0u);
	ASSERT_GT(raw, 0u);
	for (int round = 0; round < 4; round++) {
		ASSERT_EQ(uswap_reclaim_range(u.get(), 0, n), static_cast<long>(n));
		for (size_t i = 0; i < n; i++)
			ASSERT_EQ(uswap_page_state(u.get(), i), USWAP_STORED);
		EXPECT_EQ(uswap_test::resident_pages(u.get()), 0u);
		struct uswap_stats st = stats(u.get());
		EXPECT_EQ(st.stored_pages, n);
		EXPECT_EQ(st.orig_data_size, n * page_size());
		EXPECT_EQ(st.same_pages, same);
		EXPECT_EQ(st.huge_pages, raw);
		EXPECT_GT(st.compr_data_size, raw * page_size());
		EXPECT_LT(st.compr_data_size, (n - same) * page_size());
		EXPECT_GT(st.mem_used_total, 0u);
		EXPECT_EQ(st.reclaimed, (round + 1) * n);
		EXPECT_EQ(uswap_check(u.get()), 0u);
		for (size_t i = 0; i < n; i++)
			ASSERT_TRUE(page_is(page_at(u.get(), i), seed, i, 0))
				<< "round " << round << " page " << i;
		st = stats(u.get());
		EXPECT_EQ(st.stored_pages, 0u);
		EXPECT_EQ(st.compr_data_size, 0u);
		EXPECT_EQ(st.faults, (round + 1) * n);
		EXPECT_EQ(st.eexist, 0u);
		EXPECT_EQ(st.read_errors, 0u);
		EXPECT_EQ(uswap_check(u.get()), 0u);
	}
	EXPECT_EQ(zs_check(uswap_pool(u.get())), 0u);
}

// Writes after a page came back are kept through the next reclaim.
TEST(UswapApi, WritesSurviveReclaim)
{
	USWAP_REQUIRE();
	const size_t n = 64;
	auto u = make_region(n);
	ASSERT_TRUE(u);
	write_pages(u.get(), n, 3);
	for (uint64_t v = 1; v <= 5; v++) {
		ASSERT_EQ(uswap_reclaim_range(u.get(), 0, n), static_cast<long>(n));
		for (size_t i = 0; i < n; i++) {
			ASSERT_TRUE(page_is(page_at(u.get(), i), 3, i, v - 1)) << i;
			make_page(page_at(u.get(), i), 3, i, v);
		}
	}
	EXPECT_EQ(uswap_check(u.get()), 0u);
}

// The clock: address order from the hand, a second chance for pages the
// handler faulted in since the hand passed.
TEST(UswapApi, ClockOrder)
{
	USWAP_REQUIRE();
	const size_t n = 16;
	auto u = make_region(n);
	ASSERT_TRUE(u);
	write_pages(u.get(), n, 5);
	// Every page was faulted in (first touch): all referenced, so the first
	// sweep only clears the marks and the second takes pages 0..3.
	ASSERT_EQ(uswap_reclaim(u.get(), 4), 4);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(uswap_page_state(u.get(), i), i < 4 ? USWAP_STORED : USWAP_RESIDENT) << i;
	// The hand is at 4: the next pages are 4..7.
	ASSERT_EQ(uswap_reclaim(u.get(), 4), 4);
	for (size_t i = 4; i < 8; i++)
		EXPECT_EQ(uswap_page_state(u.get(), i), USWAP_STORED);
	// Page 1 faulted back in: referenced, skipped once; 8..11 go next.
	EXPECT_TRUE(page_is(page_at(u.get(), 1), 5, 1, 0));
	ASSERT_EQ(uswap_reclaim(u.get(), 4), 4);
	for (size_t i = 8; i < 12; i++)
		EXPECT_EQ(uswap_page_state(u.get(), i), USWAP_STORED);
	// Five more: 12..15, then the hand wraps, page 1 loses its mark, and on
	// the next sweep it is the fifth.
	ASSERT_EQ(uswap_reclaim(u.get(), 5), 5);
	for (size_t i = 12; i < 16; i++)
		EXPECT_EQ(uswap_page_state(u.get(), i), USWAP_STORED);
	EXPECT_EQ(uswap_page_state(u.get(), 1), USWAP_STORED);
	EXPECT_EQ(uswap_reclaim(u.get(), 1), 0); // nothing resident is left
	for (size_t i = 0; i < n; i++)
		EXPECT_TRUE(page_is(page_at(u.get(), i), 5, i, 0)) << i;
	EXPECT_EQ(uswap_check(u.get()), 0u);
}

} // namespace
