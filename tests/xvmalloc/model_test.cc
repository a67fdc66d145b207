// model_test.cc - model-based random testing of xvmalloc against a shadow:
// <pfn, offset> -> (size, content seed). Every object is filled with bytes
// derived from its seed and verified through xv_map before it is freed.
//
// Replay a failure with the seed the log prints:
//   bazel test //tests/xvmalloc:model_test --test_env=XV_SEED=<seed>
// $XV_OPS overrides the operation count of the main run (default 1M; 250k
// under --config=tsan).
#include <cerrno>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

using xv_test::Rng;

struct Shadow {
	uint32_t size; // size asked for
	uint64_t seed; // content seed (Fill / Verify)
	size_t slot;   // index in Model::keys
};

struct Options {
	unsigned arenas = 1;
	uint64_t max_pages = 0;   // page limit (0: none)
	uint64_t ops = 0;         // operations
	uint64_t check_every = 0; // xv_check after every Nth step (1: all)
	size_t high = 0, low = 0; // population swings between low and high
	uint32_t max_size = 0;    // largest size drawn (0: xv_max_size())
};

class Model
{
      public:
	Model(uint64_t seed, const Options &o) : rng(seed), opt(o)
	{
		xv_config cfg{};
		cfg.arenas = o.arenas;
		cfg.max_pages = o.max_pages;
		pool = xv_create_pool_config(&cfg);
		if (!opt.max_size)
			opt.max_size = xv_max_size();
	}
	~Model()
	{
		xv_destroy_pool(pool);
	}

	// Runs the workload; stops at the first failed expectation.
	void run()
	{
		ASSERT_NE(nullptr, pool);
		bool growing = true;
		for (step = 0; step < opt.ops; step++) {
			if (live.size() >= opt.high)
				growing = false;
			if (live.size() <= opt.low)
				growing = true;
			uint64_t k = rng.below(100);
			if (live.empty() || (growing ? k < 65 : k < 35)) {
				alloc();
			} else if (k < 90) {
				free_obj(rng.below(keys.size()));
			} else {
				verify(rng.below(keys.size()));
			}
			if (::testing::Test::HasFatalFailure())
				return;
			if (opt.check_every && step % opt.check_every == 0) {
				ASSERT_EQ(0u, xv_check(pool)) << "step " << step;
			}
			if (step % 4096 == 0) {
				compare_stats();
				if (::testing::Test::HasFatalFailure())
					return;
			}
		}
		ASSERT_EQ(0u, xv_check(pool));
		compare_stats();
		compare_walk();
	}

	// Frees everything: the pool must hold no page afterwards.
	void drain()
	{
		while (!keys.empty()) {
			free_obj(keys.size() - 1);
			if (::testing::Test::HasFatalFailure())
				return;
		}
		ASSERT_EQ(0u, xv_check(pool));
		xv_stats s = xv_test::stats(pool);
		EXPECT_EQ(0u, s.objects);
		EXPECT_EQ(0u, s.pages);
		EXPECT_EQ(0u, xv_get_total_size_bytes(pool));
	}

	uint64_t nomem() const
	{
		return nomem_count;
	}

      private:
	static uint64_t key_of(uint32_t pfn, uint32_t off)
	{
		return uint64_t{ pfn } << 32 | off;
	}

	uint32_t draw_size()
	{
		switch (rng.below(16)) {
		case 0: { // the edges
			const uint32_t min = xv_min_block(),
				       edges[] = { 1,           2,       3,
						   4,           min - 1, min,
						   min + 1,     min + 4, opt.max_size - 1,
						   opt.max_size };
			return edges[rng.below(sizeof(edges) / sizeof(edges[0]))];
		}
		default:
			return xv_test::compressed_size(rng, opt.max_size);
		}
	}

	void alloc()
	{
		const uint32_t size = draw_size();
		const int flags = rng.below(10) == 0 ? static_cast<int>(XV_NOGROW) : 0;
		xv_stats before = xv_test::stats(pool);
		uint32_t pfn = 1, off = 1;
		int err = xv_malloc(pool, size, &pfn, &off, flags);
		if (err) {
			ASSERT_EQ(-ENOMEM, err) << "step " << step;
			ASSERT_TRUE(flags || opt.max_pages) << "step " << step;
			ASSERT_EQ(0u, pfn);
			ASSERT_EQ(0u, off);
			xv_stats after = xv_test::stats(pool);
			ASSERT_EQ(before.objects, after.objects);
			ASSERT_EQ(before.pages, after.pages);
			ASSERT_EQ(before.bytes_requested, after.bytes_requested);
			nomem_count++;
			return;
		}
		ASSERT_EQ(0u, off % 4) << "step " << step;
		ASSERT_GE(off, 4u);
		ASSERT_LE(uint64_t{ off } + size, xv_test::page_size());
		const uint64_t key = key_of(pfn, off);
		ASSERT_EQ(0u, live.count(key)) << "handed out twice, step " << step;
		void *p = xv_map(pool, pfn, off);
		ASSERT_NE(nullptr, p) << "step " << step;
		const uint64_t seed = rng.next();
		xv_test::fill(p, size, seed);
		xv_unmap(pool, pfn, off);
		live[key] = Shadow{ size, seed, keys.size() };
		keys.push_back(key);
		bytes += size;
	}

	void verify(size_t slot)
	{
		const uint64_t key = keys[slot];
		const Shadow &s = live.at(key);
		const uint32_t pfn = static_cast<uint32_t>(key >> 32);
		const uint32_t off = static_cast<uint32_t>(key);
		ASSERT_EQ(s.size, xv_get_object_size(pool, pfn, off)) << "step " << step;
		const void *p = xv_map(pool, pfn, off);
		ASSERT_NE(nullptr, p) << "step " << step;
		ASSERT_TRUE(xv_test::verify(p, s.size, s.seed))
			<< "content of <" << pfn << ", " << off << "> size " << s.size
			<< " damaged, step " << step;
		xv_unmap(pool, pfn, off);
	}

	void free_obj(size_t slot)
	{
		verify(slot);
		if (::testing::Test::HasFatalFailure())
			return;
		const uint64_t key = keys[slot];
		const Shadow s = live.at(key);
		ASSERT_EQ(0, xv_free(pool, static_cast<uint32_t>(key >> 32),
				     static_cast<uint32_t>(key)))
			<< "step " << step;
		bytes -= s.size;
		live.erase(key);
		keys[slot] = keys.back();
		keys.pop_back();
		if (slot < keys.size())
			live.at(keys[slot]).slot = slot;
	}

	void compare_stats()
	{
		xv_stats s = xv_test::stats(pool);
		ASSERT_EQ(live.size(), s.objects) << "step " << step;
		ASSERT_EQ(bytes, s.bytes_requested) << "step " << step;
		ASSERT_EQ(s.pages * xv_test::page_size(), s.bytes_allocated + s.bytes_free);
		ASSERT_EQ(s.pages * xv_test::page_size(), xv_get_total_size_bytes(pool));
		if (opt.max_pages) {
			ASSERT_LE(s.pages, opt.max_pages);
		}
	}

	// The walker's used blocks are exactly the model's objects.
	void compare_walk()
	{
		size_t used = 0;
		for (const xv_test::Block &b : xv_test::walk_blocks(pool)) {
			if (!b.used)
				continue;
			used++;
			auto it = live.find(key_of(b.pfn, b.offset));
			ASSERT_NE(live.end(), it) << "unknown object in walk";
			ASSERT_EQ(it->second.size, b.size);
		}
		ASSERT_EQ(live.size(), used);
	}

	Rng rng;
	Options opt;
	xv_pool *pool = nullptr;
	std::unordered_map<uint64_t, Shadow> live;
	std::vector<uint64_t> keys;
	uint64_t bytes = 0, step = 0, nomem_count = 0;
};

// Options for a run of @ops steps, xv_check() every @check_every, the
// population swinging between @low and @high objects.
Options options(uint64_t ops, uint64_t check_every, size_t low, size_t high)
{
	Options o;
	o.ops = ops;
	o.check_every = check_every;
	o.low = low;
	o.high = high;
	return o;
}

// A model of @o seeded from $XV_SEED (or the clock; printed under @test)
// xored with @salt: it runs, @after_run(model) checks what it counted,
// and it frees everything. Stops at the first fatal failure.
template <typename F> void run_model(const char *test, uint64_t salt, const Options &o, F after_run)
{
	Model m(xv_test::seed_from_env(test) ^ salt, o);
	m.run();
	if (::testing::Test::HasFatalFailure())
		return;
	after_run(m);
	m.drain();
}

void run_model(const char *test, uint64_t salt, const Options &o)
{
	run_model(test, salt, o, [](Model &) {});
}

// The main run: a million operations, population swinging between 2k and
// 30k objects (pages filled, churned, emptied and given back).
TEST(XvModel, MillionOperations)
{
#ifdef ZSALLOC_TSAN
	// Single-threaded: TSan adds ~4x time and nothing to find; keep it short.
	const uint64_t ops = xv_test::count_from_env("XV_OPS", 250000);
#else
	const uint64_t ops = xv_test::count_from_env("XV_OPS", 1000000);
#endif
	run_model("MillionOperations", 0, options(ops, 100000, 2000, 30000));
}

// Smaller, with xv_check after every single step.
TEST(XvModel, CheckEveryStep)
{
	run_model("CheckEveryStep", 1, options(30000, 1, 20, 300));
}

// Small objects only: many blocks per page, many fragments and merges.
TEST(XvModel, SmallObjectsCheckEveryStep)
{
	Options o = options(30000, 1, 50, 1500);
	o.max_size = 200;
	run_model("SmallObjectsCheckEveryStep", 2, o);
}

// A page limit under pressure: -ENOMEM leaves the pool unchanged.
TEST(XvModel, PageLimitCheckEveryStep)
{
	Options o = options(30000, 1, 30, 200);
	o.max_pages = 40;
	run_model("PageLimitCheckEveryStep", 3, o,
		  [](Model &m) { EXPECT_GT(m.nomem(), 0u) << "the limit was never reached"; });
}

// Several arenas, one thread: the same invariants hold.
TEST(XvModel, ManyArenas)
{
	Options o = options(200000, 1000, 500, 5000);
	o.arenas = 8;
	run_model("ManyArenas", 4, o);
}

} // namespace
