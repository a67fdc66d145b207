// fault_test.cc - fault injection at page allocation: the Nth page the pool
// asks for is refused, for N = 1, 2, ... while the pool fills. The failing
// xv_malloc returns -ENOMEM and changes nothing; xv_check passes; every
// object keeps its bytes; the next allocation succeeds (the fault is once).
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

struct Obj {
	uint32_t pfn, off, size;
	uint64_t seed;
};

class XvFault : public ::testing::TestWithParam<unsigned>
{
};

TEST_P(XvFault, NthPageAllocationFails)
{
	const unsigned arenas = GetParam();
	for (uint64_t n = 1; n <= 48; n++) {
		SCOPED_TRACE(n);
		xv_config cfg{};
		cfg.arenas = arenas;
		xv_pool *pool = xv_create_pool_config(&cfg);
		ASSERT_NE(nullptr, pool);
		xv_fail_nth_page_alloc(pool, n);
		xv_test::Rng r(n * 7919);
		std::vector<Obj> objs;
		int failures = 0;
		// Fill up to n + 8 pages, freeing now and then, so that some requests
		// are served from free blocks and some need pages.
		while (xv_test::stats(pool).pages_allocated < n + 8) {
			if (!objs.empty() && r.below(4) == 0) {
				size_t k = r.below(objs.size());
				ASSERT_EQ(0, xv_free(pool, objs[k].pfn, objs[k].off));
				objs[k] = objs.back();
				objs.pop_back();
				continue;
			}
			Obj o;
			o.size = xv_test::compressed_size(r, xv_max_size());
			o.seed = r.next();
			xv_stats before = xv_test::stats(pool);
			int err = xv_malloc(pool, o.size, &o.pfn, &o.off, 0);
			if (err) {
				ASSERT_EQ(-ENOMEM, err);
				ASSERT_EQ(0, failures++) << "the fault must strike once";
				// It struck the nth page request.
				ASSERT_EQ(n - 1, before.pages_allocated);
				xv_stats after = xv_test::stats(pool);
				ASSERT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
				ASSERT_EQ(0u, xv_check(pool));
				for (const Obj &x : objs) {
					ASSERT_TRUE(xv_test::verify(xv_map(pool, x.pfn, x.off),
								    x.size, x.seed));
				}
				continue;
			}
			void *p = xv_map(pool, o.pfn, o.off);
			ASSERT_NE(nullptr, p);
			xv_test::fill(p, o.size, o.seed);
			objs.push_back(o);
		}
		EXPECT_EQ(1, failures);
		EXPECT_EQ(0u, xv_check(pool));
		for (const Obj &x : objs) {
			ASSERT_TRUE(xv_test::verify(xv_map(pool, x.pfn, x.off), x.size, x.seed));
			ASSERT_EQ(0, xv_free(pool, x.pfn, x.off));
		}
		EXPECT_EQ(0u, xv_test::stats(pool).pages);
		EXPECT_EQ(0u, xv_check(pool));
		xv_destroy_pool(pool);
	}
}

INSTANTIATE_TEST_SUITE_P(Arenas, XvFault, ::testing::Values(1u, 4u));

TEST(XvFaultCancel, ZeroCancelsAndOnlyPageRequestsCount)
{
	xv_pool *pool = xv_create_pool();
	ASSERT_NE(nullptr, pool);
	xv_fail_nth_page_alloc(pool, 1);
	xv_fail_nth_page_alloc(pool, 0);
	uint32_t pfn, off, pfn2, off2;
	ASSERT_EQ(0, xv_malloc(pool, 100, &pfn, &off, 0));
	// A request served from a free block asks for no page: it does not
	// count towards n; the next request that needs a page fails, once.
	xv_fail_nth_page_alloc(pool, 1);
	ASSERT_EQ(0, xv_malloc(pool, 100, &pfn2, &off2, 0));
	EXPECT_EQ(pfn, pfn2);
	EXPECT_EQ(-ENOMEM, xv_malloc(pool, xv_max_size(), &pfn2, &off2, 0));
	EXPECT_EQ(1u, xv_test::stats(pool).pages);
	EXPECT_EQ(0, xv_malloc(pool, xv_max_size(), &pfn2, &off2, 0));
	EXPECT_EQ(2u, xv_test::stats(pool).pages);
	EXPECT_EQ(0u, xv_check(pool));
	xv_destroy_pool(pool);
}

} // namespace
