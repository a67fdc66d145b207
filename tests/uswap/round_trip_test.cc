// round_trip_test.cc - 1, 2 and 4 threads touching a random working set of
// a region while another thread reclaims pages by the clock and a third
// compacts the pool. Every page a thread reads is checked against what it
// should hold: the first half of the region is shared and read by every
// thread (several threads fault on one page), the second half is split
// among the threads, each of which rewrites its pages now and then with a
// new version. At the end every page is checked once more, after a whole
// region's reclaim, and the table and the pool are checked.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/uswap/uswap_test_util.h"

namespace
{

using uswap_test::make_page;
using uswap_test::page_at;
using uswap_test::page_is;
using uswap_test::stats;

constexpr size_t kPages = 2048;
constexpr size_t kShared = kPages / 2; // pages [0, kShared): read only
constexpr uint64_t kStepsPerThread = 20000;

struct Touch {
	struct uswap *u;
	uint64_t seed;
	size_t threads;
	std::vector<uint64_t> version; // of each owned page, by its owner only
	std::atomic<bool> stop{ false };
	std::atomic<uint64_t> bad{ 0 };
};

// Owned pages of thread t: kShared + t, + threads, ...
void touch_loop(Touch *run, size_t t)
{
	test_content::Rng rng(run->seed * 1000 + t);
	const size_t owned = (kPages - kShared) / run->threads;
	// A working set: a random quarter of the shared pages and of its own.
	std::vector<size_t> ws;
	for (size_t i = 0; i < kShared; i++)
		if (rng.below(4) == 0)
			ws.push_back(i);
	for (size_t k = 0; k < owned; k++)
		if (rng.below(4) == 0)
			ws.push_back(kShared + t + k * run->threads);
	for (uint64_t step = 0; step < kStepsPerThread; step++) {
		size_t i = ws[rng.below(ws.size())];
		uint64_t &v = run->version[i];
		bool mine = i >= kShared;
		if (!page_is(page_at(run->u, i), run->seed, i, mine ? v : 0))
			run->bad++;
		if (mine && rng.below(4) == 0)
			make_page(page_at(run->u, i), run->seed, i, ++v);
	}
}

void reclaim_loop(Touch *run)
{
	while (!run->stop.load(std::memory_order_relaxed)) {
		if (uswap_reclaim(run->u, kPages / 16) < 0)
			run->bad++;
		std::this_thread::sleep_for(std::chrono::microseconds(500));
	}
}

void compact_loop(Touch *run)
{
	while (!run->stop.load(std::memory_order_relaxed)) {
		zs_compact(uswap_pool(run->u));
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
}

class RoundTrip : public ::testing::TestWithParam<int>
{
};

TEST_P(RoundTrip, EveryReadChecked)
{
	USWAP_REQUIRE();
	Touch run;
	run.seed = uswap_test::test_seed();
	run.threads = static_cast<size_t>(GetParam());
	run.version.assign(kPages, 0);
	auto u = uswap_test::make_region(kPages);
	ASSERT_TRUE(u);
	run.u = u.get();
	for (size_t i = 0; i < kPages; i++)
		make_page(page_at(u.get(), i), run.seed, i, 0);
	ASSERT_GT(uswap_reclaim(u.get(), kPages / 2), 0);
	std::thread rec(reclaim_loop, &run), comp(compact_loop, &run);
	std::vector<std::thread> ts;
	for (size_t t = 0; t < run.threads; t++)
		ts.emplace_back(touch_loop, &run, t);
	for (auto &t : ts)
		t.join();
	run.stop = true;
	rec.join();
	comp.join();
	EXPECT_EQ(run.bad.load(), 0u) << "pages read wrong (or a reclaim failed)";
	struct uswap_stats st = stats(u.get());
	std::printf("%zu threads: %llu faults, %llu stored now, %llu reclaimed, %llu cancelled by "
		    "writes, %llu pages compacted; service p50 %llu ns p99 %llu ns\n",
		    run.threads, static_cast<unsigned long long>(st.faults),
		    static_cast<unsigned long long>(st.stored_pages),
		    static_cast<unsigned long long>(st.reclaimed),
		    static_cast<unsigned long long>(st.reclaim_written),
		    static_cast<unsigned long long>(st.pages_compacted),
		    static_cast<unsigned long long>(st.fault_ns_p50),
		    static_cast<unsigned long long>(st.fault_ns_p99));
	EXPECT_GT(st.faults, 0u);
	EXPECT_EQ(st.eexist, 0u);
	EXPECT_EQ(st.read_errors, 0u);
	EXPECT_EQ(uswap_check(u.get()), 0u);
	// The whole region out, compacted, and every page back.
	ASSERT_GE(uswap_reclaim_range(u.get(), 0, kPages), 0);
	zs_compact(uswap_pool(u.get()));
	for (size_t i = 0; i < kPages; i++)
		ASSERT_TRUE(page_is(page_at(u.get(), i), run.seed, i, run.version[i]))
			<< "page " << i;
	EXPECT_EQ(uswap_check(u.get()), 0u);
	EXPECT_EQ(zs_check(uswap_pool(u.get())), 0u);
}

INSTANTIATE_TEST_SUITE_P(Threads, RoundTrip, ::testing::Values(1, 2, 4));

} // namespace
