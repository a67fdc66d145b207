// Threads sharing pools. Mixed: four workers, each with its own objects and
// shadow contents, allocate, write, map and verify (every layout and map
// method, all modes, several mappings held at once, of one object too),
// read through the copy API and free, while another thread compacts,
// checks and reads statistics without pause (and the pools compact
// themselves as objects are freed). Pins: mappers hold mappings of objects of one class while another
// thread churns that class and compacts it heavily; every byte seen through
// a mapping must be the object's own, for as long as the mapping is held.
// Both run for a bounded time (a few seconds; under TSan they do fewer
// operations in the same time). Seeds are printed; ZS_TEST_SEED replays the
// per-thread random choices (not the interleaving).
#include <errno.h>
#include <stdint.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

const size_t kPage = zs_test::page_size();
using Clock = std::chrono::steady_clock;

double seconds_from_env(double fallback)
{
	const char *s = getenv("ZS_TEST_SECONDS");
	return s ? atof(s) : fallback;
}

// Errors seen by any thread: counted, the first few described.
struct Errors {
	std::atomic<uint64_t> count{ 0 };
	std::mutex mu;
	std::vector<std::string> first;

	void add(const std::string &what)
	{
		count++;
		std::lock_guard<std::mutex> l(mu);
		if (first.size() < 10)
			first.push_back(what);
	}
	std::string report()
	{
		std::lock_guard<std::mutex> l(mu);
		std::string s;
		for (const std::string &f : first)
			s += f + "\n";
		return s;
	}
};

struct TObj {
	zs_handle h;
	size_t size;
	uint64_t seed;
	int pool; // index into the shared pools
};

const int kPools = 3; // contiguous, scattered copy, scattered remap

struct Shared {
	zs_pool *pools[kPools];
	std::atomic<bool> stop{ false };
	Errors err;
	Clock::time_point deadline;
	// Objects handed from one thread to another, which verifies, keeps
	// or frees them: frees and maps land on objects another thread made.
	std::mutex box_mu;
	std::vector<TObj> box;
};

void worker(Shared *sh, uint64_t seed, std::vector<TObj> *left, uint64_t *ops_done)
{
	std::mt19937_64 rng(seed);
	std::vector<TObj> mine;
	uint64_t next_seed = seed << 24, ops = 0;
	auto fail = [&](const std::string &what, const TObj &o) {
		sh->err.add("thread seed " + std::to_string(seed) + " op " + std::to_string(ops) +
			    ": " + what + " (size " + std::to_string(o.size) + ", pool " +
			    std::to_string(o.pool) + ")");
	};
	for (; ops < 5000000; ops++) {
		if ((ops & 127) == 0 && Clock::now() > sh->deadline)
			break;
		unsigned op = (unsigned)(rng() % 100);
		if (mine.size() < 20 || (op < 35 && mine.size() < 400)) {
			TObj o{ 0, compressed_size(rng, true), next_seed++, (int)(rng() % kPools) };
			int flags = rng() % 20 == 0 ? ZS_NOGROW : 0;
			o.h = zs_malloc(sh->pools[o.pool], o.size, flags);
			if (!o.h) {
				if (!flags || errno != ENOMEM)
					fail("zs_malloc: " + std::string(strerror(errno)), o);
				continue;
			}
			if (!write_object(sh->pools[o.pool], o.h, o.seed, o.size, (int)(rng() % 3)))
				fail("write after alloc", o);
			mine.push_back(o);
		} else if (op < 55) {
			const TObj &o = mine[rng() % mine.size()];
			if (!check_object(sh->pools[o.pool], o.h, o.seed, o.size, (int)(rng() % 3)))
				fail("verify", o);
		} else if (op < 65) {
			TObj &o = mine[rng() % mine.size()];
			o.seed = next_seed++;
			if (!write_object(sh->pools[o.pool], o.h, o.seed, o.size, (int)(rng() % 3)))
				fail("rewrite", o);
		} else if (op < 80) {
			// Hand one over, or take one handed over.
			std::lock_guard<std::mutex> l(sh->box_mu);
			if (rng() % 2 && !sh->box.empty()) {
				TObj o = sh->box.back();
				sh->box.pop_back();
				if (!check_object(sh->pools[o.pool], o.h, o.seed, o.size,
						  (int)(rng() % 3)))
					fail("verify a handed-over object", o);
				mine.push_back(o);
			} else if (sh->box.size() < 64) {
				size_t i = rng() % mine.size();
				sh->box.push_back(mine[i]);
				mine[i] = mine.back();
				mine.pop_back();
			}
		} else if (op < 85) {
			size_t i = rng() % mine.size();
			TObj o = mine[i];
			if (!check_object(sh->pools[o.pool], o.h, o.seed, o.size, (int)(rng() % 3)))
				fail("verify before free", o);
			if (zs_free(sh->pools[o.pool], o.h))
				fail("zs_free", o);
			mine[i] = mine.back();
			mine.pop_back();
		} else {
			// Hold 2..4 mappings at once, of one object or several
			// (nested maps of one object are one view), check them
			// twice (letting the compactor run in between), write
			// through the RW ones, end them in random order.
			int n = 2 + (int)(rng() % 3);
			struct Held {
				size_t i;
				int kind; // 0 read_begin, 1 RO, 2 RW
				void *m;
				std::vector<uint8_t> buf;
			};
			std::vector<Held> held;
			for (int k = 0; k < n; k++) {
				Held hd{ rng() % mine.size(), (int)(rng() % 3), nullptr, {} };
				const TObj &o = mine[hd.i];
				if (hd.kind == 0) {
					hd.buf.resize(o.size);
					hd.m = zs_obj_read_begin(sh->pools[o.pool], o.h, o.size,
								 hd.buf.data());
				} else {
					hd.m = zs_map_object(sh->pools[o.pool], o.h,
							     hd.kind == 1 ? ZS_MM_RO : ZS_MM_RW);
				}
				if (!hd.m) {
					fail("map " + std::to_string(hd.kind) + ": " +
						     strerror(errno),
					     o);
					continue;
				}
				held.push_back(std::move(hd));
			}
			for (int pass = 0; pass < 2; pass++) {
				for (const Held &hd : held) {
					const TObj &o = mine[hd.i];
					if (!test_content::same(hd.m, o.size, o.seed))
						fail("held mapping, pass " + std::to_string(pass),
						     o);
				}
				std::this_thread::yield();
			}
			for (Held &hd : held) {
				TObj &o = mine[hd.i];
				if (hd.kind == 2) {
					o.seed = next_seed++;
					memcpy(hd.m, test_content::bytes(o.seed, o.size).data(),
					       o.size);
				}
			}
			std::shuffle(held.begin(), held.end(), rng);
			for (Held &hd : held) {
				TObj &o = mine[hd.i];
				if (hd.kind == 0) {
					if (zs_obj_read_end(sh->pools[o.pool], o.h, hd.m))
						fail("read_end", o);
				} else {
					errno = 0;
					zs_unmap_object(sh->pools[o.pool], o.h);
					if (errno == EINVAL)
						fail("unmap", o);
				}
			}
			for (Held &hd : held) {
				const TObj &o = mine[hd.i];
				if (!check_object(sh->pools[o.pool], o.h, o.seed, o.size, 0))
					fail("after held mappings", o);
			}
		}
	}
	*left = mine;
	*ops_done = ops;
}

void compactor(Shared *sh, uint64_t *compactions, uint64_t *pages)
{
	uint64_t n = 0, freed = 0;
	while (!sh->stop.load()) {
		for (zs_pool *p : sh->pools) {
			freed += zs_compact(p);
			n++;
			if (n % 16 == 0) {
				size_t v = zs_check(p);
				if (v)
					sh->err.add("zs_check during the run: " +
						    std::to_string(v));
				zs_stats st;
				zs_pool_stats(p, &st);
				if (st.pages_used > (uint64_t)1 << 30)
					sh->err.add("absurd pages_used");
				zs_test::class_stats(p);
			}
		}
		// A compaction takes every class lock in turn: on a small VM
		// back-to-back compactions would starve the workers. A short
		// pause keeps both busy.
		std::this_thread::sleep_for(std::chrono::microseconds(300));
	}
	*compactions = n;
	*pages = freed;
}

TEST(Threads, MixedWithCompaction)
{
	const uint64_t seed = zs_test::test_seed(4242);
	const double secs = seconds_from_env(3.0);
	printf("threads seed %llu (replay: ZS_TEST_SEED=%llu), %.1f s\n", (unsigned long long)seed,
	       (unsigned long long)seed, secs);
	Pool contiguous = make_pool(), copy = make_pool(0, ZS_MAP_COPY),
	     remap = make_pool(0, ZS_MAP_REMAP);
	ASSERT_TRUE(contiguous && copy && remap);
	Shared sh;
	sh.pools[0] = contiguous.get();
	sh.pools[1] = copy.get();
	sh.pools[2] = remap.get();
	sh.deadline = Clock::now() + std::chrono::milliseconds((long)(secs * 1000));
	const int kWorkers = 4;
	std::vector<std::vector<TObj>> left(kWorkers);
	std::vector<uint64_t> ops(kWorkers);
	uint64_t compactions = 0, compacted = 0;
	std::thread comp(compactor, &sh, &compactions, &compacted);
	std::vector<std::thread> ts;
	for (int i = 0; i < kWorkers; i++)
		ts.emplace_back(worker, &sh, seed * 16 + (uint64_t)i, &left[(size_t)i],
				&ops[(size_t)i]);
	for (std::thread &t : ts)
		t.join();
	sh.stop = true;
	comp.join();
	left.push_back(sh.box); // handed over and never taken
	uint64_t total = 0;
	for (uint64_t o : ops)
		total += o;
	uint64_t objects = 0, moved = 0, steps = 0;
	for (zs_pool *p : sh.pools) {
		zs_stats st = zs_test::pool_stats(p);
		objects += st.objects;
		moved += st.objects_moved;
		steps += st.auto_compactions;
	}
	printf("%llu operations, %llu compactions freeing %llu pages, %llu automatic, "
	       "%llu objects moved\n",
	       (unsigned long long)total, (unsigned long long)compactions,
	       (unsigned long long)compacted, (unsigned long long)steps, (unsigned long long)moved);
	EXPECT_EQ(sh.err.count.load(), 0u) << sh.err.report();
	EXPECT_GT(compactions, 0u);
	for (zs_pool *p : sh.pools) {
		EXPECT_EQ(zs_check(p), 0u);
	}
	// Every object, through every path; then every handle frees.
	size_t live = 0;
	for (const auto &v : left)
		for (const TObj &o : v) {
			live++;
			ASSERT_TRUE(
				zs_test::check_object_all(sh.pools[o.pool], o.h, o.seed, o.size))
				<< "size " << o.size << " pool " << o.pool;
		}
	EXPECT_EQ(objects, live);
	for (zs_pool *p : sh.pools)
		zs_compact(p);
	for (const auto &v : left)
		for (const TObj &o : v) {
			ASSERT_EQ(zs_free(sh.pools[o.pool], o.h), 0);
		}
	for (zs_pool *p : sh.pools) {
		EXPECT_EQ(zs_test::emptied(p), "");
		EXPECT_EQ(zs_check(p), 0u);
	}
}

// ---- The pin protocol ----------------------------------------------------------

struct PinShared {
	zs_pool *pool;
	size_t size;
	std::atomic<bool> stop{ false };
	Errors err;
	std::atomic<uint64_t> mapped_reads{ 0 };
};

// Own objects of one class; map them (RO, RW, WO, read_begin), up to four at
// a time, check every byte repeatedly while held, write through RW/WO.
void mapper(PinShared *sh, uint64_t seed, int nobjs)
{
	std::mt19937_64 rng(seed);
	const size_t size = sh->size;
	struct O {
		zs_handle h;
		uint64_t seed;
	};
	std::vector<O> mine;
	uint64_t next = seed << 24;
	for (int i = 0; i < nobjs; i++) {
		zs_handle h = zs_malloc(sh->pool, size, 0);
		if (!h) {
			sh->err.add("mapper alloc");
			return;
		}
		mine.push_back({ h, next++ });
		write_object(sh->pool, h, mine.back().seed, size, 0);
	}
	std::vector<uint8_t> bufs[4];
	for (auto &b : bufs)
		b.resize(size);
	while (!sh->stop.load()) {
		// Sometimes replace an object, so that ours spread over zspages.
		if (rng() % 8 == 0) {
			O &o = mine[rng() % mine.size()];
			if (int rc = zs_free(sh->pool, o.h))
				sh->err.add("mapper free: " + std::string(strerror(-rc)));
			o.h = zs_malloc(sh->pool, size, 0);
			if (!o.h) {
				sh->err.add("mapper realloc");
				return;
			}
			o.seed = next++;
			write_object(sh->pool, o.h, o.seed, size, (int)(rng() % 3));
		}
		int n = 1 + (int)(rng() % 4);
		size_t idx[4];
		int kind[4];
		void *m[4];
		int held = 0;
		for (int k = 0; k < n; k++) {
			size_t i = rng() % mine.size();
			bool dup = false;
			for (int j = 0; j < held; j++)
				dup |= idx[j] == i;
			if (dup)
				continue;
			idx[held] = i;
			kind[held] = (int)(rng() % 4); // 0 RO, 1 RW, 2 WO, 3 read_begin
			if (kind[held] == 3)
				m[held] = zs_obj_read_begin(sh->pool, mine[i].h, size,
							    bufs[held].data());
			else
				m[held] = zs_map_object(sh->pool, mine[i].h,
							kind[held] == 0   ? ZS_MM_RO
							: kind[held] == 1 ? ZS_MM_RW
									  : ZS_MM_WO);
			if (!m[held]) {
				sh->err.add("map failed: " + std::string(strerror(errno)));
				continue;
			}
			if (kind[held] == 2) { // WO: write first, then it must stay
				mine[i].seed = next++;
				memcpy(m[held], test_content::bytes(mine[i].seed, size).data(),
				       size);
			}
			held++;
		}
		// Every byte, several times, with yields: compaction runs.
		for (int pass = 0; pass < 4; pass++) {
			for (int j = 0; j < held; j++) {
				sh->mapped_reads++;
				if (!test_content::same(m[j], size, mine[idx[j]].seed))
					sh->err.add("mapped bytes changed under a mapping (kind " +
						    std::to_string(kind[j]) + ", pass " +
						    std::to_string(pass) + ")");
			}
			std::this_thread::yield();
		}
		for (int j = 0; j < held; j++)
			if (kind[j] == 1) {
				mine[idx[j]].seed = next++;
				memcpy(m[j], test_content::bytes(mine[idx[j]].seed, size).data(),
				       size);
			}
		for (int j = held - 1; j >= 0; j--) {
			if (kind[j] == 3) {
				if (zs_obj_read_end(sh->pool, mine[idx[j]].h, m[j]))
					sh->err.add("read_end");
			} else {
				zs_unmap_object(sh->pool, mine[idx[j]].h);
			}
		}
		for (int j = 0; j < held; j++) {
			std::string bad = zs_test::explain_object(sh->pool, mine[idx[j]].h,
								  mine[idx[j]].seed, size);
			if (!bad.empty())
				sh->err.add("bytes after unmap (kind " + std::to_string(kind[j]) +
					    "): " + bad);
		}
	}
	for (const O &o : mine) {
		std::string bad = zs_test::explain_object(sh->pool, o.h, o.seed, size);
		if (!bad.empty())
			sh->err.add("mapper object at the end: " + bad);
		if (int rc = zs_free(sh->pool, o.h))
			sh->err.add("mapper final free: " + std::string(strerror(-rc)));
	}
}

// Churns the same class (fills holes, frees most again) and compacts it
// after every round.
void churner(PinShared *sh, uint64_t seed, uint64_t *compactions)
{
	std::mt19937_64 rng(seed);
	std::vector<std::pair<zs_handle, uint64_t>> mine;
	uint64_t next = seed << 24, n = 0;
	while (!sh->stop.load()) {
		while (mine.size() < 400) {
			zs_handle h = zs_malloc(sh->pool, sh->size, 0);
			if (!h) {
				sh->err.add("churner alloc");
				return;
			}
			mine.push_back({ h, next++ });
			zs_obj_write(sh->pool, h,
				     test_content::bytes(mine.back().second, sh->size).data(),
				     sh->size);
		}
		std::shuffle(mine.begin(), mine.end(), rng);
		size_t keep = mine.size() / 4;
		for (size_t i = keep; i < mine.size(); i++) {
			if (!check_object(sh->pool, mine[i].first, mine[i].second, sh->size, 0))
				sh->err.add("churner object");
			zs_free(sh->pool, mine[i].first);
		}
		mine.resize(keep);
		zs_compact(sh->pool);
		n++;
		if (n % 8 == 0 && zs_check(sh->pool))
			sh->err.add("zs_check during pin test");
	}
	for (auto &o : mine)
		zs_free(sh->pool, o.first);
	*compactions = n;
}

void pin_protocol(zs_map_method method, size_t size)
{
	const uint64_t seed = zs_test::test_seed(99);
	const double secs = seconds_from_env(2.0);
	printf("pin seed %llu (replay: ZS_TEST_SEED=%llu), method %d, size %zu\n",
	       (unsigned long long)seed, (unsigned long long)seed, method, size);
	Pool pool = make_pool(0, method);
	ASSERT_NE(pool, nullptr);
	PinShared sh;
	sh.pool = pool.get();
	sh.size = size;
	uint64_t compactions = 0;
	std::vector<std::thread> ts;
	for (int i = 0; i < 3; i++)
		ts.emplace_back(mapper, &sh, seed * 8 + (uint64_t)i, 150);
	std::thread ch(churner, &sh, seed * 8 + 7, &compactions);
	std::this_thread::sleep_for(std::chrono::milliseconds((long)(secs * 1000)));
	sh.stop = true;
	for (std::thread &t : ts)
		t.join();
	ch.join();
	zs_stats st;
	zs_pool_stats(pool.get(), &st);
	printf("%llu compactions, %llu objects moved, %llu mapped reads checked\n",
	       (unsigned long long)compactions, (unsigned long long)st.objects_moved,
	       (unsigned long long)sh.mapped_reads.load());
	EXPECT_EQ(sh.err.count.load(), 0u) << sh.err.report();
	EXPECT_GT(st.objects_moved, 0u) << "compaction moved nothing: the pins were not tested";
	EXPECT_GT(sh.mapped_reads.load(), 0u);
	EXPECT_EQ(zs_check(pool.get()), 0u);
	EXPECT_EQ(zs_test::emptied(pool.get()), "");
}

TEST(Threads, PinProtocolContiguous)
{
	pin_protocol(ZS_MAP_DEFAULT, 1392);
}

TEST(Threads, PinProtocolCopy)
{
	pin_protocol(ZS_MAP_COPY, 1008);
}

TEST(Threads, PinProtocolRemap)
{
	pin_protocol(ZS_MAP_REMAP, 1392);
}

// Small objects: many per page, many per zspage, moved in large numbers.
TEST(Threads, PinProtocolSmallObjects)
{
	pin_protocol(ZS_MAP_COPY, 208);
}

} // namespace
