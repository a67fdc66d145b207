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

namespace {

using xvtest::Rng;

struct Shadow {
  uint32_t size;   // size asked for
  uint64_t seed;   // content seed (Fill / Verify)
  size_t slot;     // index in Model::keys_
};

struct Options {
  unsigned arenas = 1;
  uint64_t max_pages = 0;      // page limit (0: none)
  uint64_t ops = 0;            // operations
  uint64_t check_every = 0;    // xv_check after every Nth step (1: all)
  size_t high = 0, low = 0;    // population swings between low and high
  uint32_t max_size = 0;       // largest size drawn (0: xv_max_size())
};

class Model {
 public:
  Model(uint64_t seed, const Options& o) : rng_(seed), opt_(o) {
    xv_config cfg{};
    cfg.arenas = o.arenas;
    cfg.max_pages = o.max_pages;
    pool_ = xv_create_pool_config(&cfg);
    if (!opt_.max_size) opt_.max_size = xv_max_size();
  }
  ~Model() { xv_destroy_pool(pool_); }

  xv_pool* pool() { return pool_; }

  // Runs the workload; stops at the first failed expectation.
  void Run() {
    ASSERT_NE(nullptr, pool_);
    bool growing = true;
    for (step_ = 0; step_ < opt_.ops; step_++) {
      if (live_.size() >= opt_.high) growing = false;
      if (live_.size() <= opt_.low) growing = true;
      uint64_t k = rng_.below(100);
      if (live_.empty() || (growing ? k < 65 : k < 35)) {
        Alloc();
      } else if (k < 90) {
        Free(rng_.below(keys_.size()));
      } else {
        Verify(rng_.below(keys_.size()));
      }
      if (::testing::Test::HasFatalFailure()) return;
      if (opt_.check_every && step_ % opt_.check_every == 0) {
        ASSERT_EQ(0u, xv_check(pool_)) << "step " << step_;
      }
      if (step_ % 4096 == 0) {
        CompareStats();
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    ASSERT_EQ(0u, xv_check(pool_));
    CompareStats();
    CompareWalk();
  }

  // Frees everything: the pool must hold no page afterwards.
  void Drain() {
    while (!keys_.empty()) {
      Free(keys_.size() - 1);
      if (::testing::Test::HasFatalFailure()) return;
    }
    ASSERT_EQ(0u, xv_check(pool_));
    xv_stats s = xvtest::Stats(pool_);
    EXPECT_EQ(0u, s.objects);
    EXPECT_EQ(0u, s.pages);
    EXPECT_EQ(0u, xv_get_total_size_bytes(pool_));
  }

  uint64_t nomem() const { return nomem_; }

 private:
  static uint64_t Key(uint32_t pfn, uint32_t off) {
    return uint64_t{pfn} << 32 | off;
  }

  uint32_t DrawSize() {
    switch (rng_.below(16)) {
      case 0: {  // the edges
        const uint32_t min = xv_min_block(), edges[] = {
          1, 2, 3, 4, min - 1, min, min + 1, min + 4, opt_.max_size - 1,
          opt_.max_size};
        return edges[rng_.below(sizeof(edges) / sizeof(edges[0]))];
      }
      default:
        return xvtest::CompressedSize(rng_, opt_.max_size);
    }
  }

  void Alloc() {
    const uint32_t size = DrawSize();
    const int flags = rng_.below(10) == 0 ? static_cast<int>(XV_NOGROW) : 0;
    xv_stats before = xvtest::Stats(pool_);
    uint32_t pfn = 1, off = 1;
    int err = xv_malloc(pool_, size, &pfn, &off, flags);
    if (err) {
      ASSERT_EQ(-ENOMEM, err) << "step " << step_;
      ASSERT_TRUE(flags || opt_.max_pages) << "step " << step_;
      ASSERT_EQ(0u, pfn);
      ASSERT_EQ(0u, off);
      xv_stats after = xvtest::Stats(pool_);
      ASSERT_EQ(before.objects, after.objects);
      ASSERT_EQ(before.pages, after.pages);
      ASSERT_EQ(before.bytes_requested, after.bytes_requested);
      nomem_++;
      return;
    }
    ASSERT_EQ(0u, off % 4) << "step " << step_;
    ASSERT_GE(off, 4u);
    ASSERT_LE(uint64_t{off} + size, xvtest::PageSize());
    const uint64_t key = Key(pfn, off);
    ASSERT_EQ(0u, live_.count(key)) << "handed out twice, step " << step_;
    void* p = xv_map(pool_, pfn, off);
    ASSERT_NE(nullptr, p) << "step " << step_;
    const uint64_t seed = rng_.next();
    xvtest::fill(p, size, seed);
    xv_unmap(pool_, pfn, off);
    live_[key] = Shadow{size, seed, keys_.size()};
    keys_.push_back(key);
    bytes_ += size;
  }

  void Verify(size_t slot) {
    const uint64_t key = keys_[slot];
    const Shadow& s = live_.at(key);
    const uint32_t pfn = static_cast<uint32_t>(key >> 32);
    const uint32_t off = static_cast<uint32_t>(key);
    ASSERT_EQ(s.size, xv_get_object_size(pool_, pfn, off)) << "step " << step_;
    const void* p = xv_map(pool_, pfn, off);
    ASSERT_NE(nullptr, p) << "step " << step_;
    ASSERT_TRUE(xvtest::Verify(p, s.size, s.seed))
        << "content of <" << pfn << ", " << off << "> size " << s.size
        << " damaged, step " << step_;
    xv_unmap(pool_, pfn, off);
  }

  void Free(size_t slot) {
    Verify(slot);
    if (::testing::Test::HasFatalFailure()) return;
    const uint64_t key = keys_[slot];
    const Shadow s = live_.at(key);
    ASSERT_EQ(0, xv_free(pool_, static_cast<uint32_t>(key >> 32),
                         static_cast<uint32_t>(key)))
        << "step " << step_;
    bytes_ -= s.size;
    live_.erase(key);
    keys_[slot] = keys_.back();
    keys_.pop_back();
    if (slot < keys_.size()) live_.at(keys_[slot]).slot = slot;
  }

  void CompareStats() {
    xv_stats s = xvtest::Stats(pool_);
    ASSERT_EQ(live_.size(), s.objects) << "step " << step_;
    ASSERT_EQ(bytes_, s.bytes_requested) << "step " << step_;
    ASSERT_EQ(s.pages * xvtest::PageSize(), s.bytes_allocated + s.bytes_free);
    ASSERT_EQ(s.pages * xvtest::PageSize(), xv_get_total_size_bytes(pool_));
    if (opt_.max_pages) {
      ASSERT_LE(s.pages, opt_.max_pages);
    }
  }

  // The walker's used blocks are exactly the model's objects.
  void CompareWalk() {
    size_t used = 0;
    for (const xvtest::Block& b : xvtest::Blocks(pool_)) {
      if (!b.used) continue;
      used++;
      auto it = live_.find(Key(b.pfn, b.offset));
      ASSERT_NE(live_.end(), it) << "unknown object in walk";
      ASSERT_EQ(it->second.size, b.size);
    }
    ASSERT_EQ(live_.size(), used);
  }

  Rng rng_;
  Options opt_;
  xv_pool* pool_ = nullptr;
  std::unordered_map<uint64_t, Shadow> live_;
  std::vector<uint64_t> keys_;
  uint64_t bytes_ = 0, step_ = 0, nomem_ = 0;
};

// The main run: a million operations, population swinging between 2k and
// 30k objects (pages filled, churned, emptied and given back).
TEST(XvModel, MillionOperations) {
  Options o;
#ifdef ZSALLOC_TSAN
  // Single-threaded: TSan adds ~4x time and nothing to find; keep it short.
  o.ops = xvtest::CountFromEnv("XV_OPS", 250000);
#else
  o.ops = xvtest::CountFromEnv("XV_OPS", 1000000);
#endif
  o.check_every = 100000;
  o.low = 2000;
  o.high = 30000;
  Model m(xvtest::SeedFromEnv("MillionOperations"), o);
  m.Run();
  if (HasFatalFailure()) return;
  m.Drain();
}

// Smaller, with xv_check after every single step.
TEST(XvModel, CheckEveryStep) {
  Options o;
  o.ops = 30000;
  o.check_every = 1;
  o.low = 20;
  o.high = 300;
  Model m(xvtest::SeedFromEnv("CheckEveryStep") ^ 1, o);
  m.Run();
  if (HasFatalFailure()) return;
  m.Drain();
}

// Small objects only: many blocks per page, many fragments and merges.
TEST(XvModel, SmallObjectsCheckEveryStep) {
  Options o;
  o.ops = 30000;
  o.check_every = 1;
  o.low = 50;
  o.high = 1500;
  o.max_size = 200;
  Model m(xvtest::SeedFromEnv("SmallObjectsCheckEveryStep") ^ 2, o);
  m.Run();
  if (HasFatalFailure()) return;
  m.Drain();
}

// A page limit under pressure: -ENOMEM leaves the pool unchanged.
TEST(XvModel, PageLimitCheckEveryStep) {
  Options o;
  o.ops = 30000;
  o.check_every = 1;
  o.max_pages = 40;
  o.low = 30;
  o.high = 200;
  Model m(xvtest::SeedFromEnv("PageLimitCheckEveryStep") ^ 3, o);
  m.Run();
  if (HasFatalFailure()) return;
  EXPECT_GT(m.nomem(), 0u) << "the limit was never reached";
  m.Drain();
}

// Several arenas, one thread: the same invariants hold.
TEST(XvModel, ManyArenas) {
  Options o;
  o.ops = 200000;
  o.check_every = 1000;
  o.arenas = 8;
  o.low = 500;
  o.high = 5000;
  Model m(xvtest::SeedFromEnv("ManyArenas") ^ 4, o);
  m.Run();
  if (HasFatalFailure()) return;
  m.Drain();
}

}  // namespace
