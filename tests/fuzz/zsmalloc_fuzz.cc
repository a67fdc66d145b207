// zsmalloc_fuzz.cc - libFuzzer target for zsmalloc, against a byte-exact
// shadow model: handle -> (size, bytes).
//
// Input: a header, then ops.
//   byte 0   chain length: b % 17 (0: the default, 16)
//   byte 1   map method: b % 3 (default: the contiguous layout; copy,
//            remap: the scattered one)
//   byte 2   page limit: 0 = none (the harness then keeps at most kMaxLive
//            objects), else 1 + b % 64 pages
//   byte 3   page cache: b % 4 pages (0: the default)
//   then ops, one byte each (op % kOps) followed by its operands:
//     alloc (size: tiny, compressed mix, class boundaries, the huge class,
//     the page size, up to ZS_MAX_OBJECT_SIZE, 0, past it, SIZE_MAX;
//     flags 0, ZS_NOGROW or unknown;
//     written through zs_obj_write, map WO or map RW), a burst of one size,
//     free (of a held handle: -EBUSY), free a batch, map-write, map-read,
//     read_begin/end of any length up to the class size, partial
//     zs_obj_write, hold a mapping or a read (up to ZS_MAX_MAPPINGS, then
//     EBUSY; a WO map is written at once), release a held one (checks what
//     it shows, writes through it unless RO), compact (with mappings held:
//     pinned objects), bad handles (0, freed, a live handle with bits
//     flipped, another live pool's, a destroyed pool's, random) through all
//     eight entry points (EINVAL, with ZS_MAX_MAPPINGS held too), unmap and
//     read_end of what is not held, arguments at and past every limit,
//     fail-nth, stats.
// Checks: exact error codes of the header; a failed zs_malloc changes no
// object and no page; -ENOMEM only when allowed (ZS_NOGROW, the limit, an
// injected fault); zs_compact() returns the pages it freed (its cache of
// emptied zspages included, which it drains); the classes' pages and the
// cached ones add up to the pool's; an emptied pool holds only cached
// pages, and none after zs_trim(); every object
// touched is verified, and whatever a held mapping shows is the object's
// bytes; zs_check() == 0 after every op for the first 64 ops, then every
// 8th op; every object verified (through the three read paths in turn)
// after each of the first 16 ops, then every 16th, and at the end.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <vector>

#include "mapping/mapping.h"
#include "tests/fuzz/fuzz_util.h"
#include "zsmalloc/zsmalloc.h"

namespace
{

constexpr size_t kMaxLive = 1500;
constexpr uint32_t kOps = 24;

struct Obj {
	size_t size;
	std::vector<uint8_t> bytes;
	uint64_t version; // bumped by every write
};

struct Held {
	zs_handle h;
	bool read;                       // zs_obj_read_begin, else zs_map_object
	zs_mapmode mode;                 // maps
	size_t len;                      // reads: bytes asked for
	const uint8_t *ptr;              // what the call returned
	std::unique_ptr<uint8_t[]> copy; // reads: local_copy
	uint64_t version;                // the object's version at map time
	uint64_t seq;
};

class Harness
{
      public:
	explicit Harness(fuzz::Reader *input)
	    : in(input), page(mp_page_size()),
	      max_obj(page > ZS_MAX_OBJECT_SIZE ? page : ZS_MAX_OBJECT_SIZE)
	{
	}

	void run()
	{
		cfg.name = "zsmalloc_fuzz";
		cfg.max_pages_per_zspage = in->u8() % 17;
		cfg.map_method = static_cast<zs_map_method>(in->u8() % 3);
		uint8_t lim = in->u8();
		limit = lim ? 1 + lim % 64 : 0;
		cfg.max_pages = limit;
		cfg.cache_pages = in->u8() % 4;
		pool = zs_create_pool_config(&cfg);
		FUZZ_CHECK(pool != nullptr, "zs_create_pool_config: errno %d", errno);
		int n = zs_class_stats(pool, nullptr, 0);
		FUZZ_CHECK(n > 0, "zs_class_stats: %d", n);
		classes.resize(static_cast<size_t>(n));
		FUZZ_CHECK(zs_class_stats(pool, classes.data(), classes.size()) == n,
			   "class table");

		for (step = 0; !in->empty(); step++) {
			run_op(in->u8() % kOps);
			if (fuzz::check_after(step))
				check_all(fuzz::sweep_after(step));
		}
		finish();
	}

      private:
	// ---- model -----------------------------------------------------------
	size_t class_size(size_t size) const
	{
		for (const zs_class_stat &c : classes)
			if (c.size >= size)
				return c.size;
		return 0;
	}
	zs_handle pick_live()
	{
		return in->pick_key(objs);
	}
	bool is_held(zs_handle h) const
	{
		for (const auto &x : held)
			if (x->h == h)
				return true;
		return false;
	}
	void new_content(zs_handle h, size_t off, size_t len, std::vector<uint8_t> *out)
	{
		Obj &o = objs.at(h);
		out->resize(len);
		fuzz::fill(out->data(), len, ++seed);
		std::memcpy(o.bytes.data() + off, out->data(), len);
		o.version++;
	}
	void compare(zs_handle h, const void *p, size_t len, const char *how)
	{
		const Obj &o = objs.at(h);
		const uint8_t *b = static_cast<const uint8_t *>(p);
		size_t n = len < o.size ? len : o.size;
		if (std::memcmp(b, o.bytes.data(), n) == 0)
			return;
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(b[i] == o.bytes[i],
				   "step %zu: %s of %#llx (size %zu) byte %zu is %#x, want %#x",
				   step, how, (unsigned long long)h, o.size, i, b[i], o.bytes[i]);
	}

	// Reads the whole object through one of the three paths.
	void verify(zs_handle h, int how)
	{
		const Obj &o = objs.at(h);
		bool full = held.size() >= ZS_MAX_MAPPINGS;
		errno = 0;
		if (how == 0) {
			std::vector<uint8_t> buf(o.size);
			void *p = zs_obj_read_begin(pool, h, o.size, buf.data());
			if (full) {
				FUZZ_CHECK(p == nullptr && errno == EBUSY,
					   "read_begin past the limit");
				return;
			}
			FUZZ_CHECK(p != nullptr, "step %zu: read_begin of live %#llx: errno %d",
				   step, (unsigned long long)h, errno);
			compare(h, p, o.size, "read_begin");
			FUZZ_CHECK(zs_obj_read_end(pool, h, p) == 0, "read_end");
		} else {
			void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_RO : ZS_MM_RW);
			if (full) {
				FUZZ_CHECK(p == nullptr && errno == EBUSY, "map past the limit");
				return;
			}
			FUZZ_CHECK(p != nullptr, "step %zu: map of live %#llx: errno %d", step,
				   (unsigned long long)h, errno);
			compare(h, p, o.size, how == 1 ? "map RO" : "map RW");
			errno = 0;
			zs_unmap_object(pool, h);
			FUZZ_CHECK(errno == 0, "unmap after map: errno %d", errno);
		}
	}

	// zs_check() and the counts; with @sweep, every object's bytes too.
	void check_all(bool sweep = true)
	{
		size_t v = zs_check(pool);
		FUZZ_CHECK(v == 0, "step %zu: zs_check found %zu violations", step, v);
		zs_stats st;
		zs_pool_stats(pool, &st);
		FUZZ_CHECK(st.objects == objs.size(), "step %zu: %llu objects, model %zu", step,
			   (unsigned long long)st.objects, objs.size());
		size_t pages = zs_get_total_pages(pool);
		FUZZ_CHECK(st.pages_used == pages, "pages_used %llu, total %zu",
			   (unsigned long long)st.pages_used, pages);
		FUZZ_CHECK(st.pages_cached <= pages, "%llu pages cached of %zu",
			   (unsigned long long)st.pages_cached, pages);
		FUZZ_CHECK(!limit || pages <= limit, "step %zu: %zu pages past limit %llu", step,
			   pages, (unsigned long long)limit);
		if (!sweep)
			return;
		int i = 0;
		for (const auto &kv : objs)
			verify(kv.first, i++ % 3);
	}

	// ---- ops ---------------------------------------------------------------
	size_t pick_size()
	{
		switch (in->u8() % 12) {
		case 0:
			return 1 + in->u8() % 48;
		case 1: { // a class boundary, or one past it
			const zs_class_stat &c = in->pick(classes);
			return in->u8() & 1 ? c.size : c.merged_from;
		}
		case 2:
			return zs_huge_class_size(pool) - 1 + in->u8() % 3;
		case 3:
			return page - in->u8() % 16;
		case 4:
			switch (in->u8() % 4) { // invalid
			case 0:
				return 0;
			case 1:
				return max_obj + 1;
			case 2:
				return max_obj + 1 + in->u16();
			default:
				return SIZE_MAX - in->u8();
			}
		case 5: // any, mostly above a page
			return 1 + in->u16() % max_obj;
		default: // compressed pages
			return page / 10 + in->u16() % (page * 3 / 4);
		}
	}

	int alloc(size_t size, int flags)
	{
		if (!limit && objs.size() >= kMaxLive)
			return -1;
		size_t pages = zs_get_total_pages(pool);
		errno = 0;
		zs_handle h = zs_malloc(pool, size, flags);
		if (size == 0 || (flags & ~ZS_NOGROW)) {
			FUZZ_CHECK(h == 0 && errno == EINVAL,
				   "step %zu: malloc(%zu, %#x): errno %d", step, size, flags,
				   errno);
		} else if (size > max_obj) {
			FUZZ_CHECK(h == 0 && errno == ENOSPC, "step %zu: malloc(%zu): errno %d",
				   step, size, errno);
		} else if (!h) {
			FUZZ_CHECK(errno == ENOMEM, "step %zu: malloc(%zu): errno %d", step, size,
				   errno);
			// An object needs at most the pages it spans beyond the one its
			// lower neighbour reaches into (objects go lowest place first).
			uint64_t needs = (size + page - 1) / page;
			bool at_limit = limit && pages + needs > limit;
			FUZZ_CHECK((flags & ZS_NOGROW) || fault_armed || at_limit,
				   "step %zu: malloc(%zu, %#x) ENOMEM with %zu pages, limit %llu, "
				   "no fault",
				   step, size, flags, pages, (unsigned long long)limit);
			if (!(flags & ZS_NOGROW) && !at_limit)
				fault_armed = false;
		}
		if (!h) {
			int err = errno;
			zs_stats st;
			zs_pool_stats(pool, &st);
			size_t now = zs_get_total_pages(pool);
			// Only the cache may have gone back to the OS (the header).
			FUZZ_CHECK(st.objects == objs.size() &&
					   (now == pages || (now < pages && !st.pages_cached)),
				   "step %zu: a failed malloc changed the pool", step);
			return err;
		}
		FUZZ_CHECK(!objs.count(h), "step %zu: handle %#llx handed out twice", step,
			   (unsigned long long)h);
		FUZZ_CHECK(!limit || zs_get_total_pages(pool) <= limit,
			   "malloc went past the page limit");
		Obj &o = objs[h];
		o.size = size;
		o.bytes.assign(size, 0);
		o.version = 0;
		std::vector<uint8_t> v;
		new_content(h, 0, size, &v);
		int how = held.size() >= ZS_MAX_MAPPINGS ? 0 : in->u8() % 3;
		if (how == 0) {
			FUZZ_CHECK(zs_obj_write(pool, h, v.data(), size) == 0, "obj_write");
		} else {
			void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_WO : ZS_MM_RW);
			FUZZ_CHECK(p != nullptr, "step %zu: map of a new object: errno %d", step,
				   errno);
			std::memcpy(p, v.data(), size);
			zs_unmap_object(pool, h);
		}
		return 0;
	}

	void free_obj(zs_handle h)
	{
		if (is_held(h)) {
			size_t pages = zs_get_total_pages(pool);
			int err = zs_free(pool, h);
			FUZZ_CHECK(err == -EBUSY, "step %zu: free of a held handle: %d", step, err);
			FUZZ_CHECK(pages == zs_get_total_pages(pool), "refused free changed pages");
			verify(h, 0);
			return;
		}
		if (in->u8() & 1)
			verify(h, in->u8() % 3);
		int err = zs_free(pool, h);
		FUZZ_CHECK(err == 0, "step %zu: free of live %#llx: %d", step,
			   (unsigned long long)h, err);
		objs.erase(h);
		freed.push_back(h);
	}

	void map_write()
	{
		if (objs.empty())
			return;
		zs_handle h = pick_live();
		zs_mapmode mode = in->u8() & 1 ? ZS_MM_WO : ZS_MM_RW;
		errno = 0;
		void *p = zs_map_object(pool, h, mode);
		if (held.size() >= ZS_MAX_MAPPINGS) {
			FUZZ_CHECK(p == nullptr && errno == EBUSY, "map past ZS_MAX_MAPPINGS");
			return;
		}
		FUZZ_CHECK(p != nullptr, "step %zu: map: errno %d", step, errno);
		if (mode == ZS_MM_RW)
			compare(h, p, objs.at(h).size, "map RW");
		std::vector<uint8_t> v;
		new_content(h, 0, objs.at(h).size, &v);
		std::memcpy(p, v.data(), v.size());
		zs_unmap_object(pool, h);
	}

	void read_some()
	{
		if (objs.empty())
			return;
		zs_handle h = pick_live();
		size_t cls = class_size(objs.at(h).size);
		size_t len = 1 + in->u16() % cls; // up to the class size
		std::vector<uint8_t> buf(len);
		errno = 0;
		void *p = zs_obj_read_begin(pool, h, len, buf.data());
		if (held.size() >= ZS_MAX_MAPPINGS) {
			FUZZ_CHECK(p == nullptr && errno == EBUSY, "read past ZS_MAX_MAPPINGS");
			return;
		}
		FUZZ_CHECK(p != nullptr, "step %zu: read_begin(len %zu of class %zu): errno %d",
			   step, len, cls, errno);
		compare(h, p, len, "read_begin");
		if (in->u8() & 1) {
			uint8_t not_ours;
			FUZZ_CHECK(zs_obj_read_end(pool, h, &not_ours) == -EINVAL,
				   "read_end with a pointer read_begin did not return");
		}
		FUZZ_CHECK(zs_obj_read_end(pool, h, p) == 0, "read_end");
		// Twice: refused, unless a held read of the same bytes in place has
		// the same pointer (then that one would end).
		if (!is_held(h))
			FUZZ_CHECK(zs_obj_read_end(pool, h, p) == -EINVAL, "read_end twice");
	}

	void write_part()
	{
		if (objs.empty())
			return;
		zs_handle h = pick_live();
		size_t len = 1 + in->u16() % objs.at(h).size;
		std::vector<uint8_t> v;
		new_content(h, 0, len, &v);
		int err = zs_obj_write(pool, h, v.data(), len);
		FUZZ_CHECK(err == 0, "step %zu: obj_write(len %zu): %d", step, len, err);
	}

	void hold()
	{
		if (objs.empty())
			return;
		auto x = std::make_unique<Held>();
		x->h = pick_live();
		x->read = in->u8() % 3 == 0;
		x->mode = static_cast<zs_mapmode>(in->u8() % 3);
		const Obj &o = objs.at(x->h);
		x->len = 1 + in->u16() % o.size;
		errno = 0;
		void *p;
		if (x->read) {
			x->copy.reset(new uint8_t[x->len]);
			p = zs_obj_read_begin(pool, x->h, x->len, x->copy.get());
		} else {
			p = zs_map_object(pool, x->h, x->mode);
		}
		if (held.size() >= ZS_MAX_MAPPINGS) {
			FUZZ_CHECK(p == nullptr && errno == EBUSY, "hold past ZS_MAX_MAPPINGS");
			return;
		}
		FUZZ_CHECK(p != nullptr, "step %zu: hold (%s): errno %d", step,
			   x->read ? "read" : "map", errno);
		x->ptr = static_cast<const uint8_t *>(p);
		if (x->read) {
			compare(x->h, p, x->len, "held read");
		} else if (x->mode != ZS_MM_WO) {
			compare(x->h, p, o.size, "held map");
		} else {
			// WO: the bytes are undefined until written, and every other map
			// or read of the object in this thread shows the same (one view per
			// object and thread): write them now, as a user of WO must.
			std::vector<uint8_t> v;
			new_content(x->h, 0, o.size, &v);
			std::memcpy(const_cast<uint8_t *>(x->ptr), v.data(), v.size());
		}
		x->version = o.version;
		x->seq = ++seq;
		held.push_back(std::move(x));
	}

	// Ends held[k]; for a map it must be the latest map of its handle.
	void release(size_t k)
	{
		Held &x = *held[k];
		const Obj &o = objs.at(x.h);
		if (x.version == o.version && (x.read || x.mode != ZS_MM_WO))
			compare(x.h, x.ptr, x.read ? x.len : o.size,
				x.read ? "held read at its end" : "held map at its unmap");
		if (x.read) {
			FUZZ_CHECK(zs_obj_read_end(pool, x.h, x.ptr) == 0, "read_end of held");
		} else {
			if (x.mode != ZS_MM_RO) {
				std::vector<uint8_t> v;
				new_content(x.h, 0, o.size, &v);
				std::memcpy(const_cast<uint8_t *>(x.ptr), v.data(), v.size());
			}
			errno = 0;
			zs_unmap_object(pool, x.h);
			FUZZ_CHECK(errno == 0, "unmap of held: errno %d", errno);
		}
		held.erase(held.begin() + static_cast<ptrdiff_t>(k));
	}

	void release_one()
	{
		if (held.empty())
			return;
		size_t k = in->below(static_cast<uint32_t>(held.size()));
		if (!held[k]->read) { // unmap ends the latest map of the handle
			for (size_t i = 0; i < held.size(); i++)
				if (!held[i]->read && held[i]->h == held[k]->h &&
				    held[i]->seq > held[k]->seq)
					k = i;
		}
		release(k);
	}

	void compact()
	{
		size_t before = zs_get_total_pages(pool);
		zs_stats s0, s1;
		zs_pool_stats(pool, &s0);
		size_t released = zs_compact(pool);
		size_t after = zs_get_total_pages(pool);
		zs_pool_stats(pool, &s1);
		if (!fault_armed)
			FUZZ_CHECK(released == before - after,
				   "step %zu: compact said %zu pages freed, total %zu -> %zu", step,
				   released, before, after);
		FUZZ_CHECK(s1.pages_compacted == s0.pages_compacted + released, "pages_compacted");
		FUZZ_CHECK(s1.pages_cached == 0, "step %zu: %llu pages cached after compact", step,
			   (unsigned long long)s1.pages_cached);
		FUZZ_CHECK(s1.objects == objs.size(), "objects after compact");
		// Held pointers must still show their objects (their zspages are
		// pinned); release() compares them. Check some objects now.
		for (int i = 0; i < 4 && !objs.empty(); i++)
			verify(pick_live(), i % 3);
	}

	// A handle that is not live (or -1 when none could be made).
	zs_handle bad_handle()
	{
		switch (in->u8() % 7) {
		case 0:
			return 0;
		case 1:
			if (freed.empty())
				return 0;
			return in->pick(freed);
		case 2:
		case 3: { // a live handle with one or a few bits flipped
			if (objs.empty())
				return 0;
			zs_handle h = pick_live();
			uint8_t k = in->u8();
			if (k & 0x80)
				return h ^ in->u64();
			return h ^ (static_cast<zs_handle>(1) << (k % 64));
		}
		case 4: { // another live pool's
			if (!other) {
				other = zs_create_pool_config(&cfg);
				FUZZ_CHECK(other != nullptr, "second pool");
			}
			zs_handle h = zs_malloc(other, 1 + in->u16() % page, 0);
			if (h)
				other_handles.push_back(h);
			if (other_handles.empty())
				return 0;
			return in->pick(other_handles);
		}
		case 5: { // a destroyed pool's
			zs_pool *gone = zs_create_pool_config(&cfg);
			FUZZ_CHECK(gone != nullptr, "third pool");
			zs_handle h = zs_malloc(gone, 1 + in->u16() % page, 0);
			zs_destroy_pool(gone);
			return h;
		}
		default:
			return in->u64();
		}
	}

	// Refused with EINVAL even when this thread holds ZS_MAX_MAPPINGS
	// mappings (the handle is validated first).
	void bad_handle_op()
	{
		zs_handle h = bad_handle();
		if (objs.count(h))
			return; // live after all
		size_t pages = zs_get_total_pages(pool);
		uint8_t buf[64];
		int err = zs_free(pool, h);
		FUZZ_CHECK(err == -EINVAL, "step %zu: free of bad handle %#llx: %d", step,
			   (unsigned long long)h, err);
		errno = 0;
		void *p = zs_map_object(pool, h, ZS_MM_RW);
		FUZZ_CHECK(p == nullptr && errno == EINVAL,
			   "step %zu: map of bad handle %#llx: %p errno %d", step,
			   (unsigned long long)h, p, errno);
		errno = 0;
		zs_unmap_object(pool, h);
		FUZZ_CHECK(errno == EINVAL, "unmap of bad handle: errno %d", errno);
		errno = 0;
		p = zs_obj_read_begin(pool, h, 1, buf);
		FUZZ_CHECK(p == nullptr && errno == EINVAL,
			   "step %zu: read_begin of bad handle %#llx: errno %d", step,
			   (unsigned long long)h, errno);
		FUZZ_CHECK(zs_obj_read_end(pool, h, buf) == -EINVAL, "read_end of bad");
		zs_segment seg[ZS_MAX_SEGMENTS];
		int n = zs_obj_read_sg_begin(pool, h, 1, seg, ZS_MAX_SEGMENTS);
		FUZZ_CHECK(n == -EINVAL, "step %zu: read_sg_begin of bad handle %#llx: %d", step,
			   (unsigned long long)h, n);
		FUZZ_CHECK(zs_obj_read_sg_end(pool, h) == -EINVAL, "read_sg_end of bad");
		std::memset(buf, 0x5a, sizeof(buf));
		FUZZ_CHECK(zs_obj_write(pool, h, buf, 1) == -EINVAL,
			   "step %zu: obj_write to bad handle %#llx", step, (unsigned long long)h);
		FUZZ_CHECK(pages == zs_get_total_pages(pool), "bad handle changed pages");
	}

	// Calls that are wrong for a live handle: nothing may change.
	void wrong_calls()
	{
		if (objs.empty())
			return;
		zs_handle h = pick_live();
		size_t cls = class_size(objs.at(h).size);
		std::vector<uint8_t> buf(cls + 2, 0x77);
		errno = 0;
		switch (in->u8() % 9) {
		case 0:
			if (is_held(h))
				return;
			zs_unmap_object(pool, h);
			FUZZ_CHECK(errno == EINVAL, "unmap without map: errno %d", errno);
			break;
		case 1:
			FUZZ_CHECK(zs_obj_read_end(pool, h, buf.data()) == -EINVAL,
				   "read_end without begin");
			break;
		case 2:
			FUZZ_CHECK(zs_obj_read_begin(pool, h, cls + 1, buf.data()) == nullptr &&
					   errno == EINVAL,
				   "read_begin past the class size %zu", cls);
			break;
		case 3:
			FUZZ_CHECK(zs_obj_read_begin(pool, h, 0, buf.data()) == nullptr &&
					   errno == EINVAL,
				   "read_begin of 0 bytes");
			break;
		case 4:
			FUZZ_CHECK(zs_obj_read_begin(pool, h, 1, nullptr) == nullptr &&
					   errno == EINVAL,
				   "read_begin with no local copy");
			break;
		case 5:
			FUZZ_CHECK(zs_obj_write(pool, h, buf.data(), cls + 1) == -EINVAL,
				   "obj_write past the class size %zu", cls);
			FUZZ_CHECK(zs_obj_write(pool, h, buf.data(), 0) == -EINVAL,
				   "obj_write of 0 bytes");
			FUZZ_CHECK(zs_obj_write(pool, h, nullptr, 1) == -EINVAL,
				   "obj_write of NULL");
			break;
		case 6:
			FUZZ_CHECK(zs_map_object(pool, h, static_cast<zs_mapmode>(3 + in->u8())) ==
						   nullptr &&
					   errno == EINVAL,
				   "map with a bad mode");
			break;
		case 7: // the right handle, the wrong pool
			if (!other)
				return;
			FUZZ_CHECK(zs_free(other, h) == -EINVAL, "free in the wrong pool");
			FUZZ_CHECK(zs_obj_write(other, h, buf.data(), 1) == -EINVAL,
				   "write in the wrong pool");
			errno = 0;
			zs_unmap_object(other, h);
			FUZZ_CHECK(errno == EINVAL, "unmap in the wrong pool");
			break;
		default: // NULL pool
			FUZZ_CHECK(zs_free(nullptr, h) == -EINVAL, "free with NULL pool");
			FUZZ_CHECK(zs_map_object(nullptr, h, ZS_MM_RO) == nullptr,
				   "map with NULL pool");
			FUZZ_CHECK(zs_malloc(nullptr, 10, 0) == 0 && errno == EINVAL,
				   "malloc with NULL pool");
			FUZZ_CHECK(zs_obj_read_end(nullptr, h, buf.data()) == -EINVAL,
				   "read_end with NULL pool");
			FUZZ_CHECK(zs_class_stats(nullptr, nullptr, 0) == -EINVAL,
				   "class_stats with NULL pool");
		}
		verify(h, 0);
	}

	void stats()
	{
		std::vector<zs_class_stat> cs(classes.size());
		FUZZ_CHECK(zs_class_stats(pool, cs.data(), cs.size()) ==
				   static_cast<int>(cs.size()),
			   "class count changed");
		uint64_t used = 0, pages = 0;
		for (const zs_class_stat &c : cs) {
			used += c.obj_used;
			pages += c.pages_used;
			FUZZ_CHECK(c.obj_used <= c.obj_allocated, "class %u: used > allocated",
				   c.size);
		}
		FUZZ_CHECK(used == objs.size(), "class table: %llu objects, model %zu",
			   (unsigned long long)used, objs.size());
		zs_stats st;
		zs_pool_stats(pool, &st);
		FUZZ_CHECK(pages + st.pages_cached == zs_get_total_pages(pool),
			   "class table: %llu pages, %llu cached, pool %zu",
			   (unsigned long long)pages, (unsigned long long)st.pages_cached,
			   zs_get_total_pages(pool));
		FILE *f = std::fopen("/dev/null", "w");
		if (f) {
			FUZZ_CHECK(zs_dump_classes(pool, f) == 0, "dump_classes");
			std::fclose(f);
		}
	}

	void run_op(uint32_t op)
	{
		switch (op) {
		case 0:
		case 1:
		case 2:
		case 3: {
			size_t size = pick_size();
			uint8_t f = in->u8() % 8;
			alloc(size, f == 0 ? ZS_NOGROW : f == 1 ? 0x4 : 0);
			break;
		}
		case 4: {
			size_t size = pick_size();
			uint32_t n = 1 + in->u8() % 32;
			for (uint32_t i = 0; i < n; i++)
				if (alloc(size, 0))
					break;
			break;
		}
		case 5:
		case 6:
			if (!objs.empty())
				free_obj(pick_live());
			break;
		case 7: { // free a batch: leaves holes for compaction
			uint32_t n = 1 + in->u8() % 32;
			for (uint32_t i = 0; i < n && !objs.empty(); i++)
				free_obj(pick_live());
			break;
		}
		case 8:
			map_write();
			break;
		case 9:
			if (!objs.empty())
				verify(pick_live(), in->u8() % 3);
			break;
		case 10:
			read_some();
			break;
		case 11:
			write_part();
			break;
		case 12:
		case 13:
			hold();
			break;
		case 14:
		case 15:
			release_one();
			break;
		case 16:
		case 17:
			compact();
			break;
		case 18:
		case 19:
			bad_handle_op();
			break;
		case 20:
			wrong_calls();
			break;
		case 21:
			fault_armed = fuzz::arm_fault(zs_fail_nth_page_alloc, pool, in->u8() % 8);
			break;
		case 22:
			stats();
			break;
		default:
			check_all();
		}
	}

	void finish()
	{
		while (!held.empty())
			release(fuzz::latest(
				held, [](const std::unique_ptr<Held> &h) { return h->seq; }));
		check_all();
		if (seed & 1) { // sometimes destroy with live objects
			zs_compact(pool);
			check_all();
			while (!objs.empty())
				free_obj(objs.begin()->first);
			zs_stats st;
			zs_pool_stats(pool, &st);
			FUZZ_CHECK(zs_get_total_pages(pool) == st.pages_cached,
				   "%zu pages left when empty, %llu of them cached",
				   zs_get_total_pages(pool), (unsigned long long)st.pages_cached);
			size_t trimmed = zs_trim(pool);
			FUZZ_CHECK(trimmed == st.pages_cached && zs_get_total_pages(pool) == 0,
				   "zs_trim gave back %zu of %llu cached pages, %zu left", trimmed,
				   (unsigned long long)st.pages_cached, zs_get_total_pages(pool));
			size_t v = zs_check(pool);
			FUZZ_CHECK(v == 0, "zs_check when empty: %zu", v);
		}
		zs_destroy_pool(pool);
		zs_destroy_pool(other);
	}

	fuzz::Reader *in;
	const size_t page;
	const size_t max_obj; // the largest object
	zs_config cfg{};
	uint64_t limit = 0;
	zs_pool *pool = nullptr;
	zs_pool *other = nullptr;
	std::vector<zs_handle> other_handles;
	std::vector<zs_class_stat> classes;
	std::map<zs_handle, Obj> objs;
	std::vector<zs_handle> freed;
	std::vector<std::unique_ptr<Held>> held;
	bool fault_armed = false;
	uint64_t seed = 0, seq = 0;
	size_t step = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz::run<Harness>(data, size);
}
