// The page source: distinct zeroed pages, limits, fault injection, bad pfns,
// memory given back to the OS, the reuse cache.
#include <errno.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

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

Source make_source(uint64_t max_pages = 0, uint32_t cache_pages = 0,
		   mp_backing backing = MP_BACKING_PRIVATE)
{
	mp_config cfg = {};
	cfg.max_pages = max_pages;
	cfg.cache_pages = cache_pages;
	cfg.backing = backing;
	Source s(mp_create(&cfg));
	EXPECT_NE(s, nullptr) << strerror(errno);
	return s;
}

// Resident memory of this process in KiB where the pages of a source of
// @backing count: RssShmem for the memfd, RssAnon for private memory.
long rss_kib(mp_backing backing)
{
	const char *want = backing == MP_BACKING_SHARED ? "RssShmem:" : "RssAnon:";
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, want, strlen(want)) == 0 &&
		    sscanf(line + strlen(want), "%ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

const mp_backing kBackings[] = { MP_BACKING_PRIVATE, MP_BACKING_SHARED };

bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

TEST(Source, PageSizeIsSystemPageSize)
{
	EXPECT_EQ(mp_page_size(), (size_t)sysconf(_SC_PAGESIZE));
	EXPECT_EQ((size_t)1 << mp_page_shift(), mp_page_size());
}

TEST(Source, DistinctZeroedWritablePages)
{
	Source s = make_source();
	const size_t page = mp_page_size();
	std::set<uint32_t> seen;
	std::set<uintptr_t> addrs;

	for (int i = 0; i < 1000; i++) {
		uint32_t pfn = 12345;
		ASSERT_EQ(mp_alloc_page(s.get(), &pfn), 0);
		EXPECT_TRUE(seen.insert(pfn).second) << "pfn " << pfn << " twice";
		uint8_t *p = static_cast<uint8_t *>(mp_kmap(s.get(), pfn));
		ASSERT_NE(p, nullptr);
		EXPECT_TRUE(addrs.insert((uintptr_t)p).second);
		EXPECT_TRUE(all_zero(p, page));
		memset(p, (int)(pfn & 0xff) | 1, page);
		EXPECT_EQ(mp_page_valid(s.get(), pfn), 1);
	}
	// Every page still holds its own bytes: no two pfns share memory.
	for (uint32_t pfn : seen) {
		uint8_t *p = static_cast<uint8_t *>(mp_kmap(s.get(), pfn));
		for (size_t i = 0; i < page; i += 512)
			ASSERT_EQ(p[i], (uint8_t)((pfn & 0xff) | 1));
	}
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 1000u);
	EXPECT_EQ(st.allocs, 1000u);
}

TEST(Source, FreedPageIsReusedZeroed)
{
	Source s = make_source();
	uint32_t a, b;
	ASSERT_EQ(mp_alloc_page(s.get(), &a), 0);
	memset(mp_kmap(s.get(), a), 0xab, mp_page_size());
	ASSERT_EQ(mp_free_page(s.get(), a), 0);
	ASSERT_EQ(mp_alloc_page(s.get(), &b), 0);
	EXPECT_EQ(a, b); // last in, first out
	EXPECT_TRUE(all_zero(static_cast<uint8_t *>(mp_kmap(s.get(), b)), mp_page_size()));
}

TEST(Source, BadPfnsAreRefused)
{
	Source s = make_source(64);
	uint32_t pfn;
	ASSERT_EQ(mp_alloc_page(s.get(), &pfn), 0);

	// Never allocated, out of range, far out of range.
	for (uint32_t bad : { pfn + 1, 63u, 64u, 1000000u, UINT32_MAX }) {
		errno = 0;
		EXPECT_EQ(mp_kmap(s.get(), bad), nullptr) << bad;
		EXPECT_EQ(errno, EINVAL);
		EXPECT_EQ(mp_page_valid(s.get(), bad), 0);
		EXPECT_EQ(mp_free_page(s.get(), bad), -EINVAL);
	}
	// Freed: refused, and a double free changes nothing.
	ASSERT_EQ(mp_free_page(s.get(), pfn), 0);
	EXPECT_EQ(mp_kmap(s.get(), pfn), nullptr);
	EXPECT_EQ(mp_free_page(s.get(), pfn), -EINVAL);
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 0u);
	EXPECT_EQ(st.frees, 1u);
	// NULL arguments.
	EXPECT_EQ(mp_alloc_page(nullptr, &pfn), -EINVAL);
	EXPECT_EQ(mp_alloc_page(s.get(), nullptr), -EINVAL);
	EXPECT_EQ(mp_free_page(nullptr, 0), -EINVAL);
	EXPECT_EQ(mp_kmap(nullptr, 0), nullptr);
}

TEST(Source, PfnFromAnotherSourceIsRefused)
{
	Source a = make_source(), b = make_source();
	uint32_t pa;
	ASSERT_EQ(mp_alloc_page(a.get(), &pa), 0);
	EXPECT_EQ(mp_free_page(b.get(), pa), -EINVAL);
	EXPECT_EQ(mp_kmap(b.get(), pa), nullptr);
	EXPECT_EQ(mp_page_valid(a.get(), pa), 1);
}

TEST(Source, PageLimitFailsCleanlyAndRecovers)
{
	Source s = make_source(16);
	std::vector<uint32_t> pfns(16);
	for (auto &p : pfns)
		ASSERT_EQ(mp_alloc_page(s.get(), &p), 0);
	uint32_t extra = 777;
	EXPECT_EQ(mp_alloc_page(s.get(), &extra), -ENOMEM);
	EXPECT_EQ(extra, 777u) << "output touched on error";
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 16u);
	EXPECT_EQ(st.alloc_failures, 1u);
	EXPECT_EQ(st.max_pages, 16u);
	for (uint32_t p : pfns)
		EXPECT_LT(p, 16u);
	ASSERT_EQ(mp_free_page(s.get(), pfns[3]), 0);
	EXPECT_EQ(mp_alloc_page(s.get(), &extra), 0);
	EXPECT_EQ(extra, pfns[3]);
}

TEST(Source, RejectsImpossibleLimit)
{
	mp_config cfg = {};
	cfg.max_pages = (uint64_t)UINT32_MAX + 1;
	errno = 0;
	EXPECT_EQ(mp_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);
}

TEST(Source, FaultInjectionFailsExactlyTheNth)
{
	Source s = make_source();
	mp_fail_nth_alloc(s.get(), 3);
	uint32_t p;
	EXPECT_EQ(mp_alloc_page(s.get(), &p), 0);
	EXPECT_EQ(mp_alloc_page(s.get(), &p), 0);
	EXPECT_EQ(mp_alloc_page(s.get(), &p), -ENOMEM);
	EXPECT_EQ(mp_alloc_page(s.get(), &p), 0); // once only
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 3u);
	EXPECT_EQ(st.alloc_failures, 1u);

	mp_fail_nth_alloc(s.get(), 1);
	mp_fail_nth_alloc(s.get(), 0); // cancelled
	EXPECT_EQ(mp_alloc_page(s.get(), &p), 0);
}

TEST(Source, FreedMemoryGoesBackToTheOs)
{
	for (mp_backing backing : kBackings) {
		SCOPED_TRACE(backing == MP_BACKING_SHARED ? "shared" : "private");
		Source s = make_source(0, 0, backing);
		const size_t page = mp_page_size();
		const int n = 4096; // 16 MiB with 4 KiB pages
		std::vector<uint32_t> pfns(n);

		long before = rss_kib(backing);
		ASSERT_GE(before, 0) << "no Rss line in /proc/self/status";
		for (auto &p : pfns) {
			ASSERT_EQ(mp_alloc_page(s.get(), &p), 0);
			memset(mp_kmap(s.get(), p), 0x5a, page);
		}
		long full = rss_kib(backing);
		long expect_kib = (long)(n * page / 1024);
		EXPECT_GE(full - before, expect_kib * 9 / 10);

		for (int i = 0; i < n; i += 2) // free half, scattered
			ASSERT_EQ(mp_free_page(s.get(), pfns[i]), 0);
		long half = rss_kib(backing);
		EXPECT_LE(full - half, expect_kib / 2 + expect_kib / 10);
		EXPECT_GE(full - half, expect_kib / 2 - expect_kib / 10)
			<< "freed pages stayed resident";

		s.reset(); // destroy returns the rest
		long after = rss_kib(backing);
#ifdef ZSALLOC_ASAN
		// ASan clears the shadow of an unmapped range, which makes its
		// shadow pages resident: RssAnon no longer tells.
		if (backing == MP_BACKING_PRIVATE)
			continue;
#endif
		EXPECT_LE(after - before, expect_kib / 10);
	}
}

// dirty_reuse: a page from the reuse cache comes back as it was freed (no
// clearing pass); one that went back to the OS, or a new one, reads zero.
TEST(Source, DirtyReuseKeepsCachedBytesOnly)
{
	mp_config cfg = {};
	cfg.cache_pages = 1;
	cfg.dirty_reuse = 1;
	Source s(mp_create(&cfg));
	ASSERT_NE(s, nullptr);
	const size_t page = mp_page_size();
	uint32_t a, b, c;
	ASSERT_EQ(mp_alloc_page(s.get(), &a), 0);
	ASSERT_EQ(mp_alloc_page(s.get(), &b), 0);
	EXPECT_TRUE(all_zero(static_cast<uint8_t *>(mp_kmap(s.get(), b)), page));
	memset(mp_kmap(s.get(), a), 0xab, page);
	memset(mp_kmap(s.get(), b), 0xcd, page);
	ASSERT_EQ(mp_free_page(s.get(), a), 0); // cached
	ASSERT_EQ(mp_free_page(s.get(), b), 0); // the cache is full: to the OS
	ASSERT_EQ(mp_alloc_page(s.get(), &c), 0);
	ASSERT_EQ(c, a);
	auto *bytes = static_cast<uint8_t *>(mp_kmap(s.get(), c));
	EXPECT_EQ(bytes[0], 0xab);
	EXPECT_EQ(bytes[page - 1], 0xab);
	ASSERT_EQ(mp_alloc_page(s.get(), &c), 0);
	EXPECT_EQ(c, b);
	EXPECT_TRUE(all_zero(static_cast<uint8_t *>(mp_kmap(s.get(), c)), page));
}

TEST(Source, CacheKeepsPagesUntilTrim)
{
	Source s = make_source(0, 8);
	const size_t page = mp_page_size();
	std::vector<uint32_t> pfns(20);
	for (auto &p : pfns) {
		ASSERT_EQ(mp_alloc_page(s.get(), &p), 0);
		memset(mp_kmap(s.get(), p), 0xee, page);
	}
	for (uint32_t p : pfns)
		ASSERT_EQ(mp_free_page(s.get(), p), 0);
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_cached, 8u);
	EXPECT_EQ(st.pages_used, 0u);

	// A cached page comes back zeroed.
	uint32_t p;
	ASSERT_EQ(mp_alloc_page(s.get(), &p), 0);
	EXPECT_TRUE(all_zero(static_cast<uint8_t *>(mp_kmap(s.get(), p)), page));
	EXPECT_EQ(mp_trim(s.get()), 7u);
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_cached, 0u);
	EXPECT_EQ(mp_trim(s.get()), 0u);
}

TEST(Source, ManyThreadsAllocateDistinctPages)
{
	Source s = make_source();
	constexpr int kThreads = 4, kPerThread = 2000;
	std::vector<std::vector<uint32_t>> got(kThreads);
	std::vector<std::thread> threads;
	for (int t = 0; t < kThreads; t++) {
		threads.emplace_back([&, t] {
			std::vector<uint32_t> mine;
			for (int i = 0; i < kPerThread; i++) {
				uint32_t p;
				if (mp_alloc_page(s.get(), &p) != 0)
					break;
				*static_cast<uint32_t *>(mp_kmap(s.get(), p)) = p;
				mine.push_back(p);
				if (i % 3 == 0) { // free some back as we go
					uint32_t f = mine[mine.size() / 2];
					if (*static_cast<uint32_t *>(mp_kmap(s.get(), f)) != f)
						break;
					mp_free_page(s.get(), f);
					mine.erase(mine.begin() + (long)(mine.size() / 2));
				}
			}
			got[t] = mine;
		});
	}
	for (auto &th : threads)
		th.join();
	std::set<uint32_t> all;
	size_t total = 0;
	for (auto &v : got) {
		total += v.size();
		for (uint32_t p : v) {
			EXPECT_TRUE(all.insert(p).second) << "pfn " << p << " owned twice";
			EXPECT_EQ(*static_cast<uint32_t *>(mp_kmap(s.get(), p)), p);
		}
	}
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, total);
	EXPECT_GT(total, (size_t)kThreads * kPerThread / 2);
}

} // namespace

namespace
{

TEST(Source, NearHintPrefersTheNextPfn)
{
	Source s = make_source();
	std::vector<uint32_t> p(8);
	for (auto &x : p)
		ASSERT_EQ(mp_alloc_page(s.get(), &x), 0);
	// Free pfns 2..5; a page near 1 must be 2, near 2 must be 3, ...
	for (int i = 2; i <= 5; i++)
		ASSERT_EQ(mp_free_page(s.get(), p[i]), 0);
	uint32_t got;
	ASSERT_EQ(mp_alloc_page_near(s.get(), p[3], &got), 0);
	EXPECT_EQ(got, p[4]);
	ASSERT_EQ(mp_alloc_page_near(s.get(), p[4], &got), 0);
	EXPECT_EQ(got, p[5]);
	// The next one after p[5] is taken (p[6]): any free page comes back,
	// the lowest first.
	ASSERT_EQ(mp_alloc_page_near(s.get(), p[5], &got), 0);
	EXPECT_EQ(got, p[2]);
	ASSERT_EQ(mp_alloc_page_near(s.get(), UINT32_MAX, &got), 0);
	EXPECT_EQ(got, p[3]);
	EXPECT_EQ(mp_alloc_page_near(nullptr, 0, &got), -EINVAL);
}

TEST(Source, BatchFreeIsAllOrNothing)
{
	Source s = make_source();
	std::vector<uint32_t> p(16);
	for (auto &x : p) {
		ASSERT_EQ(mp_alloc_page(s.get(), &x), 0);
		memset(mp_kmap(s.get(), x), 0x77, mp_page_size());
	}
	mp_stats st;
	// A pfn that is not allocated, or one given twice: nothing is freed.
	uint32_t bad[] = { p[0], p[1], 9999 };
	EXPECT_EQ(mp_free_pages(s.get(), bad, 3), -EINVAL);
	uint32_t twice[] = { p[2], p[3], p[2] };
	EXPECT_EQ(mp_free_pages(s.get(), twice, 3), -EINVAL);
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 16u);
	for (uint32_t x : p)
		EXPECT_EQ(mp_page_valid(s.get(), x), 1);
	// A good batch, out of order and with gaps, frees exactly those.
	uint32_t good[] = { p[9], p[3], p[4], p[5], p[12], p[0] };
	EXPECT_EQ(mp_free_pages(s.get(), good, 6), 0);
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.pages_used, 10u);
	EXPECT_EQ(st.frees, 6u);
	for (uint32_t x : good)
		EXPECT_EQ(mp_page_valid(s.get(), x), 0);
	EXPECT_EQ(mp_page_valid(s.get(), p[1]), 1);
	EXPECT_EQ(mp_free_pages(s.get(), good, 6), -EINVAL); // all freed already
	EXPECT_EQ(mp_free_pages(s.get(), nullptr, 0), 0);
	EXPECT_EQ(mp_free_pages(s.get(), nullptr, 1), -EINVAL);
	// Freed pages come back zeroed, lowest first.
	uint32_t again;
	ASSERT_EQ(mp_alloc_page(s.get(), &again), 0);
	EXPECT_EQ(again, p[0]);
	EXPECT_TRUE(all_zero(static_cast<uint8_t *>(mp_kmap(s.get(), again)), mp_page_size()));
}

TEST(Source, BatchFreeGivesMemoryBack)
{
	for (mp_backing backing : kBackings) {
		SCOPED_TRACE(backing == MP_BACKING_SHARED ? "shared" : "private");
		Source s = make_source(0, 0, backing);
		const size_t page = mp_page_size();
		const int n = 2048;
		std::vector<uint32_t> p(n);
		long before = rss_kib(backing);
		for (auto &x : p) {
			ASSERT_EQ(mp_alloc_page(s.get(), &x), 0);
			memset(mp_kmap(s.get(), x), 0x5a, page);
		}
		long full = rss_kib(backing);
		ASSERT_EQ(mp_free_pages(s.get(), p.data(), p.size()), 0);
		long after = rss_kib(backing);
		long expect_kib = (long)(n * page / 1024);
		EXPECT_GE(full - before, expect_kib * 9 / 10);
		EXPECT_GE(full - after, expect_kib * 9 / 10) << "batch-freed pages stayed resident";
	}
}

TEST(Source, AllocationWaitsForPagesBeingTrimmed)
{
	// Every pfn under the limit exists and none is in use, but another
	// thread is giving the cached ones back to the OS (mp_trim punches
	// them outside the lock): an allocation must wait for them, not fail.
	constexpr uint32_t kPages = 64;
	Source s = make_source(kPages, kPages);
	std::vector<uint32_t> p(kPages);
	for (auto &x : p)
		ASSERT_EQ(mp_alloc_page(s.get(), &x), 0);
	std::atomic<bool> stop{ false };
	std::thread trimmer([&] {
		while (!stop.load())
			mp_trim(s.get());
	});
	int failures = 0;
	for (int round = 0; round < 20000 && !failures; round++) {
		ASSERT_EQ(mp_free_pages(s.get(), p.data(), kPages), 0);
		for (auto &x : p)
			failures += mp_alloc_page(s.get(), &x) != 0;
	}
	stop.store(true);
	trimmer.join();
	EXPECT_EQ(failures, 0);
	mp_stats st;
	mp_get_stats(s.get(), &st);
	EXPECT_EQ(st.alloc_failures, 0u);
	EXPECT_EQ(st.pages_used, failures ? st.pages_used : kPages);
	// Every pfn is accounted for: free them all, and all come back.
	if (!failures) {
		ASSERT_EQ(mp_free_pages(s.get(), p.data(), kPages), 0);
		mp_trim(s.get());
		for (auto &x : p)
			ASSERT_EQ(mp_alloc_page(s.get(), &x), 0);
		uint32_t extra;
		EXPECT_EQ(mp_alloc_page(s.get(), &extra), -ENOMEM); // the limit
	}
}

TEST(Source, RejectedBatchNeverHidesAllocatedPages)
{
	// A batch refused for a pfn given twice changes nothing, not even for
	// a moment: another thread reading the page's state never sees it
	// unallocated.
	Source s = make_source();
	uint32_t p;
	ASSERT_EQ(mp_alloc_page(s.get(), &p), 0);
	std::atomic<bool> stop{ false };
	std::atomic<long> accepted{ 0 };
	std::thread bad([&] {
		uint32_t twice[2] = { p, p };
		while (!stop.load())
			accepted += mp_free_pages(s.get(), twice, 2) != -EINVAL;
	});
	long misses = 0;
	for (long i = 0; i < 3000000; i++)
		misses += mp_kmap(s.get(), p) == nullptr;
	stop.store(true);
	bad.join();
	EXPECT_EQ(misses, 0);
	EXPECT_EQ(accepted.load(), 0);
	EXPECT_EQ(mp_page_valid(s.get(), p), 1);
}

// mp_zalloc: zero-filled, writable, resident only where written (mincore),
// refused for 0 bytes.
TEST(Source, ZallocIsZeroedAndResidentOnlyWhereWritten)
{
	errno = 0;
	EXPECT_EQ(mp_zalloc(0), nullptr);
	EXPECT_EQ(errno, ENOMEM);
	mp_zfree(nullptr, 0);

	const size_t page = mp_page_size(), pages = 256, bytes = pages * page;
	auto *p = static_cast<unsigned char *>(mp_zalloc(bytes));
	ASSERT_NE(p, nullptr);
	std::memset(p + 3 * page, 0xa5, page); // writes one page
	std::vector<unsigned char> in(pages);
	ASSERT_EQ(mincore(p, bytes, in.data()), 0);
	size_t resident = 0;
	for (size_t i = 0; i < pages; i++)
		resident += in[i] & 1;
	EXPECT_TRUE(in[3] & 1);
	EXPECT_EQ(resident, 1u) << "only the written page";
	for (size_t i = 0; i < bytes; i += 512)
		ASSERT_EQ(p[i], i / page == 3 ? 0xa5 : 0) << "byte " << i;
	mp_zfree(p, bytes);
}

} // namespace
