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

namespace
{

constexpr size_t kMaxLive = 96; // live pages when the source has no limit
constexpr uint32_t kOps = 16;

struct Held {
	uint32_t a, b, off, len;
	mp_mode mode;
	mp_method method;
	uintptr_t key;
	uint64_t seq;
	uint8_t *ptr;
	uint64_t ver_a, ver_b; // page versions at map time
	bool freed;            // a page was freed while this was held
};

struct Page {
	std::vector<uint8_t> bytes;
	uint64_t version;
};

class Harness
{
      public:
	explicit Harness(fuzz::Reader *input) : in(input), page(mp_page_size())
	{
	}

	void run()
	{
		uint8_t lim = in->u8();
		limit = lim ? 1 + lim % 64 : 0;
		mp_config cfg{};
		cfg.max_pages = limit;
		// Bit 7 of the limit byte: a private source, on which MP_REMAP is refused.
		shared = !(lim & 0x80);
		cfg.backing = shared ? MP_BACKING_SHARED : MP_BACKING_PRIVATE;
		cache = in->u8() % 9;
		cfg.cache_pages = cache;
		cfg.name = "mapping_fuzz";
		src = mp_create(&cfg);
		FUZZ_CHECK(src != nullptr, "mp_create: errno %d", errno);
		mp_stats st;
		mp_get_stats(src, &st);
		max_pages = st.max_pages;
		FUZZ_CHECK(!limit || max_pages == limit, "max_pages %llu",
			   (unsigned long long)max_pages);

		for (step = 0; !in->empty(); step++) {
			run_op(in->u8() % kOps);
			check_stats();
			if (step % 16 == 15)
				check_all();
		}
		finish();
	}

      private:
	// ---- model helpers -------------------------------------------------
	bool straddles(const Held &h) const
	{
		return h.off + h.len > page;
	}
	bool copy_buffer(const Held &h) const
	{
		return straddles(h) && h.b != h.a + 1 && h.method == MP_COPY;
	}
	bool live(uint32_t pfn) const
	{
		return pages.count(pfn) != 0;
	}
	uint32_t pick_live()
	{
		return in->pick_key(pages);
	}
	uint8_t *kmap(uint32_t pfn)
	{
		void *p = mp_kmap(src, pfn);
		FUZZ_CHECK(p != nullptr, "mp_kmap of live pfn %u: errno %d", pfn, errno);
		return static_cast<uint8_t *>(p);
	}
	void verify_page(uint32_t pfn)
	{
		const Page &pg = pages.at(pfn);
		const uint8_t *p = kmap(pfn);
		if (std::memcmp(p, pg.bytes.data(), page) == 0)
			return;
		for (size_t i = 0; i < page; i++)
			FUZZ_CHECK(p[i] == pg.bytes[i],
				   "step %zu: pfn %u byte %zu is %#x, shadow %#x", step, pfn, i,
				   p[i], pg.bytes[i]);
	}
	void check_all()
	{
		for (const auto &kv : pages)
			verify_page(kv.first);
	}
	void check_stats()
	{
		mp_stats st;
		mp_get_stats(src, &st);
		FUZZ_CHECK(st.pages_used == pages.size(), "step %zu: pages_used %llu, model %zu",
			   step, (unsigned long long)st.pages_used, pages.size());
		FUZZ_CHECK(st.allocs - st.frees == st.pages_used, "allocs %llu frees %llu",
			   (unsigned long long)st.allocs, (unsigned long long)st.frees);
		FUZZ_CHECK(st.allocs == allocs && st.frees == frees,
			   "allocs %llu/%llu frees %llu/%llu", (unsigned long long)st.allocs,
			   (unsigned long long)allocs, (unsigned long long)st.frees,
			   (unsigned long long)frees);
		FUZZ_CHECK(st.alloc_failures == failures, "alloc_failures %llu, model %llu",
			   (unsigned long long)st.alloc_failures, (unsigned long long)failures);
		FUZZ_CHECK(st.pages_peak >= st.pages_used && st.pages_peak <= max_pages,
			   "peak %llu", (unsigned long long)st.pages_peak);
		FUZZ_CHECK(st.pages_cached <= cache, "cached %llu",
			   (unsigned long long)st.pages_cached);
		FUZZ_CHECK(st.max_pages == max_pages, "max_pages changed");
	}
	void touch(uint32_t pfn)
	{
		pages[pfn].version = ++version;
	}
	void page_freed(uint32_t pfn)
	{
		pages.erase(pfn);
		dead.push_back(pfn);
		for (Held &h : held)
			if (h.a == pfn || (straddles(h) && h.b == pfn))
				h.freed = true;
	}

	// ---- ops -----------------------------------------------------------
	void run_op(uint32_t op)
	{
		switch (op) {
		case 0:
		case 1:
			alloc();
			break;
		case 2:
			free_one();
			break;
		case 3:
			free_batch();
			break;
		case 4:
			bad_free();
			break;
		case 5:
			if (!pages.empty())
				verify_page(pick_live());
			break;
		case 6:
			kmap_write();
			break;
		case 7:
		case 8:
			map_pair();
			break;
		case 9:
			unmap();
			break;
		case 10:
			unmap_unknown();
			break;
		case 11:
			bad_map_pair();
			break;
		case 12:
			fail_nth = in->u8() % 8;
			mp_fail_nth_alloc(src, fail_nth);
			break;
		case 13:
			trim();
			break;
		case 14:
			page_valid();
			break;
		case 15:
			other_source();
			break;
		}
	}

	void alloc()
	{
		if (!limit && pages.size() >= kMaxLive)
			return;
		uint32_t near = UINT32_MAX;
		switch (in->u8() % 4) {
		case 1:
			if (!pages.empty())
				near = pick_live();
			break;
		case 2:
			near = in->u32();
			break;
		case 3:
			near = UINT32_MAX - 1;
			break;
		}
		bool fault = fail_nth && --fail_nth == 0;
		bool full = pages.size() >= max_pages;
		uint32_t pfn = 0xdeadbeef;
		int err = mp_alloc_page_near(src, near, &pfn);
		if (fault || full) {
			FUZZ_CHECK(err == -ENOMEM, "step %zu: alloc with %s: %d", step,
				   fault ? "an injected fault" : "the limit reached", err);
			FUZZ_CHECK(pfn == 0xdeadbeef, "pfn written on error");
			failures++;
			return;
		}
		FUZZ_CHECK(err == 0, "step %zu: alloc failed: %d (live %zu, limit %llu)", step, err,
			   pages.size(), (unsigned long long)max_pages);
		FUZZ_CHECK(pfn < max_pages, "pfn %u past max_pages %llu", pfn,
			   (unsigned long long)max_pages);
		FUZZ_CHECK(!live(pfn), "step %zu: pfn %u handed out twice", step, pfn);
		FUZZ_CHECK(mp_page_valid(src, pfn), "new pfn %u not valid", pfn);
		allocs++;
		uint8_t *p = kmap(pfn);
		static const std::vector<uint8_t> zero(page);
		for (size_t i = 0; std::memcmp(p, zero.data(), page) != 0 && i < page; i++)
			FUZZ_CHECK(p[i] == 0, "step %zu: new pfn %u byte %zu is %#x, not zero",
				   step, pfn, i, p[i]);
		Page &pg = pages[pfn];
		pg.bytes.assign(page, 0);
		if (in->u8() & 1) { // most pages get contents; some stay zero
			fuzz::fill(pg.bytes.data(), page, ++seed);
			std::memcpy(p, pg.bytes.data(), page);
		}
		touch(pfn);
	}

	void free_one()
	{
		if (pages.empty())
			return;
		uint32_t pfn = pick_live();
		verify_page(pfn);
		int err = mp_free_page(src, pfn);
		FUZZ_CHECK(err == 0, "free of live pfn %u: %d", pfn, err);
		frees++;
		page_freed(pfn);
		FUZZ_CHECK(!mp_page_valid(src, pfn), "freed pfn %u still valid", pfn);
		errno = 0;
		FUZZ_CHECK(mp_kmap(src, pfn) == nullptr && errno == EINVAL, "kmap of freed pfn %u",
			   pfn);
	}

	void free_batch()
	{
		if (pages.empty())
			return;
		std::set<uint32_t> pick;
		uint32_t k = 1 + in->u8() % 8;
		for (uint32_t i = 0; i < k && pick.size() < pages.size(); i++)
			pick.insert(pick_live());
		std::vector<uint32_t> v(pick.begin(), pick.end());
		uint8_t poison = in->u8() % 4;
		if (poison == 1) {
			uint32_t twice = in->pick(v);
			v.push_back(twice);
		} else if (poison == 2) {
			uint32_t bad = dead.empty() ? in->u32() : in->pick(dead);
			if (live(bad))
				return;
			v.insert(v.begin() + in->below(static_cast<uint32_t>(v.size() + 1)), bad);
		}
		// Shuffle a little: order must not matter.
		in->shuffle(v);
		int err = mp_free_pages(src, v.data(), v.size());
		if (poison == 1 || poison == 2) {
			FUZZ_CHECK(err == -EINVAL, "step %zu: poisoned batch of %zu: %d", step,
				   v.size(), err);
			for (uint32_t p : pick) {
				FUZZ_CHECK(mp_page_valid(src, p), "pfn %u freed by a refused batch",
					   p);
				verify_page(p);
			}
			return;
		}
		FUZZ_CHECK(err == 0, "batch free: %d", err);
		for (uint32_t p : pick) {
			frees++;
			page_freed(p);
			FUZZ_CHECK(!mp_page_valid(src, p), "pfn %u valid after batch free", p);
		}
	}

	uint32_t bad_pfn()
	{
		switch (in->u8() % 5) {
		case 0:
			if (!dead.empty())
				return in->pick(dead);
			return in->u32();
		case 1:
			return in->u32();
		case 2:
			return static_cast<uint32_t>(max_pages > UINT32_MAX ? UINT32_MAX
									    : max_pages);
		case 3:
			return UINT32_MAX;
		default:
			return in->u8(); // small pfns: often live in another source
		}
	}

	void bad_free()
	{
		uint32_t pfn = bad_pfn();
		if (live(pfn))
			return;
		int err = mp_free_page(src, pfn);
		FUZZ_CHECK(err == -EINVAL, "step %zu: free of dead pfn %u: %d", step, pfn, err);
		errno = 0;
		FUZZ_CHECK(mp_kmap(src, pfn) == nullptr && errno == EINVAL, "kmap of dead pfn %u",
			   pfn);
		FUZZ_CHECK(!mp_page_valid(src, pfn), "dead pfn %u valid", pfn);
	}

	void kmap_write()
	{
		if (pages.empty())
			return;
		uint32_t pfn = pick_live();
		uint32_t off = in->u16() % page;
		uint32_t len = 1 + in->u16() % (page - off);
		Page &pg = pages[pfn];
		fuzz::fill(pg.bytes.data() + off, len, ++seed);
		std::memcpy(kmap(pfn) + off, pg.bytes.data() + off, len);
		touch(pfn);
	}

	// The bytes a mapping should show: the tail of A, then the head of B.
	std::vector<uint8_t> expected(const Held &h)
	{
		std::vector<uint8_t> v(h.len);
		uint32_t head = straddles(h) ? static_cast<uint32_t>(page) - h.off : h.len;
		std::memcpy(v.data(), pages.at(h.a).bytes.data() + h.off, head);
		if (head < h.len)
			std::memcpy(v.data() + head, pages.at(h.b).bytes.data(), h.len - head);
		return v;
	}
	// The mapping @h shows the bytes the model expects (@what names the call).
	void check_shows(const Held &h, const char *what)
	{
		std::vector<uint8_t> want = expected(h);
		for (uint32_t i = 0; std::memcmp(h.ptr, want.data(), h.len) != 0 && i < h.len; i++)
			FUZZ_CHECK(h.ptr[i] == want[i],
				   "step %zu: %s (%u, %u, off %u, len %u, mode %d, method %d) "
				   "byte %u is %#x, want %#x",
				   step, what, h.a, h.b, h.off, h.len, h.mode, h.method, i,
				   h.ptr[i], want[i]);
	}

	void map_pair()
	{
		if (pages.empty())
			return;
		Held h{};
		h.a = pick_live();
		switch (in->u8() % 4) {
		case 0:
			h.b = h.a + 1; // adjacent, if live
			if (!live(h.b))
				h.b = pick_live();
			break;
		case 1:
			h.b = h.a; // the same page twice
			break;
		default:
			h.b = pick_live();
		}
		h.off = in->u16() % page;
		switch (in->u8() % 3) {
		case 0: // straddling
			h.len = static_cast<uint32_t>(page - h.off) + 1 +
				in->u16() % static_cast<uint32_t>(h.off + 1);
			if (h.len > page)
				h.len = static_cast<uint32_t>(page);
			break;
		case 1: // to the end of the page exactly
			h.len = static_cast<uint32_t>(page - h.off);
			break;
		default:
			h.len = 1 + in->u16() % static_cast<uint32_t>(page);
		}
		h.mode = static_cast<mp_mode>(in->u8() % 3);
		h.method = static_cast<mp_method>(in->u8() % 2);
		h.key = in->u8() % 8;
		errno = 0;
		void *p = mp_map_pair(src, h.a, h.b, h.off, h.len, h.mode, h.method, h.key);
		if (h.method == MP_REMAP && !shared) {
			FUZZ_CHECK(p == nullptr && errno == EINVAL,
				   "step %zu: MP_REMAP on a private source: %p errno %d", step, p,
				   errno);
			return;
		}
		if (held.size() >= MP_MAX_MAPPINGS) {
			FUZZ_CHECK(p == nullptr && errno == EBUSY,
				   "step %zu: map past MP_MAX_MAPPINGS: %p errno %d", step, p,
				   errno);
			return;
		}
		FUZZ_CHECK(p != nullptr,
			   "step %zu: map_pair(%u, %u, off %u, len %u, mode %d, "
			   "method %d): errno %d",
			   step, h.a, h.b, h.off, h.len, h.mode, h.method, errno);
		h.ptr = static_cast<uint8_t *>(p);
		h.seq = ++seq;
		h.ver_a = pages.at(h.a).version;
		h.ver_b = pages.at(h.b).version;
		if (!straddles(h) || h.b == h.a + 1)
			FUZZ_CHECK(h.ptr == mp_direct_map(src) + h.a * page + h.off,
				   "step %zu: in-page or adjacent map not in the direct map", step);
		if (h.mode != MP_WO)
			check_shows(h, "map_pair");
		held.push_back(h);
	}

	// Ends the latest mapping of a held key (what mp_unmap_pair() does).
	void unmap()
	{
		if (held.empty())
			return;
		uintptr_t key = in->pick(held).key;
		size_t k = held.size();
		for (size_t i = 0; i < held.size(); i++)
			if (held[i].key == key && (k == held.size() || held[i].seq > held[k].seq))
				k = i;
		unmap_held(k);
	}

	// Ends held[k] (the latest mapping of its key): check what the pointer
	// shows, write a new pattern through it unless RO, unmap, and check that
	// exactly the pattern landed.
	void unmap_held(size_t k)
	{
		Held h = held[k];
		held.erase(held.begin() + static_cast<ptrdiff_t>(k));
		bool copy = copy_buffer(h);
		bool pages_live = live(h.a) && (!straddles(h) || live(h.b));
		bool unchanged = !h.freed && pages_live && pages.at(h.a).version == h.ver_a &&
				 (!straddles(h) || pages.at(h.b).version == h.ver_b);
		// What the pointer shows now: the pages' own bytes, or for a copy the
		// bytes as they were at map time.
		if (pages_live && !h.freed && h.mode != MP_WO && (!copy || unchanged))
			check_shows(h, "held mapping");
		std::vector<uint8_t> pattern(h.len);
		fuzz::fill(pattern.data(), h.len, ++seed);
		bool writes = false;
		if (h.mode != MP_RO && !h.freed) {
			std::memcpy(h.ptr, pattern.data(), h.len);
			writes = true;
		} else if (h.mode == MP_RO && copy) {
			std::memcpy(h.ptr, pattern.data(), h.len); // must be discarded
		}
		int err = mp_unmap_pair(src, h.key);
		if (h.freed) {
			// The header: "-EINVAL if one of the pages was freed while mapped,
			// by any method and mode (the mapping ends; nothing is written)",
			// even if it was allocated again since.
			FUZZ_CHECK(err == -EINVAL,
				   "step %zu: unmap of a mapping whose page was freed while "
				   "mapped (method %d, mode %d): %d",
				   step, h.method, h.mode, err);
			return; // check_all() finds any byte written back
		}
		FUZZ_CHECK(err == 0, "step %zu: unmap of key %lu: %d", step,
			   static_cast<unsigned long>(h.key), err);
		if (!writes)
			return;
		uint32_t head = straddles(h) ? static_cast<uint32_t>(page) - h.off : h.len;
		std::memcpy(pages.at(h.a).bytes.data() + h.off, pattern.data(), head);
		touch(h.a);
		if (head < h.len) {
			std::memcpy(pages.at(h.b).bytes.data(), pattern.data() + head,
				    h.len - head);
			touch(h.b);
		}
		verify_page(h.a);
		if (head < h.len)
			verify_page(h.b);
	}

	void unmap_unknown()
	{
		uintptr_t key = 8 + in->u8();
		FUZZ_CHECK(mp_unmap_pair(src, key) == -EINVAL, "unmap of unknown key");
		FUZZ_CHECK(mp_unmap_pair(nullptr, 0) == -EINVAL, "unmap of NULL source");
	}

	void bad_map_pair()
	{
		uint32_t a = pages.empty() ? 0 : pick_live();
		uint32_t b = pages.empty() ? 0 : pick_live();
		uint32_t off = 0, len = 16;
		int mode = MP_RW, method = MP_COPY;
		mp_source *target = src;
		switch (in->u8() % 8) {
		case 0:
			off = static_cast<uint32_t>(page) + in->u16();
			break;
		case 1:
			len = 0;
			break;
		case 2:
			len = static_cast<uint32_t>(page) + 1 + in->u16();
			break;
		case 3:
			mode = 3 + in->u8();
			break;
		case 4:
			method = 2 + in->u8();
			break;
		case 5:
			a = bad_pfn();
			if (live(a))
				return;
			break;
		case 6: // straddling onto a dead page
			b = bad_pfn();
			if (live(b))
				return;
			off = static_cast<uint32_t>(page) - 8;
			len = 16;
			break;
		default:
			target = nullptr;
		}
		if (pages.empty() && target)
			return;
		errno = 0;
		void *p = mp_map_pair(target, a, b, off, len, static_cast<mp_mode>(mode),
				      static_cast<mp_method>(method), 99);
		FUZZ_CHECK(p == nullptr && errno == EINVAL,
			   "step %zu: bad map_pair(%u, %u, %u, %u, %d, %d) gave %p errno %d", step,
			   a, b, off, len, mode, method, p, errno);
		FUZZ_CHECK(mp_unmap_pair(src, 99) == -EINVAL, "refused map left a slot");
	}

	void trim()
	{
		mp_stats st;
		mp_get_stats(src, &st);
		size_t n = mp_trim(src);
		FUZZ_CHECK(n == st.pages_cached, "trim released %zu of %llu cached", n,
			   (unsigned long long)st.pages_cached);
		mp_get_stats(src, &st);
		FUZZ_CHECK(st.pages_cached == 0, "cache not empty after trim");
	}

	void page_valid()
	{
		uint32_t pfn = in->u8() & 1 ? in->u8() : in->u32();
		FUZZ_CHECK(mp_page_valid(src, pfn) == (live(pfn) ? 1 : 0),
			   "page_valid(%u) disagrees with the model", pfn);
	}

	// A page of another source is not a page of this one.
	void other_source()
	{
		if (!other) {
			mp_config cfg{};
			cfg.max_pages = 8;
			other = mp_create(&cfg);
			FUZZ_CHECK(other != nullptr, "second source: errno %d", errno);
		}
		uint32_t pfn;
		if (mp_alloc_page(other, &pfn) == 0)
			other_pfns.push_back(pfn);
		if (other_pfns.empty())
			return;
		pfn = in->pick(other_pfns);
		if (in->u8() & 1) {
			FUZZ_CHECK(mp_free_page(other, pfn) == 0, "free in second source");
			other_pfns.erase(std::find(other_pfns.begin(), other_pfns.end(), pfn));
		}
		if (live(pfn))
			return;
		FUZZ_CHECK(mp_kmap(src, pfn) == nullptr, "kmap of another source's pfn");
		FUZZ_CHECK(mp_free_page(src, pfn) == -EINVAL, "free of another source's pfn");
	}

	void finish()
	{
		// End every mapping, latest first per key.
		while (!held.empty())
			unmap_held(fuzz::latest(held, [](const Held &h) { return h.seq; }));
		check_all();
		std::vector<uint32_t> all;
		for (const auto &kv : pages)
			all.push_back(kv.first);
		if (!all.empty())
			FUZZ_CHECK(mp_free_pages(src, all.data(), all.size()) == 0,
				   "final batch free");
		mp_stats st;
		mp_get_stats(src, &st);
		FUZZ_CHECK(st.pages_used == 0, "pages left: %llu",
			   (unsigned long long)st.pages_used);
		mp_destroy(src);
		mp_destroy(other);
	}

	fuzz::Reader *in;
	const size_t page;
	uint64_t limit = 0, max_pages = 0;
	uint32_t cache = 0;
	bool shared = true;
	mp_source *src = nullptr;
	mp_source *other = nullptr;
	std::vector<uint32_t> other_pfns;
	std::map<uint32_t, Page> pages;
	std::vector<uint32_t> dead;
	std::vector<Held> held;
	uint64_t fail_nth = 0, allocs = 0, frees = 0, failures = 0;
	uint64_t seed = 0, seq = 0, version = 0;
	size_t step = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz::run<Harness>(data, size);
}
