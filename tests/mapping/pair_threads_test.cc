// Many threads map different page pairs at once, through both methods,
// holding two mappings each, and check every byte they see and write.
#include <errno.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mapping/mapping.h"

namespace
{

TEST(PairThreads, ConcurrentMappingsSeeTheirOwnPages)
{
	mp_config shared = {};
	shared.backing = MP_BACKING_SHARED; // remap windows need the memfd
	mp_source *src = mp_create(&shared);
	ASSERT_NE(src, nullptr);
	const uint32_t page = (uint32_t)mp_page_size();
	constexpr int kThreads = 6, kPagesPerThread = 16, kRounds = 400;
	std::atomic<int> failures{ 0 };

	// Interleave the threads' pages so that every pair is non-adjacent.
	std::vector<std::vector<uint32_t>> pages(kThreads);
	for (int i = 0; i < kPagesPerThread; i++)
		for (int t = 0; t < kThreads; t++) {
			uint32_t p;
			ASSERT_EQ(mp_alloc_page(src, &p), 0);
			pages[t].push_back(p);
		}

	auto worker = [&](int t) {
		std::mt19937 rng(1000 + t);
		const std::vector<uint32_t> &mine = pages[t];
		// Each page's bytes: (t, page index, round stamp).
		std::vector<uint8_t> stamp(kPagesPerThread, 0);
		auto byte_of = [&](int idx, uint32_t i) {
			return (uint8_t)(t * 31 + idx * 7 + i + stamp[idx]);
		};
		for (int idx = 0; idx < kPagesPerThread; idx++) {
			uint8_t *p = static_cast<uint8_t *>(mp_kmap(src, mine[idx]));
			for (uint32_t i = 0; i < page; i++)
				p[i] = byte_of(idx, i);
		}
		for (int r = 0; r < kRounds; r++) {
			int i1 = (int)(rng() % kPagesPerThread);
			int i2 = (int)((i1 + 1 + rng() % (kPagesPerThread - 1)) % kPagesPerThread);
			int i3 = (int)(rng() % kPagesPerThread);
			int i4 = (i3 + 3) % kPagesPerThread;
			mp_method m1 = (r & 1) ? MP_REMAP : MP_COPY;
			mp_method m2 = (r & 2) ? MP_REMAP : MP_COPY;
			uint32_t off = page - 1 - (uint32_t)(rng() % (page - 1));
			uint32_t len = 1 + (uint32_t)(rng() % page);
			// Two mappings held at once: one RW (we rewrite it), one RO.
			uint8_t *w = static_cast<uint8_t *>(
				mp_map_pair(src, mine[i1], mine[i2], off, len, MP_RW, m1, 1));
			uint8_t *ro = static_cast<uint8_t *>(
				mp_map_pair(src, mine[i3], mine[i4], page / 2, page, MP_RO, m2, 2));
			if (!w || !ro) {
				failures++;
				return;
			}
			for (uint32_t i = 0; i < len; i++) {
				bool in_a = off + i < page;
				uint8_t want = in_a ? byte_of(i1, off + i)
						    : byte_of(i2, off + i - page);
				if (w[i] != want) {
					failures++;
					return;
				}
			}
			for (uint32_t i = 0; i < page; i += 97) {
				bool in_a = page / 2 + i < page;
				uint8_t want = in_a ? byte_of(i3, page / 2 + i)
						    : byte_of(i4, page / 2 + i - page);
				if (ro[i] != want) {
					failures++;
					return;
				}
			}
			// Rewrite both pages entirely with a new stamp: the part
			// in the mapping through it, the rest directly.
			uint8_t next_a = (uint8_t)(stamp[i1] + 1);
			uint8_t next_b = (uint8_t)(stamp[i2] + 1);
			uint8_t *pa = static_cast<uint8_t *>(mp_kmap(src, mine[i1]));
			uint8_t *pb = static_cast<uint8_t *>(mp_kmap(src, mine[i2]));
			stamp[i1] = next_a;
			stamp[i2] = next_b;
			for (uint32_t i = 0; i < len; i++) {
				bool in_a = off + i < page;
				w[i] = in_a ? byte_of(i1, off + i) : byte_of(i2, off + i - page);
			}
			if (mp_unmap_pair(src, 2) != 0) {
				failures++;
				return;
			}
			for (uint32_t i = 0; i < off; i++)
				pa[i] = byte_of(i1, i);
			for (uint32_t i = off + len > page ? off + len - page : 0; i < page; i++)
				pb[i] = byte_of(i2, i);
			if (off + len <= page)
				for (uint32_t i = off + len; i < page; i++)
					pa[i] = byte_of(i1, i);
			if (mp_unmap_pair(src, 1) != 0) {
				failures++;
				return;
			}
			// After unmap the pages hold exactly the new stamp.
			for (uint32_t i = 0; i < page; i += 61) {
				if (pa[i] != byte_of(i1, i) || pb[i] != byte_of(i2, i)) {
					failures++;
					return;
				}
			}
		}
	};
	std::vector<std::thread> threads;
	for (int t = 0; t < kThreads; t++)
		threads.emplace_back(worker, t);
	for (auto &th : threads)
		th.join();
	EXPECT_EQ(failures.load(), 0);
	mp_destroy(src);
}

TEST(PairThreads, CopyBackNeverReachesAReallocatedPage)
{
	// Mappers copy-map (WO) a range over pages a and b and write a marker;
	// meanwhile the main thread frees b and allocates a page again (the
	// same pfn, from the cache). A mapping made before that free must not
	// write into the new page: the write-back's check and copy must not let
	// a free in between. The main thread looks at the new page only after
	// every mapping that was held across the free has ended (each mapper
	// counts its rounds; mappers map nothing while seq is odd), so that its
	// reads never race a legitimate write. A mapper reads seq and b and
	// maps under a shared lock that the free and re-allocation take
	// exclusively: otherwise a mapper that read seq before the free could
	// map the freed pfn after it (a use after free of the test's own), and
	// its write-back would race the allocation's zeroing of the new page.
	constexpr int kMappers = 3;
	mp_config cfg = {};
	cfg.cache_pages = 16;
	cfg.backing = MP_BACKING_SHARED;
	mp_source *src = mp_create(&cfg);
	ASSERT_NE(src, nullptr);
	const uint32_t page = (uint32_t)mp_page_size();
	uint32_t a, gap, b0;
	ASSERT_EQ(mp_alloc_page(src, &a), 0);
	ASSERT_EQ(mp_alloc_page(src, &gap), 0);
	ASSERT_EQ(mp_alloc_page(src, &b0), 0);
	std::atomic<uint32_t> b{ b0 };
	std::atomic<unsigned long> seq{ 0 }; // odd: b is being freed and replaced
	std::atomic<bool> stop{ false };
	std::shared_mutex swap; // exclusive: b is being freed and replaced
	std::atomic<unsigned long> rounds[kMappers];
	for (auto &r : rounds)
		r.store(0);
	auto mapper = [&](int me) {
		while (!stop.load()) {
			uint8_t *m = nullptr;
			unsigned long e;
			{
				std::shared_lock<std::shared_mutex> hold(swap);
				e = seq.load();
				if (!(e & 1))
					m = static_cast<uint8_t *>(mp_map_pair(
						src, a, b.load(), page - 8, 64, MP_WO, MP_COPY, 1));
			}
			if (m) {
				// 0xAA only from a mapping made before the free began.
				std::memset(m, seq.load() == e ? 0xAA : 0x00, 64);
				mp_unmap_pair(src, 1);
			}
			rounds[me].fetch_add(1, std::memory_order_release);
		}
	};
	std::vector<std::thread> mappers;
	for (int i = 0; i < kMappers; i++)
		mappers.emplace_back(mapper, i);
	int hits = 0;
	const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
	while (!hits && std::chrono::steady_clock::now() < end) {
		uint32_t q, old = b.load();
		{
			std::unique_lock<std::shared_mutex> hold(swap);
			seq++;
			ASSERT_EQ(mp_free_page(src, old), 0);
			ASSERT_EQ(mp_alloc_page(src, &q), 0);
		}
		// Wait for the rounds in progress (maybe holding a mapping made
		// before the free) to end; the next ones map nothing.
		for (auto &r : rounds) {
			unsigned long at = r.load(std::memory_order_acquire);
			while (r.load(std::memory_order_acquire) < at + 2)
				std::this_thread::yield();
		}
		const uint8_t *pq = static_cast<const uint8_t *>(mp_kmap(src, q));
		for (int j = 0; j < 56; j++)
			hits += pq[j] == 0xAA;
		std::memset(mp_kmap(src, q), 0, 64);
		b.store(q);
		seq++;
	}
	stop.store(true);
	for (auto &t : mappers)
		t.join();
	EXPECT_EQ(hits, 0) << "a stale copy-back reached a re-allocated page";
	mp_destroy(src);
}

} // namespace
