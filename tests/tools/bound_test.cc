// Tests of tools/bound.h: the offline single-page packing bound on inputs
// checked by hand, and on random inputs against a plain best fit decreasing
// that keeps every page.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

extern "C" {
#include "tools/bound.h"
}

namespace
{

// Objects of @sizes bytes packed into pages of @page bytes.
bound pack(const std::vector<uint32_t> &sizes, size_t page)
{
	std::vector<uint64_t> hist(page + 1, 0);
	bound b{};

	for (uint32_t s : sizes)
		hist[s]++;
	EXPECT_EQ(0, bound_pack(hist.data(), page, &b));
	return b;
}

// An object of @units 4-byte units of its page, header included.
uint32_t of_units(uint32_t units)
{
	return 4 * units - 4;
}

// 1,000-unit pages; blocks of 600, 500, 400, 300, 200 units. Best fit
// decreasing: 600 opens A (400 left), 500 opens B (500 left), 400 fits A
// exactly, 300 goes to B (200 left), 200 fills B: two pages. (Worst fit
// would put 400 in B and need a third page for 200.)
TEST(Bound, BestFitDecreasingByHand)
{
	bound b = pack(
		{ of_units(300), of_units(600), of_units(200), of_units(500), of_units(400) },
		4000);
	EXPECT_EQ(2u, b.pages);
	EXPECT_EQ(2u, b.floor_pages);
}

// A 1-byte object takes 8 bytes (4 rounded, 4 of header): 512 in a 4 KiB
// page, so 1,000 of them take two pages.
TEST(Bound, HeaderAndAlignment)
{
	EXPECT_EQ(2u, pack(std::vector<uint32_t>(1000, 1), 4096).pages);
	EXPECT_EQ(1u, pack(std::vector<uint32_t>(512, 1), 4096).pages);
	EXPECT_EQ(2u, pack(std::vector<uint32_t>(513, 1), 4096).pages);
	// 2044 + 4 = 2048: two per page; 2045 rounds to 2048, + 4: one.
	EXPECT_EQ(1u, pack({ 2044, 2044 }, 4096).pages);
	EXPECT_EQ(2u, pack({ 2045, 2045 }, 4096).pages);
	EXPECT_EQ(2u, pack({ 2045, 2045 }, 4096).floor_pages);
}

// Objects above page size - 4 go one per page; one of page size - 4 fills
// its page and leaves no room for even a 1-byte object.
TEST(Bound, RawPagesOnePerPage)
{
	bound b = pack({ 4093, 4096, 4096 }, 4096);
	EXPECT_EQ(3u, b.pages);
	EXPECT_EQ(3u, b.floor_pages);
	b = pack({ 4092, 4092, 1 }, 4096);
	EXPECT_EQ(3u, b.pages);
	EXPECT_EQ(3u, b.floor_pages);
	EXPECT_EQ(0u, pack({}, 4096).pages);
}

// The plain algorithm: every page's free bytes in a list, each block (largest
// first) into the page it fits most tightly.
uint64_t plain_best_fit(std::vector<uint32_t> sizes, size_t page)
{
	std::vector<size_t> free;
	uint64_t raw = 0;

	std::sort(sizes.rbegin(), sizes.rend());
	for (uint32_t s : sizes) {
		size_t need = (s + 3) / 4 * 4 + 4, best = SIZE_MAX;

		if (need > page) {
			raw++;
			continue;
		}
		for (size_t i = 0; i < free.size(); i++)
			if (free[i] >= need && (best == SIZE_MAX || free[i] < free[best]))
				best = i;
		if (best == SIZE_MAX)
			free.push_back(page - need);
		else
			free[best] -= need;
	}
	return free.size() + raw;
}

TEST(Bound, MatchesPlainBestFitDecreasing)
{
	std::mt19937_64 rng(2026);

	for (int round = 0; round < 40; round++) {
		std::vector<uint32_t> sizes;
		size_t n = 1 + rng() % 3000;
		uint32_t top = 1 + (uint32_t)(rng() % 4096);

		for (size_t i = 0; i < n; i++)
			sizes.push_back(1 + (uint32_t)(rng() % top));
		bound b = pack(sizes, 4096);
		ASSERT_EQ(plain_best_fit(sizes, 4096), b.pages) << "round " << round;
		EXPECT_LE(b.floor_pages, b.pages);
	}
}

} // namespace
