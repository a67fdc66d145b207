// api_test.cc - the public contract of xvmalloc/xvmalloc.h: limits, errors,
// block layout, every split and merge case, pages given back, stats, the
// walker, XV_NOGROW, the page limit and arenas.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace {

using xvtest::Block;
using xvtest::Extent;
using xvtest::PageSize;
using xvtest::Stats;

struct Obj {
  uint32_t pfn = 0, off = 0, size = 0;
};

class XvApi : public ::testing::Test {
 protected:
  void SetUp() override { pool_ = Create(1, 0); }
  void TearDown() override { xv_destroy_pool(pool_); }

  static xv_pool* Create(unsigned arenas, uint64_t max_pages) {
    xv_config cfg{};
    cfg.arenas = arenas;
    cfg.max_pages = max_pages;
    xv_pool* p = xv_create_pool_config(&cfg);
    EXPECT_NE(nullptr, p);
    return p;
  }

  Obj Alloc(uint32_t size, int flags = 0) {
    Obj o;
    o.size = size;
    EXPECT_EQ(0, xv_malloc(pool_, size, &o.pfn, &o.off, flags)) << size;
    return o;
  }

  void Free(const Obj& o) {
    EXPECT_EQ(0, xv_free(pool_, o.pfn, o.off));
  }

  // Every block of o's page, in order.
  std::vector<Block> Page(const Obj& o) {
    return xvtest::PageBlocks(pool_, o.pfn);
  }

  xv_pool* pool_ = nullptr;
};

// The documented block layout of one page: a used block per object, the
// rest one free block of the remaining data bytes.
Block Used(const Obj& o) { return Block{o.pfn, o.off, o.size, 1}; }
Block FreeAt(uint32_t pfn, uint32_t off, uint32_t size) {
  return Block{pfn, off, size, 0};
}

TEST(XvLimits, SizesFollowThePageSize) {
  EXPECT_EQ(PageSize() - 4, xv_max_size());
  EXPECT_EQ(32u, xv_min_block());
}

TEST(XvCreate, DefaultsAndNull) {
  xv_pool* p = xv_create_pool();
  ASSERT_NE(nullptr, p);
  xv_stats s = Stats(p);
  EXPECT_EQ(0u, s.pages);
  EXPECT_EQ(0u, s.objects);
  EXPECT_GT(s.metadata_bytes, 0u);
  EXPECT_EQ(0u, xv_get_total_size_bytes(p));
  EXPECT_EQ(0u, xv_check(p));
  xv_destroy_pool(p);
  xv_destroy_pool(nullptr);
  p = xv_create_pool_config(nullptr);
  ASSERT_NE(nullptr, p);
  xv_destroy_pool(p);
}

TEST(XvCreate, ConfigErrors) {
  xv_config cfg{};
  cfg.arenas = 65;
  errno = 0;
  EXPECT_EQ(nullptr, xv_create_pool_config(&cfg));
  EXPECT_EQ(EINVAL, errno);

  cfg = xv_config{};
  cfg.max_pages = uint64_t{1} << 32;
  errno = 0;
  EXPECT_EQ(nullptr, xv_create_pool_config(&cfg));
  EXPECT_EQ(EINVAL, errno);

  cfg = xv_config{};
  cfg.arenas = 64;
  xv_pool* p = xv_create_pool_config(&cfg);
  ASSERT_NE(nullptr, p);
  uint32_t pfn, off;
  EXPECT_EQ(0, xv_malloc(p, 100, &pfn, &off, 0));
  EXPECT_EQ(0, xv_free(p, pfn, off));
  EXPECT_EQ(0u, xv_check(p));
  xv_destroy_pool(p);
}

TEST(XvCreate, PageCacheSettings) {
  for (uint32_t cache : {0u, 1u, 1000u, XV_CACHE_NONE}) {
    xv_config cfg{};
    cfg.arenas = 1;
    cfg.cache_pages = cache;
    xv_pool* p = xv_create_pool_config(&cfg);
    ASSERT_NE(nullptr, p) << cache;
    // Empty pages leave the pool whatever the cache keeps.
    for (int round = 0; round < 3; round++) {
      std::vector<std::pair<uint32_t, uint32_t>> objs(50);
      for (auto& o : objs)
        ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &o.first, &o.second, 0));
      EXPECT_EQ(50u, Stats(p).pages);
      for (auto& o : objs) ASSERT_EQ(0, xv_free(p, o.first, o.second));
      EXPECT_EQ(0u, Stats(p).pages);
      EXPECT_EQ(0u, xv_get_total_size_bytes(p));
    }
    EXPECT_EQ(150u, Stats(p).pages_freed);
    EXPECT_EQ(0u, xv_check(p));
    xv_destroy_pool(p);
  }
}

TEST_F(XvApi, BoundarySizes) {
  const uint32_t max = xv_max_size(), min = xv_min_block();
  for (uint32_t bad : {0u, max + 1, max + 4, 65536u, UINT32_MAX}) {
    uint32_t pfn = 77, off = 77;
    xv_stats before = Stats(pool_);
    EXPECT_EQ(-EINVAL, xv_malloc(pool_, bad, &pfn, &off, 0)) << bad;
    EXPECT_EQ(0u, pfn);
    EXPECT_EQ(0u, off);
    xv_stats after = Stats(pool_);
    EXPECT_EQ(before.pages, after.pages);
    EXPECT_EQ(before.objects, after.objects);
  }
  for (uint32_t size : {1u, 2u, 3u, 4u, min - 1, min, min + 1, min + 4,
                        max - 1, max}) {
    Obj o = Alloc(size);
    EXPECT_EQ(0u, o.off % 4) << size;
    EXPECT_GE(o.off, 4u);
    EXPECT_LE(o.off + size, PageSize());
    EXPECT_EQ(size, xv_get_object_size(pool_, o.pfn, o.off));
    void* p = xv_map(pool_, o.pfn, o.off);
    ASSERT_NE(nullptr, p);
    xvtest::fill(p, size, size);
    xv_unmap(pool_, o.pfn, o.off);
    EXPECT_EQ(0u, xv_check(pool_)) << size;
    EXPECT_EQ(1u, Stats(pool_).objects);
    EXPECT_EQ(size, Stats(pool_).bytes_requested);
    EXPECT_EQ(4 + Extent(size), Stats(pool_).bytes_allocated);
    EXPECT_TRUE(xvtest::Verify(xv_map(pool_, o.pfn, o.off), size, size));
    Free(o);
    EXPECT_EQ(0u, Stats(pool_).pages) << size;
    EXPECT_EQ(0u, xv_check(pool_));
  }
}

TEST_F(XvApi, BadArguments) {
  uint32_t pfn = 5, off = 5;
  EXPECT_EQ(-EINVAL, xv_malloc(nullptr, 100, &pfn, &off, 0));
  EXPECT_EQ(0u, pfn);
  EXPECT_EQ(0u, off);
  EXPECT_EQ(-EINVAL, xv_malloc(pool_, 100, nullptr, &off, 0));
  EXPECT_EQ(-EINVAL, xv_malloc(pool_, 100, &pfn, nullptr, 0));
  for (int flags : {2, 4, 0x100, -1, static_cast<int>(0x80000001u)}) {
    pfn = off = 9;
    EXPECT_EQ(-EINVAL, xv_malloc(pool_, 100, &pfn, &off, flags)) << flags;
    EXPECT_EQ(0u, pfn);
    EXPECT_EQ(0u, off);
  }
  EXPECT_EQ(0u, Stats(pool_).pages);
  EXPECT_EQ(-EINVAL, xv_free(nullptr, 0, 4));
  errno = 0;
  EXPECT_EQ(nullptr, xv_map(nullptr, 0, 4));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0u, xv_get_total_size_bytes(nullptr));
  EXPECT_EQ(0u, xv_check(pool_));
}

TEST_F(XvApi, FirstObjectLayout) {
  Obj a = Alloc(1000);
  EXPECT_EQ(4u, a.off);
  std::vector<Block> want = {Used(a),
                             FreeAt(a.pfn, 4 + 1000 + 4, PageSize() - 1008)};
  EXPECT_EQ(want, Page(a));
  xv_stats s = Stats(pool_);
  EXPECT_EQ(1u, s.pages);
  EXPECT_EQ(1004u, s.bytes_allocated);
  EXPECT_EQ(PageSize() - 1004, s.bytes_free);
  EXPECT_EQ(PageSize(), xv_get_total_size_bytes(pool_));
}

TEST_F(XvApi, SmallObjectsTakeTheMinimumBlock) {
  Obj a = Alloc(1), b = Alloc(5), c = Alloc(33);
  EXPECT_EQ(4u, a.off);
  EXPECT_EQ(a.pfn, b.pfn);
  EXPECT_EQ(4u + 32 + 4, b.off);
  EXPECT_EQ(b.off + 32 + 4, c.off);
  EXPECT_EQ(3 * 4 + 32 + 32 + 36u, Stats(pool_).bytes_allocated);
  EXPECT_EQ(1 + 5 + 33u, Stats(pool_).bytes_requested);
  EXPECT_EQ(0u, xv_check(pool_));
}

TEST_F(XvApi, MaxSizeTakesAWholePage) {
  Obj a = Alloc(xv_max_size());
  EXPECT_EQ(4u, a.off);
  EXPECT_EQ(std::vector<Block>{Used(a)}, Page(a));
  Obj b = Alloc(xv_max_size());
  EXPECT_NE(a.pfn, b.pfn);
  EXPECT_EQ(2u, Stats(pool_).pages);
  EXPECT_EQ(0u, Stats(pool_).bytes_free);
  // A full page: even the smallest object needs another.
  Obj c = Alloc(1);
  EXPECT_NE(a.pfn, c.pfn);
  EXPECT_NE(b.pfn, c.pfn);
  Free(a);
  Free(b);
  Free(c);
  EXPECT_EQ(0u, Stats(pool_).pages);
  EXPECT_EQ(3u, Stats(pool_).pages_freed);
  EXPECT_EQ(0u, xv_check(pool_));
}

// The four merge cases when B (between A and C) is freed, plus D after C so
// that the page stays in use; sizes unaligned so that rounding shows.
enum class Neighbours { kNone, kPrevFree, kNextFree, kBothFree };

class XvMerge : public XvApi,
                public ::testing::WithParamInterface<Neighbours> {};

TEST_P(XvMerge, FreeMergesWithFreeNeighbours) {
  Obj a = Alloc(101), b = Alloc(203), c = Alloc(297), d = Alloc(400);
  ASSERT_EQ(a.pfn, d.pfn);
  const uint32_t ea = Extent(101), eb = Extent(203), ec = Extent(297);
  ASSERT_EQ(b.off, a.off + ea + 4);
  ASSERT_EQ(c.off, b.off + eb + 4);
  ASSERT_EQ(d.off, c.off + ec + 4);
  const uint32_t tail_off = d.off + 400 + 4;
  const Block tail = FreeAt(a.pfn, tail_off, PageSize() - tail_off);

  Neighbours n = GetParam();
  if (n == Neighbours::kPrevFree || n == Neighbours::kBothFree) Free(a);
  if (n == Neighbours::kNextFree || n == Neighbours::kBothFree) Free(c);
  ASSERT_EQ(0u, xv_check(pool_));
  Free(b);
  ASSERT_EQ(0u, xv_check(pool_));

  std::vector<Block> want;
  uint32_t merged_off = 0, merged = 0;
  switch (n) {
    case Neighbours::kNone:
      merged_off = b.off, merged = eb;
      want = {Used(a), FreeAt(a.pfn, b.off, eb), Used(c), Used(d), tail};
      break;
    case Neighbours::kPrevFree:
      merged_off = a.off, merged = ea + 4 + eb;
      want = {FreeAt(a.pfn, a.off, merged), Used(c), Used(d), tail};
      break;
    case Neighbours::kNextFree:
      merged_off = b.off, merged = eb + 4 + ec;
      want = {Used(a), FreeAt(a.pfn, b.off, merged), Used(d), tail};
      break;
    case Neighbours::kBothFree:
      merged_off = a.off, merged = ea + eb + ec + 8;
      want = {FreeAt(a.pfn, a.off, merged), Used(d), tail};
      break;
  }
  EXPECT_EQ(want, Page(a));

  // The merged block is on the free list of its size: an object of exactly
  // that size fits it with no page to spare, and leaves no remainder.
  uint32_t pfn, off;
  ASSERT_EQ(0, xv_malloc(pool_, merged, &pfn, &off, XV_NOGROW));
  EXPECT_EQ(a.pfn, pfn);
  EXPECT_EQ(merged_off, off);
  EXPECT_EQ(0u, xv_check(pool_));
  EXPECT_EQ(1u, Stats(pool_).pages);

  // Freeing the last object merges it with the page's free tail.
  ASSERT_EQ(0, xv_free(pool_, pfn, off));
  Free(d);
  EXPECT_EQ(0u, xv_check(pool_));
  if (n == Neighbours::kNone || n == Neighbours::kNextFree) {
    Free(a);
  }
  if (n == Neighbours::kNone || n == Neighbours::kPrevFree) {
    Free(c);
  }
  EXPECT_EQ(0u, Stats(pool_).pages);
  EXPECT_EQ(0u, xv_check(pool_));
}

INSTANTIATE_TEST_SUITE_P(AllCases, XvMerge,
                         ::testing::Values(Neighbours::kNone,
                                           Neighbours::kPrevFree,
                                           Neighbours::kNextFree,
                                           Neighbours::kBothFree));

TEST_F(XvApi, FreeingTheLastObjectMergesWithTheTail) {
  Obj a = Alloc(100), b = Alloc(200);
  Free(b);
  std::vector<Block> want = {Used(a), FreeAt(a.pfn, b.off, PageSize() - b.off)};
  EXPECT_EQ(want, Page(a));
  EXPECT_EQ(0u, xv_check(pool_));
}

// Every order of freeing five objects of one page: the checker holds after
// each step, and the page goes back after the last.
TEST_F(XvApi, EveryFreeOrderGivesThePageBack) {
  std::vector<int> order = {0, 1, 2, 3, 4};
  const uint32_t sizes[] = {64, 1, 700, 36, 1500};
  int perms = 0;
  do {
    std::vector<Obj> objs;
    for (uint32_t s : sizes) objs.push_back(Alloc(s));
    for (const Obj& o : objs) ASSERT_EQ(objs[0].pfn, o.pfn);
    const uint64_t freed = Stats(pool_).pages_freed;
    for (size_t i = 0; i < order.size(); i++) {
      ASSERT_EQ(1u, Stats(pool_).pages);
      Free(objs[static_cast<size_t>(order[i])]);
      ASSERT_EQ(0u, xv_check(pool_)) << "perm " << perms << " step " << i;
    }
    EXPECT_EQ(0u, Stats(pool_).pages);
    EXPECT_EQ(freed + 1, Stats(pool_).pages_freed);
    EXPECT_EQ(0u, xv_get_total_size_bytes(pool_));
    perms++;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(120, perms);
}

// A split that leaves fewer than MIN data bytes makes a fragment on no
// free list; it is reclaimed when its neighbour is freed.
TEST_F(XvApi, SplitRemaindersBelowTheMinimumAreFragments) {
  const uint32_t page = PageSize(), min = xv_min_block();
  for (uint32_t frag : {0u, 4u, min - 4}) {
    // block data (page - 4) = size + 4 + frag
    Obj a = Alloc(page - 8 - frag);
    std::vector<Block> want = {Used(a), FreeAt(a.pfn, page - frag, frag)};
    EXPECT_EQ(want, Page(a));
    EXPECT_EQ(0u, xv_check(pool_));
    uint32_t pfn = 1, off = 1;
    EXPECT_EQ(-ENOMEM, xv_malloc(pool_, 1, &pfn, &off, XV_NOGROW)) << frag;
    EXPECT_EQ(0u, pfn);
    Obj b = Alloc(1);
    EXPECT_NE(a.pfn, b.pfn);
    Free(a);
    EXPECT_EQ(0u, xv_check(pool_));
    Free(b);
    EXPECT_EQ(0u, Stats(pool_).pages);
  }
  // A remainder of exactly MIN is a listed free block.
  Obj a = Alloc(page - 8 - min);
  Obj b = Alloc(min, XV_NOGROW);
  EXPECT_EQ(a.pfn, b.pfn);
  EXPECT_EQ(page - min, b.off);
  EXPECT_EQ(0u, xv_check(pool_));
}

// Sizes just under a list boundary are found in their own (floor) list when
// its head fits: a freed 36-byte block serves the next 36-byte request.
TEST_F(XvApi, GoodFitReusesTheFloorList) {
  for (uint32_t size : {36u, 44u, 1004u, 2036u}) {
    Obj a = Alloc(size), guard = Alloc(8);
    Free(a);
    Obj b = Alloc(size, XV_NOGROW);
    EXPECT_EQ(a.pfn, b.pfn) << size;
    EXPECT_EQ(a.off, b.off) << size;
    Free(b);
    Free(guard);
    EXPECT_EQ(0u, Stats(pool_).pages);
  }
}

// A hole in a high list serves any request that fits it (found through the
// first-level bitmap), and nothing larger.
TEST_F(XvApi, SearchFindsTheOnlyFittingHole) {
  const uint32_t page = PageSize();
  const uint32_t hole = page * 3 / 4;
  Obj a = Alloc(hole);
  Obj guard = Alloc(page - 8 - Extent(hole));  // fills the page exactly
  ASSERT_EQ(a.pfn, guard.pfn);
  ASSERT_EQ((std::vector<Block>{Used(a), Used(guard)}), Page(a));
  Free(a);
  uint32_t pfn, off;
  EXPECT_EQ(-ENOMEM, xv_malloc(pool_, hole + 1, &pfn, &off, XV_NOGROW));
  for (uint32_t want : {40u, 300u, 1000u, hole / 2}) {
    ASSERT_EQ(0, xv_malloc(pool_, want, &pfn, &off, XV_NOGROW)) << want;
    EXPECT_EQ(a.pfn, pfn);
    EXPECT_EQ(0u, xv_check(pool_));
    EXPECT_EQ(0, xv_free(pool_, pfn, off));
  }
  ASSERT_EQ(0, xv_malloc(pool_, hole, &pfn, &off, XV_NOGROW));
  EXPECT_EQ(a.off, off);
  EXPECT_EQ(1u, Stats(pool_).pages);
}

TEST_F(XvApi, NoGrowNeverTakesAPage) {
  uint32_t pfn = 3, off = 3;
  EXPECT_EQ(-ENOMEM, xv_malloc(pool_, 10, &pfn, &off, XV_NOGROW));
  EXPECT_EQ(0u, pfn);
  EXPECT_EQ(0u, off);
  EXPECT_EQ(0u, Stats(pool_).pages);
  EXPECT_EQ(0u, Stats(pool_).pages_allocated);
  Obj a = Alloc(1000);
  Obj b = Alloc(1000, XV_NOGROW);
  EXPECT_EQ(a.pfn, b.pfn);
  EXPECT_EQ(-ENOMEM,
            xv_malloc(pool_, xv_max_size(), &pfn, &off, XV_NOGROW));
  EXPECT_EQ(1u, Stats(pool_).pages);
  EXPECT_EQ(0u, xv_check(pool_));
}

TEST(XvPageLimit, FailsCleanlyAtTheLimit) {
  xv_config cfg{};
  cfg.arenas = 1;
  cfg.max_pages = 3;
  xv_pool* p = xv_create_pool_config(&cfg);
  ASSERT_NE(nullptr, p);
  std::vector<Obj> objs(3);
  for (Obj& o : objs)
    ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &o.pfn, &o.off, 0));
  xv_stats before = Stats(p);
  uint32_t pfn = 8, off = 8;
  EXPECT_EQ(-ENOMEM, xv_malloc(p, 1, &pfn, &off, 0));
  EXPECT_EQ(0u, pfn);
  EXPECT_EQ(0u, off);
  xv_stats after = Stats(p);
  EXPECT_EQ(before.pages, after.pages);
  EXPECT_EQ(before.objects, after.objects);
  EXPECT_EQ(before.pages_allocated, after.pages_allocated);
  EXPECT_EQ(0u, xv_check(p));
  EXPECT_EQ(0, xv_free(p, objs[1].pfn, objs[1].off));
  EXPECT_EQ(0, xv_malloc(p, 1, &pfn, &off, 0));
  EXPECT_EQ(0u, xv_check(p));
  xv_destroy_pool(p);
}

// With more arenas, a thread whose arena is empty uses the free space of
// another arena rather than fail at the page limit (or under XV_NOGROW).
TEST(XvPageLimit, UsesOtherArenasBeforeFailing) {
  xv_config cfg{};
  cfg.arenas = 4;
  cfg.max_pages = 2;
  xv_pool* p = xv_create_pool_config(&cfg);
  ASSERT_NE(nullptr, p);
  Obj a, full;
  ASSERT_EQ(0, xv_malloc(p, 100, &a.pfn, &a.off, 0));
  // Other threads start in other arenas (round robin on first use).
  std::thread([&] {
    ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &full.pfn, &full.off, 0));
  }).join();
  ASSERT_EQ(2u, Stats(p).pages);
  for (int flags : {0, static_cast<int>(XV_NOGROW)}) {
    std::thread([&] {
      Obj b;
      ASSERT_EQ(0, xv_malloc(p, 100, &b.pfn, &b.off, flags));
      EXPECT_EQ(a.pfn, b.pfn);
      Obj c;
      EXPECT_EQ(-ENOMEM, xv_malloc(p, xv_max_size(), &c.pfn, &c.off, flags));
    }).join();
  }
  EXPECT_EQ(2u, Stats(p).pages);
  EXPECT_EQ(0u, xv_check(p));
  xv_destroy_pool(p);
}

TEST_F(XvApi, StatsMatchTheObjects) {
  xvtest::Rng r(42);
  std::vector<Obj> objs;
  uint64_t requested = 0, allocated = 0;
  for (int i = 0; i < 2000; i++) {
    Obj o = Alloc(xvtest::CompressedSize(r, xv_max_size()));
    requested += o.size;
    allocated += 4 + Extent(o.size);
    objs.push_back(o);
  }
  for (size_t i = 0; i < objs.size(); i += 3) {
    Free(objs[i]);
    requested -= objs[i].size;
    allocated -= 4 + Extent(objs[i].size);
  }
  xv_stats s = Stats(pool_);
  EXPECT_EQ(objs.size() - (objs.size() + 2) / 3, s.objects);
  EXPECT_EQ(requested, s.bytes_requested);
  EXPECT_EQ(allocated, s.bytes_allocated);
  EXPECT_EQ(s.pages * PageSize(), s.bytes_allocated + s.bytes_free);
  EXPECT_EQ(s.pages * PageSize(), xv_get_total_size_bytes(pool_));
  EXPECT_EQ(s.pages, s.pages_allocated - s.pages_freed);
  EXPECT_GT(s.metadata_bytes, 0u);
  EXPECT_EQ(0u, xv_check(pool_));
}

TEST_F(XvApi, WalkerVisitsEveryBlockInPageOrder) {
  xvtest::Rng r(7);
  std::vector<Obj> objs;
  for (int i = 0; i < 500; i++)
    objs.push_back(Alloc(xvtest::CompressedSize(r, xv_max_size())));
  for (size_t i = 0; i < objs.size(); i += 2) Free(objs[i]);

  std::vector<Block> blocks = xvtest::Blocks(pool_);
  std::vector<std::pair<uint32_t, uint32_t>> used;
  uint64_t covered = 0;
  for (size_t i = 0; i < blocks.size(); i++) {
    const Block& b = blocks[i];
    if (i > 0) {
      const Block& p = blocks[i - 1];
      EXPECT_TRUE(p.pfn < b.pfn || (p.pfn == b.pfn && p.offset < b.offset));
    }
    covered += 4 + (b.used ? Extent(b.size) : b.size);
    if (b.used) {
      used.push_back({b.pfn, b.offset});
      EXPECT_EQ(b.size, xv_get_object_size(pool_, b.pfn, b.offset));
    }
  }
  EXPECT_EQ(Stats(pool_).pages * PageSize(), covered);
  std::vector<std::pair<uint32_t, uint32_t>> live;
  for (size_t i = 1; i < objs.size(); i += 2)
    live.push_back({objs[i].pfn, objs[i].off});
  std::sort(live.begin(), live.end());
  std::sort(used.begin(), used.end());
  EXPECT_EQ(live, used);

  // A non-zero return stops the walk and is passed on.
  struct Stop {
    int calls = 0;
  } stop;
  auto fn = [](uint32_t, uint32_t, uint32_t, int, void* arg) -> int {
    return ++static_cast<Stop*>(arg)->calls == 3 ? 7 : 0;
  };
  EXPECT_EQ(7, xv_walk(pool_, fn, &stop));
  EXPECT_EQ(3, stop.calls);
  EXPECT_EQ(0, xv_walk(pool_, nullptr, nullptr));
}

TEST_F(XvApi, MapPointsIntoThePage) {
  Obj a = Alloc(100), b = Alloc(200);
  unsigned char* pa = static_cast<unsigned char*>(xv_map(pool_, a.pfn, a.off));
  unsigned char* pb = static_cast<unsigned char*>(xv_map(pool_, b.pfn, b.off));
  ASSERT_NE(nullptr, pa);
  ASSERT_NE(nullptr, pb);
  EXPECT_EQ(static_cast<ptrdiff_t>(b.off - a.off), pb - pa);
  EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(pa) % 4);
  xvtest::fill(pa, 100, 1);
  xvtest::fill(pb, 200, 2);
  xv_unmap(pool_, a.pfn, a.off);
  xv_unmap(pool_, b.pfn, b.off);
  EXPECT_TRUE(xvtest::Verify(pa, 100, 1));
  EXPECT_TRUE(xvtest::Verify(pb, 200, 2));
  EXPECT_EQ(0u, xv_check(pool_));
}

// One thread touches one arena: the same sequence gives the same placement
// (and so the same density) with 1 arena or 8.
TEST(XvArenas, SingleThreadUsesOneArena) {
  xv_config one{}, many{};
  one.arenas = 1;
  many.arenas = 8;
  xv_pool* p1 = xv_create_pool_config(&one);
  xv_pool* p8 = xv_create_pool_config(&many);
  ASSERT_NE(nullptr, p1);
  ASSERT_NE(nullptr, p8);
  xvtest::Rng r(99);
  std::vector<Obj> o1, o8;
  for (int i = 0; i < 20000; i++) {
    if (!o1.empty() && r.below(3) == 0) {
      size_t k = r.below(o1.size());
      ASSERT_EQ(0, xv_free(p1, o1[k].pfn, o1[k].off));
      ASSERT_EQ(0, xv_free(p8, o8[k].pfn, o8[k].off));
      o1[k] = o1.back(), o1.pop_back();
      o8[k] = o8.back(), o8.pop_back();
      continue;
    }
    uint32_t size = xvtest::CompressedSize(r, xv_max_size());
    Obj a, b;
    ASSERT_EQ(0, xv_malloc(p1, size, &a.pfn, &a.off, 0));
    ASSERT_EQ(0, xv_malloc(p8, size, &b.pfn, &b.off, 0));
    ASSERT_EQ(a.pfn, b.pfn);
    ASSERT_EQ(a.off, b.off);
    o1.push_back(a);
    o8.push_back(b);
  }
  EXPECT_EQ(Stats(p1).pages, Stats(p8).pages);
  EXPECT_EQ(0u, xv_check(p1));
  EXPECT_EQ(0u, xv_check(p8));
  xv_destroy_pool(p1);
  xv_destroy_pool(p8);
}

TEST(XvDestroy, WithLiveObjects) {
  xv_pool* p = xv_create_pool();
  ASSERT_NE(nullptr, p);
  uint32_t pfn, off;
  for (int i = 0; i < 1000; i++)
    ASSERT_EQ(0, xv_malloc(p, 1 + static_cast<uint32_t>(i) * 3, &pfn, &off, 0));
  EXPECT_GT(Stats(p).pages, 0u);
  xv_destroy_pool(p);  // ASan reports any leak
}

}  // namespace
