// xvmalloc_fuzz.cc - libFuzzer target for xvmalloc, against a shadow model
// <pfn, offset> -> (size, content seed).
//
// Input: a header, then ops.
//   byte 0   arenas: 1 + b % 4
//   byte 1   page limit: 0 = none (the harness then keeps at most kMaxLive
//            objects), else 1 + b % 32 pages
//   byte 2   page cache: 0 default, 1 XV_CACHE_NONE, else b % 8 pages
//   then ops, one byte each (op % kOps) followed by its operands:
//     alloc (size: tiny, around the minimum block, compressed-page mix,
//     near and at the maximum, 0 and past the maximum, 32-bit extremes;
//     flags: 0, XV_NOGROW, or an unknown bit), a burst of allocations of
//     one size (to reach the limit), free, free a run of objects (to give
//     pages back), map-write (a new seed through xv_map), map-read,
//     bad pair (a freed pair, an interior or unaligned offset of a live
//     object, a random pair, another pool's pair, a free block found by
//     xv_walk, pfn UINT32_MAX, a used-block header forged inside a live
//     object's data) through all four entry points, fail-nth,
//     walk (compared with the model), stats, check.
// Checks: exact error codes of the header; a failed xv_malloc leaves the
// stats exactly as they were and stores 0 in *pfn and *offset; -ENOMEM only
// when allowed (XV_NOGROW, the limit, an injected fault); new objects are
// 4-aligned, inside one page and overlap no live object; every object
// touched is verified; xv_check() == 0 after every op for the first 64 ops
// and then every 8th op; every object verified after each of the first 16
// ops, then every 16th, and at the end.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "mapping/mapping.h"
#include "tests/fuzz/fuzz_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

constexpr size_t kMaxLive = 2000;
constexpr uint32_t kOps = 16;

using Key = std::pair<uint32_t, uint32_t>; // <pfn, offset>

struct Obj {
	uint32_t size;
	uint64_t seed;
};

struct Walked {
	std::vector<std::pair<Key, uint32_t>> used; // <pair, size>
	std::vector<Key> free_blocks;
};

int collect_block(uint32_t pfn, uint32_t offset, uint32_t size, int used, void *arg)
{
	Walked *w = static_cast<Walked *>(arg);
	if (used)
		w->used.push_back({ { pfn, offset }, size });
	else
		w->free_blocks.push_back({ pfn, offset });
	return 0;
}

class Harness
{
      public:
	explicit Harness(fuzz::Reader *input)
	    : in(input), page(static_cast<uint32_t>(mp_page_size())), max_size(xv_max_size())
	{
	}

	void run()
	{
		xv_config cfg{};
		cfg.arenas = 1 + in->u8() % 4;
		uint8_t lim = in->u8();
		limit = lim ? 1 + lim % 32 : 0;
		cfg.max_pages = limit;
		uint8_t cache = in->u8();
		cfg.cache_pages = cache == 0 ? 0 : cache == 1 ? XV_CACHE_NONE : cache % 8;
		pool = xv_create_pool_config(&cfg);
		FUZZ_CHECK(pool != nullptr, "xv_create_pool_config: errno %d", errno);

		for (step = 0; !in->empty(); step++) {
			run_op(in->u8() % kOps);
			if (fuzz::check_after(step))
				check_all(fuzz::sweep_after(step));
		}
		finish();
	}

      private:
	size_t total_pages()
	{
		return xv_get_total_size_bytes(pool) / page;
	}

	Key pick_live()
	{
		return in->pick_key(objs);
	}

	void verify(Key k)
	{
		const Obj &o = objs.at(k);
		errno = 0;
		void *p = xv_map(pool, k.first, k.second);
		FUZZ_CHECK(p != nullptr, "step %zu: map of live <%u, %u>: errno %d", step, k.first,
			   k.second, errno);
		size_t bad = fuzz::mismatch(p, o.size, o.seed);
		FUZZ_CHECK(bad == o.size, "step %zu: <%u, %u> (size %u) byte %zu damaged", step,
			   k.first, k.second, o.size, bad);
		FUZZ_CHECK(xv_get_object_size(pool, k.first, k.second) == o.size,
			   "object size of <%u, %u>", k.first, k.second);
		errno = 0;
		xv_unmap(pool, k.first, k.second);
		FUZZ_CHECK(errno == 0, "unmap of a live pair set errno %d", errno);
	}

	// xv_check() and the stats; with @sweep, every object's bytes too.
	void check_all(bool sweep = true)
	{
		size_t v = xv_check(pool);
		FUZZ_CHECK(v == 0, "step %zu: xv_check found %zu violations", step, v);
		xv_stats st;
		xv_get_stats(pool, &st);
		uint64_t bytes = 0;
		for (const auto &kv : objs) {
			if (sweep)
				verify(kv.first);
			bytes += kv.second.size;
		}
		FUZZ_CHECK(st.objects == objs.size() && st.bytes_requested == bytes,
			   "step %zu: stats say %llu objects of %llu bytes, model %zu of "
			   "%llu",
			   step, (unsigned long long)st.objects,
			   (unsigned long long)st.bytes_requested, objs.size(),
			   (unsigned long long)bytes);
		FUZZ_CHECK(st.bytes_allocated + st.bytes_free == st.pages * page,
			   "allocated + free != pages");
		FUZZ_CHECK(st.pages * page == xv_get_total_size_bytes(pool),
			   "pages and total size disagree");
		FUZZ_CHECK(st.pages_allocated - st.pages_freed == st.pages,
			   "pages_allocated - pages_freed != pages");
		FUZZ_CHECK(!limit || st.pages <= limit, "past the page limit: %llu",
			   (unsigned long long)st.pages);
	}

	uint32_t pick_size()
	{
		switch (in->u8() % 10) {
		case 0:
			return 1 + in->u8() % 40; // the minimum block and below
		case 1:
			return max_size - in->u8() % 64; // near the maximum
		case 2:
			return max_size;
		case 3:
			return 29 + in->u8() % 8; // around MIN_BLOCK
		case 4:
			switch (in->u8() % 4) { // invalid
			case 0:
				return 0;
			case 1:
				return max_size + 1;
			case 2:
				return max_size + 1 + in->u16();
			default:
				return UINT32_MAX - in->u8();
			}
		case 5:
			return 1 + in->u32() % max_size;
		default: { // compressed pages: mostly 0.2 .. 0.75 of a page
			uint32_t lo = page / 5, span = page / 2;
			return lo + in->u16() % span;
		}
		}
	}

	// Allocates; returns 0 or the error (already checked against the model).
	int alloc(uint32_t size, int flags)
	{
		if (!limit && objs.size() >= kMaxLive)
			return -1;
		xv_stats before, after;
		xv_get_stats(pool, &before);
		uint32_t pfn = 0xdeadbeef, off = 0xdeadbeef;
		int err = xv_malloc(pool, size, &pfn, &off, flags);
		if (size == 0 || size > max_size || (flags & ~static_cast<int>(XV_NOGROW))) {
			FUZZ_CHECK(err == -EINVAL, "step %zu: malloc(%u, %#x): %d", step, size,
				   flags, err);
		} else if (err) {
			FUZZ_CHECK(err == -ENOMEM, "step %zu: malloc(%u): %d", step, size, err);
			bool allowed = (flags & XV_NOGROW) || fault_armed ||
				       (limit && before.pages >= limit);
			FUZZ_CHECK(allowed,
				   "step %zu: malloc(%u, %#x) -ENOMEM with %llu pages, limit "
				   "%llu and no fault",
				   step, size, flags, (unsigned long long)before.pages,
				   (unsigned long long)limit);
			if (!(flags & XV_NOGROW) && !(limit && before.pages >= limit))
				fault_armed = false; // the fault struck (it strikes once)
		}
		if (err) {
			FUZZ_CHECK(pfn == 0 && off == 0, "error left <%u, %u>", pfn, off);
			xv_get_stats(pool, &after);
			FUZZ_CHECK(std::memcmp(&before, &after, sizeof(before)) == 0,
				   "step %zu: a failed malloc changed the stats", step);
			return err;
		}
		FUZZ_CHECK(off % 4 == 0 && off >= 4 && off + size <= page,
			   "step %zu: malloc(%u) gave offset %u", step, size, off);
		Key k{ pfn, off };
		FUZZ_CHECK(!objs.count(k), "step %zu: <%u, %u> handed out twice", step, pfn, off);
		// No overlap with the neighbours in the same page (extents rounded).
		auto next = objs.lower_bound(k);
		if (next != objs.end() && next->first.first == pfn)
			FUZZ_CHECK(off + size <= next->first.second - 4,
				   "step %zu: <%u, %u> size %u overlaps <%u, %u>", step, pfn, off,
				   size, pfn, next->first.second);
		if (next != objs.begin()) {
			auto prev = std::prev(next);
			if (prev->first.first == pfn)
				FUZZ_CHECK(prev->first.second + prev->second.size <= off - 4,
					   "step %zu: <%u, %u> overlaps the object before it", step,
					   pfn, off);
		}
		Obj o{ size, ++seed };
		void *p = xv_map(pool, pfn, off);
		FUZZ_CHECK(p != nullptr, "map of a new object");
		fuzz::fill(p, size, o.seed);
		objs[k] = o;
		return 0;
	}

	void free_obj(Key k)
	{
		verify(k);
		int err = xv_free(pool, k.first, k.second);
		FUZZ_CHECK(err == 0, "step %zu: free of live <%u, %u>: %d", step, k.first, k.second,
			   err);
		objs.erase(k);
		freed.push_back(k);
	}

	// Every entry point refuses @k with EINVAL and the pool does not change.
	void expect_refused(Key k, const char *what)
	{
		if (objs.count(k))
			return; // it names a live object after all
		xv_stats before, after;
		xv_get_stats(pool, &before);
		int err = xv_free(pool, k.first, k.second);
		FUZZ_CHECK(err == -EINVAL, "step %zu: free of %s <%u, %u>: %d", step, what, k.first,
			   k.second, err);
		errno = 0;
		FUZZ_CHECK(xv_map(pool, k.first, k.second) == nullptr && errno == EINVAL,
			   "step %zu: map of %s <%u, %u>", step, what, k.first, k.second);
		errno = 0;
		xv_unmap(pool, k.first, k.second);
		FUZZ_CHECK(errno == EINVAL, "step %zu: unmap of %s", step, what);
		errno = 0;
		FUZZ_CHECK(xv_get_object_size(pool, k.first, k.second) == 0 && errno == EINVAL,
			   "step %zu: size of %s <%u, %u>", step, what, k.first, k.second);
		xv_get_stats(pool, &after);
		FUZZ_CHECK(std::memcmp(&before, &after, sizeof(before)) == 0,
			   "step %zu: a refused %s changed the stats", step, what);
	}

	void bad_pair()
	{
		switch (in->u8() % 8) {
		case 0:
			if (!freed.empty())
				expect_refused(in->pick(freed), "freed pair");
			break;
		case 1:
			if (!objs.empty()) {
				Key k = pick_live();
				int32_t d = static_cast<int8_t>(in->u8());
				if (d == 0)
					d = 1;
				expect_refused({ k.first, k.second + static_cast<uint32_t>(d) },
					       "shifted offset");
			}
			break;
		case 2: {
			uint32_t pfn = objs.empty() || in->u8() & 1 ? in->u8() : pick_live().first;
			expect_refused({ pfn, in->u16() }, "random pair");
			break;
		}
		case 3:
			expect_refused({ in->u32(), in->u32() }, "random 32-bit pair");
			break;
		case 4: {
			// Another pool's live object: pfns are per pool.
			if (!other) {
				other = xv_create_pool();
				FUZZ_CHECK(other != nullptr, "second pool");
			}
			uint32_t pfn, off;
			if (xv_malloc(other, 1 + in->u16() % max_size, &pfn, &off, 0) == 0)
				expect_refused({ pfn, off }, "another pool's pair");
			break;
		}
		case 5: {
			Walked w;
			FUZZ_CHECK(xv_walk(pool, collect_block, &w) == 0, "walk");
			if (!w.free_blocks.empty())
				expect_refused(in->pick(w.free_blocks), "free block");
			break;
		}
		case 6:
			forge();
			break;
		default:
			expect_refused({ UINT32_MAX, 4 }, "pfn UINT32_MAX");
			expect_refused({ 0, 0 }, "offset 0");
		}
	}

	// A header that claims a used block, written into a live object's data
	// at an aligned interior offset: the pair it would head is refused (the
	// pool does not read object bytes to validate). The object then gets its
	// bytes back.
	void forge()
	{
		if (objs.empty())
			return;
		Key k = pick_live();
		const Obj &o = objs.at(k);
		if (o.size < 8)
			return;
		uint32_t i = 4 + 4 * in->below((o.size - 4) / 4);
		unsigned char *p = static_cast<unsigned char *>(xv_map(pool, k.first, k.second));
		FUZZ_CHECK(p != nullptr, "map of live <%u, %u>", k.first, k.second);
		uint16_t size = static_cast<uint16_t>(in->u8() & 1 ? o.size - i
								   : 1 + in->u16() % max_size);
		uint16_t prev = static_cast<uint16_t>((k.second - 4) | (in->u8() & 2));
		std::memcpy(p + i - 4, &size, 2);
		std::memcpy(p + i - 2, &prev, 2);
		expect_refused({ k.first, k.second + i }, "forged header");
		fuzz::fill(p, o.size, o.seed);
	}

	void walk()
	{
		Walked w;
		FUZZ_CHECK(xv_walk(pool, collect_block, &w) == 0, "walk");
		FUZZ_CHECK(w.used.size() == objs.size(),
			   "step %zu: walk found %zu used blocks, model %zu", step, w.used.size(),
			   objs.size());
		for (const auto &u : w.used) {
			auto it = objs.find(u.first);
			FUZZ_CHECK(it != objs.end() && it->second.size == u.second,
				   "step %zu: walk found <%u, %u> size %u, not in the model", step,
				   u.first.first, u.first.second, u.second);
		}
	}

	void run_op(uint32_t op)
	{
		switch (op) {
		case 0:
		case 1:
		case 2: {
			uint32_t size = pick_size();
			uint8_t f = in->u8() % 8;
			alloc(size, f == 0 ? static_cast<int>(XV_NOGROW) : f == 1 ? 0x2 : 0);
			break;
		}
		case 3: { // a burst of one size: fills pages, reaches the limit
			uint32_t size = pick_size(), n = 1 + in->u8() % 32;
			for (uint32_t i = 0; i < n; i++)
				if (alloc(size, 0))
					break;
			break;
		}
		case 4:
		case 5:
			if (!objs.empty())
				free_obj(pick_live());
			break;
		case 6: { // a run of neighbours: empties pages
			if (objs.empty())
				break;
			auto it = objs.lower_bound(pick_live());
			uint32_t n = 1 + in->u8() % 16;
			std::vector<Key> run;
			for (; it != objs.end() && run.size() < n; ++it)
				run.push_back(it->first);
			for (Key k : run)
				free_obj(k);
			break;
		}
		case 7: { // map-write a new content
			if (objs.empty())
				break;
			Key k = pick_live();
			verify(k);
			Obj &o = objs[k];
			o.seed = ++seed;
			void *p = xv_map(pool, k.first, k.second);
			FUZZ_CHECK(p != nullptr, "map");
			fuzz::fill(p, o.size, o.seed);
			xv_unmap(pool, k.first, k.second);
			break;
		}
		case 8:
			if (!objs.empty())
				verify(pick_live());
			break;
		case 9:
		case 10:
			bad_pair();
			break;
		case 11:
			fault_armed = fuzz::arm_fault(xv_fail_nth_page_alloc, pool, in->u8() % 6);
			break;
		case 12:
			walk();
			break;
		case 13:
			check_all();
			break;
		case 14: { // NULL and bad arguments
			uint32_t pfn = 1, off = 1;
			FUZZ_CHECK(xv_malloc(nullptr, 8, &pfn, &off, 0) == -EINVAL && pfn == 0 &&
					   off == 0,
				   "malloc with NULL pool");
			FUZZ_CHECK(xv_malloc(pool, 8, nullptr, &off, 0) == -EINVAL,
				   "malloc with NULL pfn");
			FUZZ_CHECK(xv_malloc(pool, 8, &pfn, nullptr, 0) == -EINVAL,
				   "malloc with NULL offset");
			FUZZ_CHECK(xv_free(nullptr, 0, 4) == -EINVAL, "free with NULL pool");
			break;
		}
		default: { // free everything in one page, in input order
			if (objs.empty())
				break;
			uint32_t pfn = pick_live().first;
			std::vector<Key> in_page;
			for (const auto &kv : objs)
				if (kv.first.first == pfn)
					in_page.push_back(kv.first);
			in->shuffle(in_page);
			for (Key k : in_page)
				free_obj(k);
			expect_refused({ pfn, in_page[0].second }, "pair of an emptied page");
		}
		}
	}

	void finish()
	{
		check_all();
		walk();
		// Destroy with live objects sometimes (LeakSanitizer watches).
		if (!(seed & 1)) {
			while (!objs.empty())
				free_obj(objs.begin()->first);
			FUZZ_CHECK(xv_get_total_size_bytes(pool) == 0,
				   "pages left after freeing everything: %zu", total_pages());
			size_t v = xv_check(pool);
			FUZZ_CHECK(v == 0, "xv_check after freeing everything: %zu", v);
		}
		xv_destroy_pool(pool);
		xv_destroy_pool(other);
	}

	fuzz::Reader *in;
	const uint32_t page, max_size;
	uint64_t limit = 0;
	xv_pool *pool = nullptr;
	xv_pool *other = nullptr;
	std::map<Key, Obj> objs;
	std::vector<Key> freed;
	bool fault_armed = false;
	uint64_t seed = 0;
	size_t step = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz::run<Harness>(data, size);
}
