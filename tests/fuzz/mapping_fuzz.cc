// mapping_fuzz.cc - libFuzzer target for mapping/ (the page source and the
// two-page map), against a byte-exact shadow of every live page.
//
// Input: a header, then ops.
//   byte 0   page limit: 0 = none (the machine's memory; the harness then
//            keeps at most kMaxLive pages), else 1 + (b % 64) pages
//   byte 1   reuse cache: b % 9 pages
//   then ops, one byte each (op % kOps) followed by its operands:
//     alloc (with a near hint: none, a live pfn, a random one, the top),
//     free one, free a batch (sometimes poisoned with a dead or repeated pfn:
//     all or nothing), free a bad pfn (freed, random, another source's, the
//     limit, UINT32_MAX), kmap-read, kmap-write, map_pair (any two live
//     pages, offset, length, mode, method, key; up to MP_MAX_MAPPINGS held,
//     then EBUSY), unmap (writes a new pattern through the pointer first
//     unless RO; RO copies are scribbled on and must not land), unmap of a
//     key not held, bad map_pair arguments, fail-nth, trim, stats,
//     page_valid of random pfns, a page of a second source.
//   Pages may be freed (and reallocated) while a mapping of them is held:
//   the header promises that unmap then writes nothing and returns -EINVAL,
//   whatever the method and mode.
// Checks: every return value and errno against the header; fault injection
// and the limit are modelled exactly (the Nth mp_alloc_page call fails);
// new pages read zero; the stats match the model after every op; the bytes
// seen through a mapping are the pages' own (copies: as at map time, if the
// pages did not change since); every live page's bytes are compared with
// the shadow every 16 ops and at the end.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "mapping/mapping.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr size_t kMaxLive = 96;  // live pages when the source has no limit
constexpr uint32_t kOps = 16;

struct Held {
  uint32_t a, b, off, len;
  mp_mode mode;
  mp_method method;
  uintptr_t key;
  uint64_t seq;
  uint8_t* ptr;
  uint64_t ver_a, ver_b;  // page versions at map time
  bool freed;             // a page was freed while this was held
};

struct Page {
  std::vector<uint8_t> bytes;
  uint64_t version;
};

class Harness {
 public:
  explicit Harness(fuzz::Reader* in) : in_(in), page_(mp_page_size()) {}

  void Run() {
    uint8_t lim = in_->U8();
    limit_ = lim ? 1 + lim % 64 : 0;
    mp_config cfg{};
    cfg.max_pages = limit_;
    // Bit 7 of the limit byte: a private source, on which MP_REMAP is refused.
    shared_ = !(lim & 0x80);
    cfg.backing = shared_ ? MP_BACKING_SHARED : MP_BACKING_PRIVATE;
    cache_ = in_->U8() % 9;
    cfg.cache_pages = cache_;
    cfg.name = "mapping_fuzz";
    src_ = mp_create(&cfg);
    FUZZ_CHECK(src_ != nullptr, "mp_create: errno %d", errno);
    mp_stats st;
    mp_get_stats(src_, &st);
    max_pages_ = st.max_pages;
    FUZZ_CHECK(!limit_ || max_pages_ == limit_, "max_pages %llu",
               (unsigned long long)max_pages_);

    for (step_ = 0; !in_->empty(); step_++) {
      Op(in_->U8() % kOps);
      CheckStats();
      if (step_ % 16 == 15) CheckAll();
    }
    Finish();
  }

 private:
  // ---- model helpers -------------------------------------------------
  bool Straddles(const Held& h) const { return h.off + h.len > page_; }
  bool CopyBuffer(const Held& h) const {
    return Straddles(h) && h.b != h.a + 1 && h.method == MP_COPY;
  }
  bool Live(uint32_t pfn) const { return pages_.count(pfn) != 0; }
  uint32_t PickLive() {
    auto it = pages_.begin();
    std::advance(it, in_->below(static_cast<uint32_t>(pages_.size())));
    return it->first;
  }
  uint8_t* Kmap(uint32_t pfn) {
    void* p = mp_kmap(src_, pfn);
    FUZZ_CHECK(p != nullptr, "mp_kmap of live pfn %u: errno %d", pfn, errno);
    return static_cast<uint8_t*>(p);
  }
  void VerifyPage(uint32_t pfn) {
    const Page& pg = pages_.at(pfn);
    const uint8_t* p = Kmap(pfn);
    if (std::memcmp(p, pg.bytes.data(), page_) == 0) return;
    for (size_t i = 0; i < page_; i++)
      FUZZ_CHECK(p[i] == pg.bytes[i],
                 "step %zu: pfn %u byte %zu is %#x, shadow %#x", step_, pfn, i,
                 p[i], pg.bytes[i]);
  }
  void CheckAll() {
    for (const auto& kv : pages_) VerifyPage(kv.first);
  }
  void CheckStats() {
    mp_stats st;
    mp_get_stats(src_, &st);
    FUZZ_CHECK(st.pages_used == pages_.size(), "step %zu: pages_used %llu, model %zu",
               step_, (unsigned long long)st.pages_used, pages_.size());
    FUZZ_CHECK(st.allocs - st.frees == st.pages_used, "allocs %llu frees %llu",
               (unsigned long long)st.allocs, (unsigned long long)st.frees);
    FUZZ_CHECK(st.allocs == allocs_ && st.frees == frees_,
               "allocs %llu/%llu frees %llu/%llu", (unsigned long long)st.allocs,
               (unsigned long long)allocs_, (unsigned long long)st.frees,
               (unsigned long long)frees_);
    FUZZ_CHECK(st.alloc_failures == failures_, "alloc_failures %llu, model %llu",
               (unsigned long long)st.alloc_failures,
               (unsigned long long)failures_);
    FUZZ_CHECK(st.pages_peak >= st.pages_used && st.pages_peak <= max_pages_,
               "peak %llu", (unsigned long long)st.pages_peak);
    FUZZ_CHECK(st.pages_cached <= cache_, "cached %llu",
               (unsigned long long)st.pages_cached);
    FUZZ_CHECK(st.max_pages == max_pages_, "max_pages changed");
  }
  void Touch(uint32_t pfn) {
    pages_[pfn].version = ++version_;
  }
  void PageFreed(uint32_t pfn) {
    pages_.erase(pfn);
    dead_.push_back(pfn);
    for (Held& h : held_)
      if (h.a == pfn || (Straddles(h) && h.b == pfn)) h.freed = true;
  }

  // ---- ops -----------------------------------------------------------
  void Op(uint32_t op) {
    switch (op) {
      case 0:
      case 1:
        Alloc();
        break;
      case 2:
        FreeOne();
        break;
      case 3:
        FreeBatch();
        break;
      case 4:
        BadFree();
        break;
      case 5:
        if (!pages_.empty()) VerifyPage(PickLive());
        break;
      case 6:
        KmapWrite();
        break;
      case 7:
      case 8:
        MapPair();
        break;
      case 9:
        Unmap();
        break;
      case 10:
        UnmapUnknown();
        break;
      case 11:
        BadMapPair();
        break;
      case 12:
        fail_nth_ = in_->U8() % 8;
        mp_fail_nth_alloc(src_, fail_nth_);
        break;
      case 13:
        Trim();
        break;
      case 14:
        PageValid();
        break;
      case 15:
        OtherSource();
        break;
    }
  }

  void Alloc() {
    if (!limit_ && pages_.size() >= kMaxLive) return;
    uint32_t near = UINT32_MAX;
    switch (in_->U8() % 4) {
      case 1:
        if (!pages_.empty()) near = PickLive();
        break;
      case 2:
        near = in_->U32();
        break;
      case 3:
        near = UINT32_MAX - 1;
        break;
    }
    bool fault = fail_nth_ && --fail_nth_ == 0;
    bool full = pages_.size() >= max_pages_;
    uint32_t pfn = 0xdeadbeef;
    int err = mp_alloc_page_near(src_, near, &pfn);
    if (fault || full) {
      FUZZ_CHECK(err == -ENOMEM, "step %zu: alloc with %s: %d", step_,
                 fault ? "an injected fault" : "the limit reached", err);
      FUZZ_CHECK(pfn == 0xdeadbeef, "pfn written on error");
      failures_++;
      return;
    }
    FUZZ_CHECK(err == 0, "step %zu: alloc failed: %d (live %zu, limit %llu)",
               step_, err, pages_.size(), (unsigned long long)max_pages_);
    FUZZ_CHECK(pfn < max_pages_, "pfn %u past max_pages %llu", pfn,
               (unsigned long long)max_pages_);
    FUZZ_CHECK(!Live(pfn), "step %zu: pfn %u handed out twice", step_, pfn);
    FUZZ_CHECK(mp_page_valid(src_, pfn), "new pfn %u not valid", pfn);
    allocs_++;
    uint8_t* p = Kmap(pfn);
    static const std::vector<uint8_t> zero(page_);
    for (size_t i = 0; std::memcmp(p, zero.data(), page_) != 0 && i < page_; i++)
      FUZZ_CHECK(p[i] == 0, "step %zu: new pfn %u byte %zu is %#x, not zero",
                 step_, pfn, i, p[i]);
    Page& pg = pages_[pfn];
    pg.bytes.assign(page_, 0);
    if (in_->U8() & 1) {  // most pages get contents; some stay zero
      fuzz::fill(pg.bytes.data(), page_, ++seed_);
      std::memcpy(p, pg.bytes.data(), page_);
    }
    Touch(pfn);
  }

  void FreeOne() {
    if (pages_.empty()) return;
    uint32_t pfn = PickLive();
    VerifyPage(pfn);
    int err = mp_free_page(src_, pfn);
    FUZZ_CHECK(err == 0, "free of live pfn %u: %d", pfn, err);
    frees_++;
    PageFreed(pfn);
    FUZZ_CHECK(!mp_page_valid(src_, pfn), "freed pfn %u still valid", pfn);
    errno = 0;
    FUZZ_CHECK(mp_kmap(src_, pfn) == nullptr && errno == EINVAL,
               "kmap of freed pfn %u", pfn);
  }

  void FreeBatch() {
    if (pages_.empty()) return;
    std::set<uint32_t> pick;
    uint32_t k = 1 + in_->U8() % 8;
    for (uint32_t i = 0; i < k && pick.size() < pages_.size(); i++)
      pick.insert(PickLive());
    std::vector<uint32_t> v(pick.begin(), pick.end());
    uint8_t poison = in_->U8() % 4;
    if (poison == 1) {
      v.push_back(v[in_->below(static_cast<uint32_t>(v.size()))]);  // twice
    } else if (poison == 2) {
      uint32_t bad = dead_.empty() ? in_->U32()
                                   : dead_[in_->below(static_cast<uint32_t>(
                                         dead_.size()))];
      if (Live(bad)) return;
      v.insert(v.begin() + in_->below(static_cast<uint32_t>(v.size() + 1)),
               bad);
    }
    // Shuffle a little: order must not matter.
    for (size_t i = v.size(); i > 1; i--)
      std::swap(v[i - 1], v[in_->below(static_cast<uint32_t>(i))]);
    int err = mp_free_pages(src_, v.data(), v.size());
    if (poison == 1 || poison == 2) {
      FUZZ_CHECK(err == -EINVAL, "step %zu: poisoned batch of %zu: %d", step_,
                 v.size(), err);
      for (uint32_t p : pick) {
        FUZZ_CHECK(mp_page_valid(src_, p), "pfn %u freed by a refused batch",
                   p);
        VerifyPage(p);
      }
      return;
    }
    FUZZ_CHECK(err == 0, "batch free: %d", err);
    for (uint32_t p : pick) {
      frees_++;
      PageFreed(p);
      FUZZ_CHECK(!mp_page_valid(src_, p), "pfn %u valid after batch free", p);
    }
  }

  uint32_t BadPfn() {
    switch (in_->U8() % 5) {
      case 0:
        if (!dead_.empty())
          return dead_[in_->below(static_cast<uint32_t>(dead_.size()))];
        return in_->U32();
      case 1:
        return in_->U32();
      case 2:
        return static_cast<uint32_t>(max_pages_ > UINT32_MAX ? UINT32_MAX
                                                             : max_pages_);
      case 3:
        return UINT32_MAX;
      default:
        return in_->U8();  // small pfns: often live in another source
    }
  }

  void BadFree() {
    uint32_t pfn = BadPfn();
    if (Live(pfn)) return;
    int err = mp_free_page(src_, pfn);
    FUZZ_CHECK(err == -EINVAL, "step %zu: free of dead pfn %u: %d", step_, pfn,
               err);
    errno = 0;
    FUZZ_CHECK(mp_kmap(src_, pfn) == nullptr && errno == EINVAL,
               "kmap of dead pfn %u", pfn);
    FUZZ_CHECK(!mp_page_valid(src_, pfn), "dead pfn %u valid", pfn);
  }

  void KmapWrite() {
    if (pages_.empty()) return;
    uint32_t pfn = PickLive();
    uint32_t off = in_->U16() % page_;
    uint32_t len = 1 + in_->U16() % (page_ - off);
    Page& pg = pages_[pfn];
    fuzz::fill(pg.bytes.data() + off, len, ++seed_);
    std::memcpy(Kmap(pfn) + off, pg.bytes.data() + off, len);
    Touch(pfn);
  }

  // The bytes a mapping should show: the tail of A, then the head of B.
  std::vector<uint8_t> Expected(const Held& h) {
    std::vector<uint8_t> v(h.len);
    uint32_t head = Straddles(h) ? static_cast<uint32_t>(page_) - h.off : h.len;
    std::memcpy(v.data(), pages_.at(h.a).bytes.data() + h.off, head);
    if (head < h.len)
      std::memcpy(v.data() + head, pages_.at(h.b).bytes.data(), h.len - head);
    return v;
  }
  // The mapping @h shows the bytes the model expects (@what names the call).
  void CheckShows(const Held& h, const char* what) {
    std::vector<uint8_t> want = Expected(h);
    for (uint32_t i = 0; std::memcmp(h.ptr, want.data(), h.len) != 0 && i < h.len; i++)
      FUZZ_CHECK(h.ptr[i] == want[i],
                 "step %zu: %s (%u, %u, off %u, len %u, mode %d, method %d) "
                 "byte %u is %#x, want %#x",
                 step_, what, h.a, h.b, h.off, h.len, h.mode, h.method, i,
                 h.ptr[i], want[i]);
  }

  void MapPair() {
    if (pages_.empty()) return;
    Held h{};
    h.a = PickLive();
    switch (in_->U8() % 4) {
      case 0:
        h.b = h.a + 1;  // adjacent, if live
        if (!Live(h.b)) h.b = PickLive();
        break;
      case 1:
        h.b = h.a;  // the same page twice
        break;
      default:
        h.b = PickLive();
    }
    h.off = in_->U16() % page_;
    switch (in_->U8() % 3) {
      case 0:  // straddling
        h.len = static_cast<uint32_t>(page_ - h.off) + 1 +
                in_->U16() % static_cast<uint32_t>(h.off + 1);
        if (h.len > page_) h.len = static_cast<uint32_t>(page_);
        break;
      case 1:  // to the end of the page exactly
        h.len = static_cast<uint32_t>(page_ - h.off);
        break;
      default:
        h.len = 1 + in_->U16() % static_cast<uint32_t>(page_);
    }
    h.mode = static_cast<mp_mode>(in_->U8() % 3);
    h.method = static_cast<mp_method>(in_->U8() % 2);
    h.key = in_->U8() % 8;
    errno = 0;
    void* p = mp_map_pair(src_, h.a, h.b, h.off, h.len, h.mode, h.method,
                          h.key);
    if (h.method == MP_REMAP && !shared_) {
      FUZZ_CHECK(p == nullptr && errno == EINVAL,
                 "step %zu: MP_REMAP on a private source: %p errno %d", step_,
                 p, errno);
      return;
    }
    if (held_.size() >= MP_MAX_MAPPINGS) {
      FUZZ_CHECK(p == nullptr && errno == EBUSY,
                 "step %zu: map past MP_MAX_MAPPINGS: %p errno %d", step_, p,
                 errno);
      return;
    }
    FUZZ_CHECK(p != nullptr,
               "step %zu: map_pair(%u, %u, off %u, len %u, mode %d, "
               "method %d): errno %d",
               step_, h.a, h.b, h.off, h.len, h.mode, h.method, errno);
    h.ptr = static_cast<uint8_t*>(p);
    h.seq = ++seq_;
    h.ver_a = pages_.at(h.a).version;
    h.ver_b = pages_.at(h.b).version;
    if (!Straddles(h) || h.b == h.a + 1)
      FUZZ_CHECK(h.ptr == mp_direct_map(src_) + h.a * page_ + h.off,
                 "step %zu: in-page or adjacent map not in the direct map",
                 step_);
    if (h.mode != MP_WO) CheckShows(h, "map_pair");
    held_.push_back(h);
  }

  // Ends the latest mapping of a held key (what mp_unmap_pair() does).
  void Unmap() {
    if (held_.empty()) return;
    uintptr_t key = held_[in_->below(static_cast<uint32_t>(held_.size()))].key;
    size_t k = held_.size();
    for (size_t i = 0; i < held_.size(); i++)
      if (held_[i].key == key && (k == held_.size() || held_[i].seq > held_[k].seq))
        k = i;
    UnmapHeld(k);
  }

  // Ends held_[k] (the latest mapping of its key): check what the pointer
  // shows, write a new pattern through it unless RO, unmap, and check that
  // exactly the pattern landed.
  void UnmapHeld(size_t k) {
    Held h = held_[k];
    held_.erase(held_.begin() + static_cast<ptrdiff_t>(k));
    bool copy = CopyBuffer(h);
    bool pages_live = Live(h.a) && (!Straddles(h) || Live(h.b));
    bool unchanged = !h.freed && pages_live &&
                     pages_.at(h.a).version == h.ver_a &&
                     (!Straddles(h) || pages_.at(h.b).version == h.ver_b);
    // What the pointer shows now: the pages' own bytes, or for a copy the
    // bytes as they were at map time.
    if (pages_live && !h.freed && h.mode != MP_WO && (!copy || unchanged))
      CheckShows(h, "held mapping");
    std::vector<uint8_t> pattern(h.len);
    fuzz::fill(pattern.data(), h.len, ++seed_);
    bool writes = false;
    if (h.mode != MP_RO && !h.freed) {
      std::memcpy(h.ptr, pattern.data(), h.len);
      writes = true;
    } else if (h.mode == MP_RO && copy) {
      std::memcpy(h.ptr, pattern.data(), h.len);  // must be discarded
    }
    int err = mp_unmap_pair(src_, h.key);
    if (h.freed) {
      // The header: "-EINVAL if one of the pages was freed while mapped,
      // by any method and mode (the mapping ends; nothing is written)",
      // even if it was allocated again since.
      FUZZ_CHECK(err == -EINVAL,
                 "step %zu: unmap of a mapping whose page was freed while "
                 "mapped (method %d, mode %d): %d",
                 step_, h.method, h.mode, err);
      return;  // CheckAll() finds any byte written back
    }
    FUZZ_CHECK(err == 0, "step %zu: unmap of key %lu: %d", step_,
               static_cast<unsigned long>(h.key), err);
    if (!writes) return;
    uint32_t head = Straddles(h) ? static_cast<uint32_t>(page_) - h.off : h.len;
    std::memcpy(pages_.at(h.a).bytes.data() + h.off, pattern.data(), head);
    Touch(h.a);
    if (head < h.len) {
      std::memcpy(pages_.at(h.b).bytes.data(), pattern.data() + head,
                  h.len - head);
      Touch(h.b);
    }
    VerifyPage(h.a);
    if (head < h.len) VerifyPage(h.b);
  }

  void UnmapUnknown() {
    uintptr_t key = 8 + in_->U8();
    FUZZ_CHECK(mp_unmap_pair(src_, key) == -EINVAL, "unmap of unknown key");
    FUZZ_CHECK(mp_unmap_pair(nullptr, 0) == -EINVAL, "unmap of NULL source");
  }

  void BadMapPair() {
    uint32_t a = pages_.empty() ? 0 : PickLive();
    uint32_t b = pages_.empty() ? 0 : PickLive();
    uint32_t off = 0, len = 16;
    int mode = MP_RW, method = MP_COPY;
    mp_source* src = src_;
    switch (in_->U8() % 8) {
      case 0:
        off = static_cast<uint32_t>(page_) + in_->U16();
        break;
      case 1:
        len = 0;
        break;
      case 2:
        len = static_cast<uint32_t>(page_) + 1 + in_->U16();
        break;
      case 3:
        mode = 3 + in_->U8();
        break;
      case 4:
        method = 2 + in_->U8();
        break;
      case 5:
        a = BadPfn();
        if (Live(a)) return;
        break;
      case 6:  // straddling onto a dead page
        b = BadPfn();
        if (Live(b)) return;
        off = static_cast<uint32_t>(page_) - 8;
        len = 16;
        break;
      default:
        src = nullptr;
    }
    if (pages_.empty() && src) return;
    errno = 0;
    void* p = mp_map_pair(src, a, b, off, len, static_cast<mp_mode>(mode),
                          static_cast<mp_method>(method), 99);
    FUZZ_CHECK(p == nullptr && errno == EINVAL,
               "step %zu: bad map_pair(%u, %u, %u, %u, %d, %d) gave %p errno %d",
               step_, a, b, off, len, mode, method, p, errno);
    FUZZ_CHECK(mp_unmap_pair(src_, 99) == -EINVAL, "refused map left a slot");
  }

  void Trim() {
    mp_stats st;
    mp_get_stats(src_, &st);
    size_t n = mp_trim(src_);
    FUZZ_CHECK(n == st.pages_cached, "trim released %zu of %llu cached", n,
               (unsigned long long)st.pages_cached);
    mp_get_stats(src_, &st);
    FUZZ_CHECK(st.pages_cached == 0, "cache not empty after trim");
  }

  void PageValid() {
    uint32_t pfn = in_->U8() & 1 ? in_->U8() : in_->U32();
    FUZZ_CHECK(mp_page_valid(src_, pfn) == (Live(pfn) ? 1 : 0),
               "page_valid(%u) disagrees with the model", pfn);
  }

  // A page of another source is not a page of this one.
  void OtherSource() {
    if (!other_) {
      mp_config cfg{};
      cfg.max_pages = 8;
      other_ = mp_create(&cfg);
      FUZZ_CHECK(other_ != nullptr, "second source: errno %d", errno);
    }
    uint32_t pfn;
    if (mp_alloc_page(other_, &pfn) == 0) other_pfns_.push_back(pfn);
    if (other_pfns_.empty()) return;
    pfn = other_pfns_[in_->below(static_cast<uint32_t>(other_pfns_.size()))];
    if (in_->U8() & 1) {
      FUZZ_CHECK(mp_free_page(other_, pfn) == 0, "free in second source");
      other_pfns_.erase(std::find(other_pfns_.begin(), other_pfns_.end(), pfn));
    }
    if (Live(pfn)) return;
    FUZZ_CHECK(mp_kmap(src_, pfn) == nullptr, "kmap of another source's pfn");
    FUZZ_CHECK(mp_free_page(src_, pfn) == -EINVAL,
               "free of another source's pfn");
  }

  void Finish() {
    // End every mapping, latest first per key.
    while (!held_.empty()) {
      size_t k = 0;
      for (size_t i = 1; i < held_.size(); i++)
        if (held_[i].seq > held_[k].seq) k = i;
      UnmapHeld(k);
    }
    CheckAll();
    std::vector<uint32_t> all;
    for (const auto& kv : pages_) all.push_back(kv.first);
    if (!all.empty())
      FUZZ_CHECK(mp_free_pages(src_, all.data(), all.size()) == 0,
                 "final batch free");
    mp_stats st;
    mp_get_stats(src_, &st);
    FUZZ_CHECK(st.pages_used == 0, "pages left: %llu",
               (unsigned long long)st.pages_used);
    mp_destroy(src_);
    mp_destroy(other_);
  }

  fuzz::Reader* in_;
  const size_t page_;
  uint64_t limit_ = 0, max_pages_ = 0;
  uint32_t cache_ = 0;
  bool shared_ = true;
  mp_source* src_ = nullptr;
  mp_source* other_ = nullptr;
  std::vector<uint32_t> other_pfns_;
  std::map<uint32_t, Page> pages_;
  std::vector<uint32_t> dead_;
  std::vector<Held> held_;
  uint64_t fail_nth_ = 0, allocs_ = 0, frees_ = 0, failures_ = 0;
  uint64_t seed_ = 0, seq_ = 0, version_ = 0;
  size_t step_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(data, size);
  Harness(&in).Run();
  return 0;
}
