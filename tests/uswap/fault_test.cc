// fault_test.cc - the pool refuses pages: the page that cannot be stored
// stays in memory with its bytes, nothing is lost, and the table and the
// pool agree after every refusal.
#include <errno.h>

#include "tests/uswap/uswap_test_util.h"

namespace
{

using uswap_test::make_page;
using uswap_test::page_at;
using uswap_test::page_is;
using uswap_test::stats;

constexpr uint64_t kSeed = 21;

void fill(struct uswap *u)
{
	for (size_t i = 0; i < uswap_pages(u); i++)
		make_page(page_at(u, i), kSeed, i, 0);
}

// Every page holds its bytes (faulting the stored ones back in).
size_t wrong_pages(struct uswap *u)
{
	size_t bad = 0;
	for (size_t i = 0; i < uswap_pages(u); i++)
		bad += !page_is(page_at(u, i), kSeed, i, 0);
	return bad;
}

// The Nth page the pool asks for is refused, for every N the reclaim of the
// whole region needs: the reclaim stops at the page that needed it (unless
// the pool found a hole for it), that page and the rest stay resident.
TEST(UswapFault, NthPageRefused)
{
	USWAP_REQUIRE();
	const size_t n = 192;
	auto probe = uswap_test::make_region(n);
	ASSERT_TRUE(probe);
	fill(probe.get());
	ASSERT_EQ(uswap_reclaim_range(probe.get(), 0, n), static_cast<long>(n));
	const uint64_t pool_pages = stats(probe.get()).mem_used_max / uswap_test::page_size();
	ASSERT_GT(pool_pages, 4u);
	size_t refusals = 0;
	for (uint64_t nth = 1; nth <= pool_pages + 1; nth++) {
		auto u = uswap_test::make_region(n);
		ASSERT_TRUE(u);
		fill(u.get());
		zs_fail_nth_page_alloc(uswap_pool(u.get()), nth);
		long got = uswap_reclaim_range(u.get(), 0, n);
		struct uswap_stats st = stats(u.get());
		if (got == -ENOMEM)
			got = 0;
		ASSERT_GE(got, 0) << "nth " << nth;
		size_t stored = 0, resident = 0;
		for (size_t i = 0; i < n; i++) {
			int s = uswap_page_state(u.get(), i);
			stored += s == USWAP_STORED;
			resident += s == USWAP_RESIDENT;
		}
		EXPECT_EQ(stored, static_cast<size_t>(got)) << "nth " << nth;
		EXPECT_EQ(stored + resident, n) << "nth " << nth;
		EXPECT_EQ(st.reclaim_failed, got < static_cast<long>(n) ? 1u : 0u) << "nth " << nth;
		refusals += st.reclaim_failed;
		if (got < static_cast<long>(n)) {
			// The refused page (the first not stored) is in memory, by mincore
			// as well as by its state.
			size_t first = 0;
			while (uswap_page_state(u.get(), first) == USWAP_STORED)
				first++;
			unsigned char in = 0;
			ASSERT_EQ(mincore(page_at(u.get(), first), uswap_test::page_size(), &in),
				  0);
			EXPECT_TRUE(in & 1) << "nth " << nth << " page " << first;
		}
		EXPECT_EQ(uswap_check(u.get()), 0u) << "nth " << nth;
		EXPECT_EQ(wrong_pages(u.get()), 0u) << "nth " << nth;
		// With the injection cancelled (it is pending still when the pool
		// needed fewer pages), everything goes out and comes back.
		zs_fail_nth_page_alloc(uswap_pool(u.get()), 0);
		EXPECT_EQ(uswap_reclaim_range(u.get(), 0, n), static_cast<long>(n))
			<< "nth " << nth;
		EXPECT_EQ(wrong_pages(u.get()), 0u) << "nth " << nth;
		EXPECT_EQ(uswap_check(u.get()), 0u) << "nth " << nth;
	}
	std::printf(
		"%zu of %llu injected page refusals stopped a reclaim (the others found a hole)\n",
		refusals, static_cast<unsigned long long>(pool_pages + 1));
	EXPECT_GT(refusals, 0u) << "no injected refusal reached reclaim: nothing tested";
}

// A pool at its page limit: reclaim stores what fits, then -ENOMEM; the
// pages that did not fit stay, same-filled pages still go (they need no
// pool), and everything reads back.
TEST(UswapFault, PoolLimit)
{
	USWAP_REQUIRE();
	const size_t n = 512;
	uswap_config c = {};
	c.max_pool_pages = 16;
	auto u = uswap_test::make_region(n, c);
	ASSERT_TRUE(u);
	fill(u.get());
	long got = uswap_reclaim(u.get(), n);
	ASSERT_GT(got, 0);
	ASSERT_LT(got, static_cast<long>(n));
	struct uswap_stats st = stats(u.get());
	EXPECT_LE(st.mem_used_total, 16 * uswap_test::page_size());
	EXPECT_EQ(st.reclaim_failed, 1u);
	EXPECT_EQ(uswap_check(u.get()), 0u);
	// Again, until the pool refuses the first page it is given: -ENOMEM.
	long r;
	int calls = 0;
	while ((r = uswap_reclaim(u.get(), n)) > 0 && calls < 1000)
		calls++;
	EXPECT_EQ(r, -ENOMEM);
	EXPECT_EQ(uswap_check(u.get()), 0u);
	EXPECT_EQ(wrong_pages(u.get()), 0u);
	EXPECT_EQ(stats(u.get()).stored_pages, 0u);
	EXPECT_EQ(uswap_check(u.get()), 0u);
	EXPECT_EQ(zs_check(uswap_pool(u.get())), 0u);
}

} // namespace
