// uswap_test_util.h - what the uswap suites share: the skip when this
// process may not use userfaultfd, a region that destroys itself, and pages
// of every kind zram tells apart (same-filled, compressible, raw) whose
// bytes follow from (seed, page, version) so that any page can be checked.
#ifndef ZSALLOC_TESTS_USWAP_UTIL_H
#define ZSALLOC_TESTS_USWAP_UTIL_H

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "examples/uswap/uswap.h"
#include "tests/common/content.h"
#include "zsmalloc/zsmalloc.h"

namespace uswap_test
{

// Skips the test, with uswap's advice as the reason, where userfaultfd is
// not allowed (a GoogleTest skip: counted as skipped, never as passed).
#define USWAP_REQUIRE()                                                            \
	do {                                                                       \
		int uswap_err_ = uswap_available(0);                               \
		if (uswap_err_ != 0)                                               \
			GTEST_SKIP() << "userfaultfd unavailable (" << -uswap_err_ \
				     << "): " << uswap_advice(uswap_err_);         \
	} while (0)

struct Destroy {
	void operator()(struct uswap *u) const
	{
		uswap_destroy(u);
	}
};
using Region = std::unique_ptr<struct uswap, Destroy>;

inline size_t page_size()
{
	return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

inline Region make_region(size_t pages, uswap_config c = {})
{
	c.size = pages * page_size();
	return Region(uswap_create(&c));
}

// What a page holds: kind by (seed, page), bytes by (seed, page, version).
enum class Kind { kSame, kZero, kText, kRaw };

inline Kind kind_of(uint64_t seed, size_t page)
{
	uint64_t k = test_content::Rng(seed * 31 + page).next() % 16;
	if (k == 0)
		return Kind::kZero;
	if (k == 1)
		return Kind::kSame;
	if (k == 2)
		return Kind::kRaw;
	return Kind::kText;
}

// The bytes of (seed, page, version): a compressible page is a random
// prefix (up to 3/4 of the page) then a repeating pattern.
inline void make_page(void *out, uint64_t seed, size_t page, uint64_t version)
{
	const size_t ps = page_size();
	uint64_t s = (seed * 0x9e3779b97f4a7c15ull) ^ (page << 20) ^ version;
	unsigned char *p = static_cast<unsigned char *>(out);
	test_content::Rng r(s);
	switch (kind_of(seed, page)) {
	case Kind::kZero:
		std::memset(p, 0, ps);
		if (version)
			std::memcpy(p, &version, sizeof(version));
		return;
	case Kind::kSame: {
		uint64_t w = r.next() | 1;
		for (size_t i = 0; i < ps; i += 8)
			std::memcpy(p + i, &w, 8);
		if (version)
			std::memcpy(p, &version, sizeof(version));
		return;
	}
	case Kind::kRaw:
		test_content::fill(p, ps, s);
		return;
	case Kind::kText: {
		size_t prefix = 8 + r.below(ps * 3 / 4);
		test_content::fill(p, prefix, s);
		for (size_t i = prefix; i < ps; i++)
			p[i] = static_cast<unsigned char>("pattern "[i % 8]);
		return;
	}
	}
}

// 1 when the page at `p` holds (seed, page, version).
inline bool page_is(const void *p, uint64_t seed, size_t page, uint64_t version)
{
	std::unique_ptr<unsigned char[]> want(new unsigned char[page_size()]);
	make_page(want.get(), seed, page, version);
	return std::memcmp(p, want.get(), page_size()) == 0;
}

inline unsigned char *page_at(struct uswap *u, size_t i)
{
	return static_cast<unsigned char *>(uswap_base(u)) + i * page_size();
}

// Writes (seed, page, 0) into each of the first @n pages of @u (the first
// touch faults each page in).
inline void write_pages(struct uswap *u, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		make_page(page_at(u, i), seed, i, 0);
}

// Pages of the region with a page table entry now, by mincore() (the
// shared zero page counts).
inline size_t resident_pages(struct uswap *u)
{
	size_t n = uswap_pages(u);
	std::unique_ptr<unsigned char[]> vec(new unsigned char[n]);
	if (mincore(uswap_base(u), n * page_size(), vec.get()) != 0)
		return SIZE_MAX;
	size_t r = 0;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

inline struct uswap_stats stats(struct uswap *u)
{
	struct uswap_stats st;
	EXPECT_EQ(uswap_get_stats(u, &st), 0);
	return st;
}

// The seed of a randomised test: USWAP_TEST_SEED, else from the clock;
// printed so that a failure can be replayed.
inline uint64_t test_seed()
{
	const char *env = std::getenv("USWAP_TEST_SEED");
	uint64_t seed = env ? std::strtoull(env, nullptr, 0) : static_cast<uint64_t>(time(nullptr));
	std::printf("seed %llu (replay: --test_env=USWAP_TEST_SEED=%llu)\n",
		    static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
	return seed;
}

} // namespace uswap_test

#endif // ZSALLOC_TESTS_USWAP_UTIL_H
