// race_test.cc - reclaim racing faults and writes on the same pages.
//
// A few pages, every thread writing its own 8-byte counter in each of them
// and checking on every step that the counter still holds what it wrote
// last, while another thread reclaims the same pages over and over and a
// third compacts the pool. A write lost to a reclaim (dropped after it was
// made, or brought back stale by a fault) shows as a counter that went
// back. The run goes on until the races it is about were seen: writes that
// cancelled a reclaim, and faults of pages dropped under the threads.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/uswap/uswap_test_util.h"

namespace
{

using uswap_test::page_at;
using uswap_test::page_size;
using uswap_test::stats;

constexpr size_t kPages = 8;
constexpr auto kMaxRun = std::chrono::seconds(60);

struct Shared {
	struct uswap *u;
	std::atomic<bool> stop{ false };
	std::atomic<uint64_t> lost{ 0 };
};

// Thread `t`: counter at word t of each page; every page is read and
// checked, then incremented.
void write_loop(Shared *sh, size_t t, uint64_t *done)
{
	std::vector<uint64_t> last(kPages, 0);
	uint64_t steps = 0;
	while (!sh->stop.load(std::memory_order_relaxed)) {
		for (size_t p = 0; p < kPages; p++) {
			volatile uint64_t *w =
				reinterpret_cast<volatile uint64_t *>(page_at(sh->u, p)) + t;
			if (*w != last[p])
				sh->lost.fetch_add(1, std::memory_order_relaxed);
			*w = ++last[p];
		}
		steps++;
	}
	*done = steps;
}

void reclaim_loop(Shared *sh, uint64_t *calls)
{
	uint64_t n = 0;
	while (!sh->stop.load(std::memory_order_relaxed)) {
		long r = uswap_reclaim_range(sh->u, 0, kPages);
		if (r < 0)
			sh->lost.fetch_add(1000000, std::memory_order_relaxed);
		n++;
	}
	*calls = n;
}

void compact_loop(Shared *sh)
{
	while (!sh->stop.load(std::memory_order_relaxed)) {
		zs_compact(uswap_pool(sh->u));
		std::this_thread::sleep_for(std::chrono::microseconds(200));
	}
}

class RaceTest : public ::testing::TestWithParam<int>
{
};

TEST_P(RaceTest, NoWriteLost)
{
	USWAP_REQUIRE();
	const size_t threads = static_cast<size_t>(GetParam());
	auto u = uswap_test::make_region(kPages);
	ASSERT_TRUE(u);
	Shared sh;
	sh.u = u.get();
	std::vector<uint64_t> steps(threads);
	uint64_t calls = 0;
	std::vector<std::thread> ts;
	for (size_t t = 0; t < threads; t++)
		ts.emplace_back(write_loop, &sh, t, &steps[t]);
	ts.emplace_back(reclaim_loop, &sh, &calls);
	ts.emplace_back(compact_loop, &sh);
	auto start = std::chrono::steady_clock::now();
	struct uswap_stats st;
	do {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		st = stats(u.get());
	} while ((st.reclaim_written < 20 || st.faults < 200) &&
		 std::chrono::steady_clock::now() - start < kMaxRun);
	sh.stop = true;
	for (auto &t : ts)
		t.join();
	st = stats(u.get());
	std::printf("%zu writers: %llu steps each (first), %llu reclaim calls, %llu pages stored, "
		    "%llu reclaims cancelled by a write, %llu write-protect faults, %llu faults, "
		    "%llu stale\n",
		    threads, static_cast<unsigned long long>(steps[0]),
		    static_cast<unsigned long long>(calls),
		    static_cast<unsigned long long>(st.reclaimed),
		    static_cast<unsigned long long>(st.reclaim_written),
		    static_cast<unsigned long long>(st.wp_faults),
		    static_cast<unsigned long long>(st.faults),
		    static_cast<unsigned long long>(st.stale_faults));
	EXPECT_EQ(sh.lost.load(), 0u) << "writes lost (or reclaim failed)";
	EXPECT_GE(st.reclaim_written, 20u) << "the race was not seen: nothing tested";
	EXPECT_GE(st.faults, 200u);
	// Every counter, once more from this thread, after a last round trip.
	ASSERT_GE(uswap_reclaim_range(u.get(), 0, kPages), 0);
	for (size_t p = 0; p < kPages; p++)
		for (size_t t = 0; t < threads; t++)
			EXPECT_EQ(reinterpret_cast<uint64_t *>(page_at(u.get(), p))[t], steps[t])
				<< p << " " << t;
	EXPECT_EQ(st.eexist, 0u);
	EXPECT_EQ(st.read_errors, 0u);
	EXPECT_EQ(uswap_check(u.get()), 0u);
}

INSTANTIATE_TEST_SUITE_P(Writers, RaceTest, ::testing::Values(1, 2, 4));

// Many threads faulting the same dropped pages at once: every one reads
// the right bytes, however the faults pair up.
TEST(RaceReaders, SamePagesAtOnce)
{
	USWAP_REQUIRE();
	const size_t n = 32, threads = 4, rounds = 200;
	auto u = uswap_test::make_region(n);
	ASSERT_TRUE(u);
	uswap_test::write_pages(u.get(), n, 11);
	std::atomic<uint64_t> bad{ 0 };
	for (size_t r = 0; r < rounds; r++) {
		ASSERT_EQ(uswap_reclaim_range(u.get(), 0, n), static_cast<long>(n));
		std::vector<std::thread> ts;
		for (size_t t = 0; t < threads; t++)
			ts.emplace_back([&, t] {
				for (size_t k = 0; k < n; k++) {
					size_t i = (k * 7 + t * (r % 3)) % n; // overlapping orders
					if (!uswap_test::page_is(page_at(u.get(), i), 11, i, 0))
						bad++;
				}
			});
		for (auto &t : ts)
			t.join();
	}
	EXPECT_EQ(bad.load(), 0u);
	struct uswap_stats st = stats(u.get());
	EXPECT_EQ(st.faults, n * rounds); // each dropped page came back once
	std::printf("%llu stale messages (threads that faulted on a page another brought back)\n",
		    static_cast<unsigned long long>(st.stale_faults));
	EXPECT_EQ(uswap_check(u.get()), 0u);
}

} // namespace
