// thread_stress_test.cc - threads sharing pools of every kind, all
// operations at once. Four workers allocate, write (three ways), verify
// (three ways), rewrite part of, hold mappings of (across everything the
// others do, compaction included), read and free their own objects in six
// shared pools: zsmalloc contiguous, copy and remap, a zsmalloc pool and an
// xvmalloc pool at a small page limit (the xvmalloc one with no page cache:
// every free punches, so allocations race with frees in flight), and an
// xvmalloc pool of four arenas. They also hand objects to each other
// through a queue, to be verified and freed by another thread (frees land
// in arenas and classes other threads are using). A sixth thread compacts,
// runs both checkers and reads every statistic without pause (and the
// zsmalloc pools compact themselves as objects are freed). A seventh
// allocates and frees pages of a small page source directly, racing frees
// in flight at its limit.
//
// Bounded: a fixed number of operations per worker (fewer under TSan) and a
// deadline of a few seconds, whichever comes first. Afterwards both checkers
// find 0 violations and every surviving object holds its bytes.
//
// Random choices come from per-thread seeds (printed); the interleaving is
// not reproducible, by nature.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mapping/mapping.h"
#include "tests/stress/stress_util.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

namespace
{

using stress::Rng;
using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 4;
constexpr uint64_t kZsLimit = 48, kXvLimit = 16, kMpLimit = 64;

constexpr int kZsPools = 4, kXvPools = 2;

struct Pools {
	// copy, remap (chain 4), limited (copy, chain 4), contiguous
	zs_pool *zs[kZsPools] = {};
	xv_pool *xv[kXvPools] = {}; // 4 arenas, limited (2 arenas)
};

// An object of any pool: zs (index 0..3) or xv (index 4..5).
struct Obj {
	int pool;
	zs_handle h;
	stress::XvObj x;
	size_t size;
	uint64_t seed;
};

bool is_zs(int pool)
{
	return pool < kZsPools;
}

struct Shared {
	Pools pools;
	std::mutex mu;
	std::deque<Obj> handoff; // objects given away, to be freed by others
	std::atomic<bool> stop{ false };
	std::atomic<uint64_t> errors{ 0 };
	std::atomic<uint64_t> ops{ 0 }, nomem{ 0 }, compactions{ 0 }, checks{ 0 };
	std::atomic<uint64_t> held_checked{ 0 }, handed{ 0 };
};

#define STRESS_EXPECT(sh, cond, ...)                                                    \
	do {                                                                            \
		if (!(cond)) {                                                          \
			std::fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			std::fprintf(stderr, __VA_ARGS__);                              \
			std::fprintf(stderr, "\n");                                     \
			(sh)->errors++;                                                 \
			(sh)->stop = true;                                              \
		}                                                                       \
	} while (0)

bool verify_obj(const Pools &p, const Obj &o, int how)
{
	if (is_zs(o.pool))
		return stress::zs_same(p.zs[o.pool], o.h, o.size, o.seed, how);
	return stress::xv_same(p.xv[o.pool - kZsPools], o.x, o.size, o.seed);
}

bool write_obj(const Pools &p, const Obj &o, int how)
{
	if (is_zs(o.pool))
		return stress::zs_write(p.zs[o.pool], o.h, o.size, o.seed, how);
	return stress::xv_write(p.xv[o.pool - kZsPools], o.x, o.size, o.seed);
}

int free_obj(const Pools &p, const Obj &o)
{
	if (is_zs(o.pool))
		return zs_free(p.zs[o.pool], o.h);
	return xv_free(p.xv[o.pool - kZsPools], o.x.pfn, o.x.off);
}

// A mapping held by a worker across its other operations.
struct Held {
	size_t idx; // in the worker's objects
	const uint8_t *p;
	bool read; // zs_obj_read_begin (else zs_map_object RO)
	std::vector<uint8_t> copy;
};

// 1 if object @j of a worker is one of its @held mappings or reads.
bool is_held(const std::vector<Held> &held, size_t j)
{
	for (const Held &h : held)
		if (h.idx == j)
			return true;
	return false;
}

void work(Shared *sh, int id, uint64_t seed, uint64_t ops, Clock::time_point deadline)
{
	Rng r(seed);
	const Pools &p = sh->pools;
	const size_t page = stress::page_size();
	std::vector<Obj> mine;
	std::vector<Held> held;
	for (uint64_t i = 0; i < ops && !sh->stop; i++) {
		if ((i & 63) == 0 && Clock::now() > deadline)
			break;
		sh->ops++;
		uint64_t k = r.below(100);
		if (k < 35 || mine.empty()) { // alloc and write
			Obj o{};
			o.pool = static_cast<int>(r.below(kZsPools + kXvPools));
			o.seed = r.next();
			if (is_zs(o.pool)) {
				o.size = stress::compressed_size(r, page);
				errno = 0;
				o.h = zs_malloc(p.zs[o.pool], o.size, 0);
				if (!o.h) {
					STRESS_EXPECT(sh, o.pool == 2 && errno == ENOMEM,
						      "zs_malloc(%zu) in pool %d: errno %d", o.size,
						      o.pool, errno);
					sh->nomem++;
					continue;
				}
			} else {
				o.size = stress::compressed_size(r, xv_max_size());
				int err = xv_malloc(p.xv[o.pool - kZsPools],
						    static_cast<uint32_t>(o.size), &o.x.pfn,
						    &o.x.off, 0);
				if (err) {
					STRESS_EXPECT(sh, o.pool == kZsPools + 1 && err == -ENOMEM,
						      "xv_malloc(%zu) in pool %d: %d", o.size,
						      o.pool, err);
					sh->nomem++;
					continue;
				}
			}
			STRESS_EXPECT(sh, write_obj(p, o, static_cast<int>(r.below(3))),
				      "write of a new object");
			mine.push_back(o);
		} else if (k < 55) { // verify and free one (not a held one)
			size_t j = r.below(mine.size());
			if (is_held(held, j))
				continue;
			STRESS_EXPECT(sh, verify_obj(p, mine[j], static_cast<int>(r.below(3))),
				      "object of pool %d damaged before free", mine[j].pool);
			STRESS_EXPECT(sh, free_obj(p, mine[j]) == 0, "free");
			// Keep held indices valid: move the last object into j.
			for (Held &h : held)
				if (h.idx == mine.size() - 1)
					h.idx = j;
			mine[j] = mine.back();
			mine.pop_back();
		} else if (k < 70) { // verify
			const Obj &o = mine[r.below(mine.size())];
			STRESS_EXPECT(sh, verify_obj(p, o, static_cast<int>(r.below(3))),
				      "object of pool %d (size %zu) damaged", o.pool, o.size);
		} else if (k < 78) { // rewrite (not a held one)
			size_t j = r.below(mine.size());
			if (is_held(held, j))
				continue;
			mine[j].seed = r.next();
			STRESS_EXPECT(sh, write_obj(p, mine[j], static_cast<int>(r.below(3))),
				      "rewrite");
		} else if (k < 86) { // hold a zs mapping or read across other ops
			size_t j = r.below(mine.size());
			const Obj &o = mine[j];
			if (!is_zs(o.pool) || held.size() >= 2)
				continue;
			Held h;
			h.idx = j;
			h.read = r.below(2);
			if (h.read) {
				h.copy.resize(o.size);
				h.p = static_cast<const uint8_t *>(zs_obj_read_begin(
					p.zs[o.pool], o.h, o.size, h.copy.data()));
			} else {
				h.p = static_cast<const uint8_t *>(
					zs_map_object(p.zs[o.pool], o.h, ZS_MM_RO));
			}
			STRESS_EXPECT(sh, h.p != nullptr, "hold: errno %d", errno);
			if (!h.p)
				continue;
			STRESS_EXPECT(sh, stress::same(h.p, o.size, o.seed), "held at start");
			held.push_back(std::move(h));
		} else if (k < 92) { // release a held one, checking what it showed
			if (held.empty())
				continue;
			Held &h = held.back();
			const Obj &o = mine[h.idx];
			STRESS_EXPECT(sh, stress::same(h.p, o.size, o.seed),
				      "held %s of pool %d (size %zu) changed while held",
				      h.read ? "read" : "mapping", o.pool, o.size);
			sh->held_checked++;
			if (h.read)
				STRESS_EXPECT(sh, zs_obj_read_end(p.zs[o.pool], o.h, h.p) == 0,
					      "read_end");
			else
				zs_unmap_object(p.zs[o.pool], o.h);
			held.pop_back();
		} else if (k < 96) { // give one away
			size_t j = r.below(mine.size());
			if (is_held(held, j))
				continue;
			{
				std::lock_guard<std::mutex> l(sh->mu);
				sh->handoff.push_back(mine[j]);
			}
			sh->handed++;
			for (Held &h : held)
				if (h.idx == mine.size() - 1)
					h.idx = j;
			mine[j] = mine.back();
			mine.pop_back();
		} else { // take one given away by anyone, verify, free
			Obj o;
			{
				std::lock_guard<std::mutex> l(sh->mu);
				if (sh->handoff.empty())
					continue;
				o = sh->handoff.front();
				sh->handoff.pop_front();
			}
			STRESS_EXPECT(sh, verify_obj(p, o, static_cast<int>(r.below(3))),
				      "handed-over object of pool %d damaged", o.pool);
			STRESS_EXPECT(sh, free_obj(p, o) == 0, "free of a handed-over object");
		}
	}
	for (Held &h : held) {
		const Obj &o = mine[h.idx];
		STRESS_EXPECT(sh, stress::same(h.p, o.size, o.seed), "held at the end");
		if (h.read)
			zs_obj_read_end(p.zs[o.pool], o.h, h.p);
		else
			zs_unmap_object(p.zs[o.pool], o.h);
	}
	// Leave the survivors for the final check.
	std::lock_guard<std::mutex> l(sh->mu);
	for (const Obj &o : mine)
		sh->handoff.push_back(o);
	(void)id;
}

void compact_loop(Shared *sh)
{
	const Pools &p = sh->pools;
	while (!sh->stop) {
		for (int i = 0; i < kZsPools; i++) {
			zs_compact(p.zs[i]);
			sh->compactions++;
			size_t v = zs_check(p.zs[i]);
			STRESS_EXPECT(sh, v == 0, "zs_check of pool %d: %zu violations", i, v);
			zs_stats st;
			zs_pool_stats(p.zs[i], &st);
			std::vector<zs_class_stat> cs(
				static_cast<size_t>(zs_class_stats(p.zs[i], nullptr, 0)));
			zs_class_stats(p.zs[i], cs.data(), cs.size());
		}
		STRESS_EXPECT(sh, zs_get_total_pages(p.zs[2]) <= kZsLimit,
			      "zs pool past its limit");
		for (int i = 0; i < 2; i++) {
			size_t v = xv_check(p.xv[i]);
			STRESS_EXPECT(sh, v == 0, "xv_check of pool %d: %zu violations", i, v);
			stress::xv_stats_of(p.xv[i]);
		}
		STRESS_EXPECT(sh,
			      xv_get_total_size_bytes(p.xv[1]) <= kXvLimit * stress::page_size(),
			      "xv pool past its limit");
		sh->checks++;
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
}

// Pages straight from a small source, at its limit, no cache: a free's
// punch runs outside the lock while others allocate.
void churn_pages(Shared *sh, mp_source *src, uint64_t seed, uint64_t ops,
		 Clock::time_point deadline)
{
	Rng r(seed);
	const size_t page = stress::page_size();
	std::vector<std::pair<uint32_t, uint64_t>> mine;
	for (uint64_t i = 0; i < ops && !sh->stop; i++) {
		if ((i & 63) == 0 && Clock::now() > deadline)
			break;
		if (mine.size() < 40 && r.below(2)) {
			uint32_t pfn;
			int err = mp_alloc_page(src, &pfn);
			if (err) {
				STRESS_EXPECT(sh, err == -ENOMEM, "mp_alloc_page: %d", err);
				continue;
			}
			STRESS_EXPECT(sh, pfn < kMpLimit, "pfn %u past the limit %llu", pfn,
				      (unsigned long long)kMpLimit);
			if (pfn >= kMpLimit)
				return;
			uint64_t s = r.next();
			uint8_t *q = static_cast<uint8_t *>(mp_kmap(src, pfn));
			stress::fill(q, 64, s); // the first bytes are enough to see sharing
			mine.push_back({ pfn, s });
		} else if (!mine.empty()) {
			size_t j = r.below(mine.size());
			STRESS_EXPECT(sh,
				      stress::same(mp_kmap(src, mine[j].first), 64, mine[j].second),
				      "page %u changed under its owner", mine[j].first);
			STRESS_EXPECT(sh, mp_free_page(src, mine[j].first) == 0, "free page");
			mine[j] = mine.back();
			mine.pop_back();
		}
	}
	for (const auto &m : mine)
		mp_free_page(src, m.first);
	(void)page;
}

TEST(ThreadStress, AllPoolsAllOperations)
{
	Shared sh;
	zs_config zc{};
	zc.name = "stress-copy";
	zc.map_method = ZS_MAP_COPY;
	sh.pools.zs[0] = zs_create_pool_config(&zc);
	zc.name = "stress-remap";
	zc.map_method = ZS_MAP_REMAP;
	zc.max_pages_per_zspage = 4;
	sh.pools.zs[1] = zs_create_pool_config(&zc);
	zc.name = "stress-limit";
	zc.map_method = ZS_MAP_COPY;
	zc.max_pages = kZsLimit;
	sh.pools.zs[2] = zs_create_pool_config(&zc);
	zc = zs_config{};
	zc.name = "stress-contiguous";
	sh.pools.zs[3] = zs_create_pool_config(&zc);
	xv_config xc{};
	xc.arenas = 4;
	sh.pools.xv[0] = xv_create_pool_config(&xc);
	xc.arenas = 2;
	xc.max_pages = kXvLimit;
	xc.cache_pages = XV_CACHE_NONE;
	sh.pools.xv[1] = xv_create_pool_config(&xc);
	mp_config mc{};
	mc.max_pages = kMpLimit;
	mp_source *src = mp_create(&mc);
	for (zs_pool *z : sh.pools.zs)
		ASSERT_NE(nullptr, z);
	for (xv_pool *x : sh.pools.xv)
		ASSERT_NE(nullptr, x);
	ASSERT_NE(nullptr, src);

	const uint64_t ops = stress::scaled(60000);
	const auto deadline = Clock::now() + std::chrono::seconds(6);
	const uint64_t base = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
	std::printf("thread stress: seeds %llu.. (+worker id), %llu ops per worker\n",
		    (unsigned long long)base, (unsigned long long)ops);
	std::vector<std::thread> ts;
	for (int i = 0; i < kWorkers; i++)
		ts.emplace_back(work, &sh, i, base + static_cast<uint64_t>(i), ops, deadline);
	std::thread compactor(compact_loop, &sh);
	std::thread churner(churn_pages, &sh, src, base + 99, ops * 4, deadline);
	for (std::thread &t : ts)
		t.join();
	churner.join();
	sh.stop = true;
	compactor.join();

	std::printf(
		"ops %llu, ENOMEM at limits %llu, handed over %llu, held "
		"mappings checked %llu, compactions %llu, check rounds %llu\n",
		(unsigned long long)sh.ops.load(), (unsigned long long)sh.nomem.load(),
		(unsigned long long)sh.handed.load(), (unsigned long long)sh.held_checked.load(),
		(unsigned long long)sh.compactions.load(), (unsigned long long)sh.checks.load());
	EXPECT_EQ(0u, sh.errors.load());
	EXPECT_GT(sh.checks.load(), 0u);

	for (zs_pool *z : sh.pools.zs)
		EXPECT_EQ(0u, zs_check(z));
	for (xv_pool *x : sh.pools.xv)
		EXPECT_EQ(0u, xv_check(x));
	int how = 0;
	for (const Obj &o : sh.handoff) {
		ASSERT_TRUE(verify_obj(sh.pools, o, how++ % 3)) << "pool " << o.pool;
		ASSERT_EQ(0, free_obj(sh.pools, o));
	}
	for (zs_pool *z : sh.pools.zs) {
		EXPECT_TRUE(stress::zs_emptied(z)) << "pages left besides the cache";
		EXPECT_EQ(0u, zs_check(z));
		zs_destroy_pool(z);
	}
	for (xv_pool *x : sh.pools.xv) {
		EXPECT_EQ(0u, xv_get_total_size_bytes(x));
		EXPECT_EQ(0u, xv_check(x));
		xv_destroy_pool(x);
	}
	mp_stats st;
	mp_get_stats(src, &st);
	EXPECT_EQ(0u, st.pages_used);
	mp_destroy(src);
}

// The regression of the page source's limit race on its own, with the
// cheapest possible operations so that the window is hit often: two threads
// allocate and free pages of a source whose limit is a multiple of 64, so
// that pfn == max_pages would also be past the allocated bitmap (ASan).
TEST(ThreadStress, PageSourceLimitRace)
{
	for (uint64_t limit : { 64u, 100u }) {
		mp_config mc{};
		mc.max_pages = limit;
		mp_source *src = mp_create(&mc);
		ASSERT_NE(nullptr, src);
		std::atomic<int> bad{ 0 };
		auto churn = [&](int id) {
			std::vector<uint32_t> mine;
			const uint64_t n = stress::scaled(100000);
			for (uint64_t i = 0; i < n && !bad; i++) {
				uint32_t pfn;
				if (mine.size() < limit * 2 / 3 && ((i + id) & 1) &&
				    mp_alloc_page(src, &pfn) == 0) {
					if (pfn >= limit)
						bad = 1;
					mine.push_back(pfn);
				} else if (!mine.empty()) {
					if (mp_free_page(src, mine.back()))
						bad = 2;
					mine.pop_back();
				}
			}
			for (uint32_t p : mine)
				if (p < limit)
					mp_free_page(src, p);
		};
		std::thread a(churn, 0), b(churn, 1);
		a.join();
		b.join();
		EXPECT_EQ(0, bad.load()) << "1: a pfn past the limit, 2: a free failed";
		mp_destroy(src);
	}
}

} // namespace
