// misuse_test.cc - deliberate misuse of <pfn, offset> pairs: double free,
// wrong, interior and unaligned offsets, free blocks, headers forged in user
// data, unknown pfns, pages given back, another pool's pairs, use after
// free. Each is refused with EINVAL; afterwards xv_check finds nothing,
// the stats have not moved and every live object still holds its bytes.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace {

using xvtest::Extent;
using xvtest::PageSize;

struct Obj {
  uint32_t pfn = 0, off = 0, size = 0;
  uint64_t seed = 0;
};

class XvMisuse : public ::testing::Test {
 protected:
  void SetUp() override {
    xv_config cfg{};
    cfg.arenas = 2;
    pool_ = xv_create_pool_config(&cfg);
    ASSERT_NE(nullptr, pool_);
    xvtest::Rng r(1234);
    for (int i = 0; i < 300; i++)
      objs_.push_back(Alloc(xvtest::CompressedSize(r, xv_max_size())));
  }
  void TearDown() override { xv_destroy_pool(pool_); }

  Obj Alloc(uint32_t size) {
    Obj o;
    o.size = size;
    o.seed = size * 2654435761u + objs_.size();
    EXPECT_EQ(0, xv_malloc(pool_, size, &o.pfn, &o.off, 0));
    void* p = xv_map(pool_, o.pfn, o.off);
    EXPECT_NE(nullptr, p);
    if (p) xvtest::Fill(p, size, o.seed);
    return o;
  }

  // The pool is exactly as the live objects say.
  void ExpectIntact(const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(0u, xv_check(pool_));
    xv_stats s = xvtest::Stats(pool_);
    EXPECT_EQ(objs_.size(), s.objects);
    uint64_t bytes = 0;
    for (const Obj& o : objs_) {
      bytes += o.size;
      const void* p = xv_map(pool_, o.pfn, o.off);
      ASSERT_NE(nullptr, p);
      ASSERT_EQ(o.size, xv_get_object_size(pool_, o.pfn, o.off));
      ASSERT_TRUE(xvtest::Verify(p, o.size, o.seed))
          << "<" << o.pfn << ", " << o.off << "> damaged";
    }
    EXPECT_EQ(bytes, s.bytes_requested);
  }

  // Every entry point refuses the pair with EINVAL and changes nothing.
  void ExpectRefused(uint32_t pfn, uint32_t off, const char* what) {
    SCOPED_TRACE(what);
    xv_stats before = xvtest::Stats(pool_);
    EXPECT_EQ(-EINVAL, xv_free(pool_, pfn, off)) << pfn << ", " << off;
    errno = 0;
    EXPECT_EQ(nullptr, xv_map(pool_, pfn, off));
    EXPECT_EQ(EINVAL, errno);
    errno = 0;
    xv_unmap(pool_, pfn, off);
    EXPECT_EQ(EINVAL, errno);
    errno = 0;
    EXPECT_EQ(0u, xv_get_object_size(pool_, pfn, off));
    EXPECT_EQ(EINVAL, errno);
    xv_stats after = xvtest::Stats(pool_);
    EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
    ExpectIntact(what);
  }

  Obj Take(size_t i) {
    Obj o = objs_[i];
    objs_.erase(objs_.begin() + static_cast<ptrdiff_t>(i));
    return o;
  }

  xv_pool* pool_ = nullptr;
  std::vector<Obj> objs_;
};

TEST_F(XvMisuse, DoubleFree) {
  for (size_t i : {0, 17, 100, 200}) {
    Obj o = Take(i);
    ASSERT_EQ(0, xv_free(pool_, o.pfn, o.off));
    ExpectRefused(o.pfn, o.off, "double free");
    ExpectRefused(o.pfn, o.off, "triple free");
  }
}

TEST_F(XvMisuse, WrongOffsets) {
  const Obj o = objs_[42];
  const uint32_t page = PageSize();
  for (uint32_t off : {o.off + 1, o.off + 2, o.off + 3, o.off - 1, o.off + 4,
                       o.off + 8, o.off - 4, o.off - 8, 0u, 1u, 2u, 3u,
                       page - 4, page, page + 4, 0x10004u, UINT32_MAX - 3,
                       UINT32_MAX}) {
    if (off == o.off) continue;
    bool live = false;
    for (const Obj& x : objs_) live |= x.pfn == o.pfn && x.off == off;
    if (!live) ExpectRefused(o.pfn, off, "wrong offset");
  }
}

// Every 4-aligned offset of a page that is not an object's is refused.
TEST_F(XvMisuse, EveryInteriorOffset) {
  const uint32_t pfn = objs_[0].pfn;
  std::vector<bool> is_obj(PageSize() + 4);
  for (const Obj& x : objs_)
    if (x.pfn == pfn) is_obj[x.off] = true;
  xv_stats before = xvtest::Stats(pool_);
  for (uint32_t off = 0; off <= PageSize(); off += 4) {
    if (is_obj[off]) continue;
    ASSERT_EQ(-EINVAL, xv_free(pool_, pfn, off)) << off;
    ASSERT_EQ(0u, xv_get_object_size(pool_, pfn, off)) << off;
  }
  xv_stats after = xvtest::Stats(pool_);
  EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
  ExpectIntact("every offset");
}

TEST_F(XvMisuse, FreeBlocksAndFragments) {
  // A free block between two objects, and the free tail of a page.
  Obj a = Take(10);
  ASSERT_EQ(0, xv_free(pool_, a.pfn, a.off));
  for (const xvtest::Block& b : xvtest::Blocks(pool_)) {
    if (b.used) continue;
    ASSERT_EQ(-EINVAL, xv_free(pool_, b.pfn, b.offset));
  }
  ExpectIntact("free blocks");
}

// User data that looks exactly like a used block's header (and a chain of
// them) is not taken for an object: validation walks the real chain.
TEST_F(XvMisuse, HeadersForgedInUserData) {
  Obj big = Alloc(2000);
  objs_.push_back(big);
  unsigned char* p = static_cast<unsigned char*>(xv_map(pool_, big.pfn,
                                                        big.off));
  ASSERT_NE(nullptr, p);
  // Fake used headers every 64 bytes, each claiming 60 bytes with the one
  // before as its prev, so a single-header check would accept them.
  for (uint32_t i = 64; i + 64 <= 2000; i += 64) {
    uint16_t size = 60;
    uint16_t prev = static_cast<uint16_t>(big.off - 4 + i - 64);
    std::memcpy(p + i - 4, &size, 2);
    std::memcpy(p + i - 4 + 2, &prev, 2);
  }
  std::vector<unsigned char> saved(p, p + 2000);
  for (uint32_t i = 64; i + 64 <= 2000; i += 64) {
    ASSERT_EQ(-EINVAL, xv_free(pool_, big.pfn, big.off + i)) << i;
    ASSERT_EQ(0u, xv_get_object_size(pool_, big.pfn, big.off + i)) << i;
  }
  EXPECT_EQ(0, std::memcmp(saved.data(), p, 2000));
  EXPECT_EQ(0u, xv_check(pool_));
  EXPECT_EQ(0, xv_free(pool_, big.pfn, big.off));
  objs_.pop_back();
  ExpectIntact("forged headers");
}

TEST_F(XvMisuse, UnknownPfns) {
  xv_stats s = xvtest::Stats(pool_);
  uint32_t top = 0;
  for (const Obj& o : objs_) top = o.pfn > top ? o.pfn : top;
  for (uint32_t pfn : {top + 1, top + 1000, uint32_t{1} << 20,
                       UINT32_MAX - 1, UINT32_MAX}) {
    ExpectRefused(pfn, 4, "unknown pfn");
  }
  EXPECT_EQ(s.pages, xvtest::Stats(pool_).pages);
}

TEST_F(XvMisuse, PageGivenBack) {
  // Empty a whole page: its pfn is then no longer ours.
  const uint32_t pfn = objs_[5].pfn;
  std::vector<uint32_t> offs;
  for (size_t i = objs_.size(); i-- > 0;) {
    if (objs_[i].pfn != pfn) continue;
    offs.push_back(objs_[i].off);
    Obj o = Take(i);
    ASSERT_EQ(0, xv_free(pool_, o.pfn, o.off));
  }
  ASSERT_FALSE(offs.empty());
  for (uint32_t off : offs) ExpectRefused(pfn, off, "page given back");
  ExpectRefused(pfn, 4, "page given back");
}

TEST_F(XvMisuse, AnotherPoolsPairs) {
  // pfns are per pool (each pool has its own page source): a pair of pool B
  // is refused by pool A unless A happens to have a live object there.
  xv_pool* b = xv_create_pool();
  ASSERT_NE(nullptr, b);
  xvtest::Rng r(77);
  int refused = 0;
  for (int i = 0; i < 3000; i++) {
    uint32_t pfn, off;
    ASSERT_EQ(0, xv_malloc(b, xvtest::CompressedSize(r, xv_max_size()), &pfn,
                           &off, 0));
    bool live_in_a = false;
    for (const Obj& o : objs_) live_in_a |= o.pfn == pfn && o.off == off;
    if (live_in_a) continue;
    ASSERT_EQ(-EINVAL, xv_free(pool_, pfn, off));
    refused++;
  }
  EXPECT_GT(refused, 2500);
  EXPECT_EQ(0u, xv_check(b));
  xv_destroy_pool(b);
  ExpectIntact("another pool's pairs");
}

TEST_F(XvMisuse, UseAfterFree) {
  Obj o = Take(3);
  ASSERT_NE(nullptr, xv_map(pool_, o.pfn, o.off));
  ASSERT_EQ(0, xv_free(pool_, o.pfn, o.off));
  ExpectRefused(o.pfn, o.off, "use after free");
  // Reallocated at the same place, the pair is valid again: for the new
  // object only.
  uint32_t pfn, off;
  ASSERT_EQ(0, xv_malloc(pool_, o.size, &pfn, &off, XV_NOGROW));
  Obj n = o;
  n.pfn = pfn;
  n.off = off;
  n.seed = 999;
  xvtest::Fill(xv_map(pool_, pfn, off), n.size, n.seed);
  objs_.push_back(n);
  ExpectIntact("reallocated");
}

TEST_F(XvMisuse, NullPool) {
  EXPECT_EQ(-EINVAL, xv_free(nullptr, objs_[0].pfn, objs_[0].off));
  errno = 0;
  EXPECT_EQ(nullptr, xv_map(nullptr, objs_[0].pfn, objs_[0].off));
  EXPECT_EQ(EINVAL, errno);
  errno = 0;
  EXPECT_EQ(0u, xv_get_object_size(nullptr, objs_[0].pfn, objs_[0].off));
  EXPECT_EQ(EINVAL, errno);
  errno = 0;
  xv_unmap(nullptr, objs_[0].pfn, objs_[0].off);
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(1u, xv_check(nullptr));
  xv_stats s;
  std::memset(&s, 0xff, sizeof(s));
  xv_get_stats(nullptr, &s);
  EXPECT_EQ(0u, s.pages);
  ExpectIntact("null pool");
}

// The checker itself: damage a header and it reports it (and does not
// crash); repair it and it is quiet again.
TEST_F(XvMisuse, CheckerSeesCorruption) {
  const Obj o = objs_[20];
  unsigned char* p = static_cast<unsigned char*>(xv_map(pool_, o.pfn, o.off));
  ASSERT_NE(nullptr, p);
  unsigned char saved[4];
  std::memcpy(saved, p - 4, 4);
  const uint16_t bad_sizes[] = {0, 1, 7, 0xffff, 0x8000};
  for (uint16_t size : bad_sizes) {
    std::memcpy(p - 4, &size, 2);
    EXPECT_GT(xv_check(pool_), 0u) << size;
  }
  std::memcpy(p - 4, saved, 4);
  p[-2] ^= 1;  // BLOCK_FREE on a used block
  EXPECT_GT(xv_check(pool_), 0u);
  p[-2] ^= 1;
  p[-2] ^= 2;  // PREV_FREE wrong
  EXPECT_GT(xv_check(pool_), 0u);
  std::memcpy(p - 4, saved, 4);
  EXPECT_EQ(0u, xv_check(pool_));
  ExpectIntact("repaired");
}

}  // namespace
