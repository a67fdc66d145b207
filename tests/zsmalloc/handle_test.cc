// Handle validation: every call that takes a handle refuses 0, garbage, a
// freed handle, a stale handle whose slot was reused, another pool's handle
// and handles forged from a live one (another slot, another generation,
// another tag, a slot past the table), and changes nothing when it does
// (contents, statistics, zs_check).
//
// Some cases build handles from the layout zsmalloc/internal.h documents,
// | tag 10 | generation 16 | slot 38 | (the slot indexes one table per pool,
// at most 2^28 - 1 slots), to aim at one check at a time; the layout is
// checked against real handles first, so a change of layout fails loudly
// instead of testing nothing.
#include <errno.h>
#include <stdint.h>

#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

// The documented layout (zsmalloc/internal.h, "Handle, 64 bits").
struct Layout {
	static constexpr uint64_t kSlotMask = ((uint64_t)1 << 38) - 1;
	static constexpr uint64_t kMaxSlots = ((uint64_t)1 << 28) - 1; // per pool
	static uint64_t tag(zs_handle h)
	{
		return (uint64_t)h >> 54;
	}
	static uint64_t gen(zs_handle h)
	{
		return ((uint64_t)h >> 38) & 0xffff;
	}
	static uint64_t slot(zs_handle h)
	{
		return (uint64_t)h & kSlotMask;
	}
	static zs_handle make(uint64_t tag, uint64_t gen, uint64_t slot)
	{
		return (zs_handle)((tag & 0x3ff) << 54 | (gen & 0xffff) << 38 | (slot & kSlotMask));
	}
};

// Every handle call refuses @h; returns the number of calls that did not.
int refused_everywhere(zs_pool *p, zs_handle h, std::string *why)
{
	int bad = 0;
	char buf[4096];
	auto note = [&](const char *what) {
		bad++;
		char line[96];
		snprintf(line, sizeof(line), "%s accepted 0x%016llx; ", what,
			 (unsigned long long)h);
		*why += line;
	};
	if (zs_free(p, h) != -EINVAL)
		note("zs_free");
	errno = 0;
	for (zs_mapmode mm : { ZS_MM_RO, ZS_MM_RW, ZS_MM_WO }) {
		void *m = zs_map_object(p, h, mm);
		if (m || errno != EINVAL) {
			note("zs_map_object");
			if (m)
				zs_unmap_object(p, h);
		}
	}
	errno = 0;
	void *r = zs_obj_read_begin(p, h, 1, buf);
	if (r || errno != EINVAL) {
		note("zs_obj_read_begin");
		if (r)
			zs_obj_read_end(p, h, r);
	}
	memset(buf, 0xee, sizeof(buf));
	if (zs_obj_write(p, h, buf, 1) != -EINVAL)
		note("zs_obj_write");
	if (zs_obj_read_end(p, h, buf) != -EINVAL)
		note("zs_obj_read_end");
	zs_segment seg[ZS_MAX_SEGMENTS];
	int n = zs_obj_read_sg_begin(p, h, 1, seg, ZS_MAX_SEGMENTS);
	if (n != -EINVAL) {
		note("zs_obj_read_sg_begin");
		if (n > 0)
			zs_obj_read_sg_end(p, h);
	}
	if (zs_obj_read_sg_end(p, h) != -EINVAL)
		note("zs_obj_read_sg_end");
	errno = 0;
	zs_unmap_object(p, h);
	if (errno != EINVAL)
		note("zs_unmap_object");
	return bad;
}

// A pool with objects in several classes, to aim bad handles at.
struct Populated {
	Pool pool;
	std::vector<Obj> objs;
	std::set<zs_handle> live;
	zs_test::Snapshot snap;

	explicit Populated(uint64_t seed0 = 1)
	{
		pool = make_pool();
		std::mt19937_64 rng(seed0);
		for (int i = 0; i < 2000; i++) {
			// Sizes to a page, one in 16 up to the largest.
			size_t size = i % 16 ? 1 + rng() % 4096 : 1 + rng() % ZS_MAX_OBJECT_SIZE;
			zs_handle h = zs_malloc(pool.get(), size, 0);
			if (!h)
				continue;
			objs.push_back({ h, size, seed0 * 100000 + (uint64_t)i });
			write_object(pool.get(), h, objs.back().seed, size, i % 3);
			live.insert(h);
		}
		// Some freed ones, so that free slots exist below live ones.
		for (size_t i = 0; i < objs.size(); i += 3) {
			zs_free(pool.get(), objs[i].h);
			live.erase(objs[i].h);
			objs[i].h = 0;
		}
		std::vector<Obj> keep;
		for (const Obj &o : objs)
			if (o.h)
				keep.push_back(o);
		objs.swap(keep);
		snap = zs_test::snapshot(pool.get());
	}

	// Nothing changed: contents, statistics, checker.
	void expect_intact(const char *after)
	{
		SCOPED_TRACE(after);
		EXPECT_EQ(zs_check(pool.get()), 0u);
		EXPECT_EQ(zs_test::diff(snap, zs_test::snapshot(pool.get())), "");
		EXPECT_EQ(zs_test::first_bad(pool.get(), objs, 3), -1);
	}
};

TEST(Handle, LayoutAsDocumented)
{
	Populated a;
	ASSERT_GT(a.objs.size(), 100u);
	uint64_t tag = Layout::tag(a.objs[0].h);
	EXPECT_NE(tag, 0u);
	zs_stats st = zs_test::pool_stats(a.pool.get());
	std::set<uint64_t> slots;
	for (const Obj &o : a.objs) {
		EXPECT_NE(o.h, 0u);
		EXPECT_EQ(Layout::tag(o.h), tag) << "one pool, one tag";
		// Never freed: the first generation of its slot.
		EXPECT_EQ(Layout::gen(o.h), 0u) << "size " << o.size;
		// One table per pool, whatever the class: each live object has
		// its own slot, in the table's reserved part.
		EXPECT_TRUE(slots.insert(Layout::slot(o.h)).second) << "a slot named twice";
		EXPECT_LT(Layout::slot(o.h), st.handles_reserved);
		EXPECT_LT(Layout::slot(o.h), Layout::kMaxSlots);
	}
	// A freed slot's next handle is the next generation of that slot.
	zs_pool *p = a.pool.get();
	const Obj o = a.objs.back();
	ASSERT_EQ(zs_free(p, o.h), 0);
	zs_handle h = zs_malloc(p, o.size, 0);
	ASSERT_NE(h, 0u);
	EXPECT_EQ(Layout::slot(h), Layout::slot(o.h));
	EXPECT_EQ(Layout::gen(h), Layout::gen(o.h) + 1);
	EXPECT_EQ(Layout::tag(h), tag);
	EXPECT_EQ(zs_free(p, h), 0);
}

TEST(Handle, Zero)
{
	Populated a;
	std::string why;
	EXPECT_EQ(refused_everywhere(a.pool.get(), 0, &why), 0) << why;
	a.expect_intact("handle 0");
}

TEST(Handle, Garbage)
{
	const uint64_t seed = zs_test::test_seed(17);
	printf("garbage seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	Populated a;
	zs_pool *p = a.pool.get();
	uint64_t tag = Layout::tag(a.objs[0].h);
	const uint64_t reserved = zs_test::pool_stats(p).handles_reserved;
	std::vector<zs_handle> bad = {
		~(zs_handle)0, (zs_handle)1 << 63, (zs_handle)INTPTR_MAX, (zs_handle)INTPTR_MIN,
		0x1000,        0xdeadbeef
	};
	for (zs_handle i = 1; i <= 1024; i++)
		bad.push_back(i);
	for (int i = 0; i < 3000; i++)
		bad.push_back((zs_handle)rng());
	// Addresses, as a confused caller might pass.
	bad.push_back((zs_handle)(uintptr_t)&a);
	bad.push_back((zs_handle)(uintptr_t)p);
	// The pool's own tag with every other field random, or with real
	// slots (live, free, freed) and any generation: refused unless it is
	// a live handle.
	for (int i = 0; i < 3000; i++)
		bad.push_back(Layout::make(tag, rng(), rng()));
	for (int i = 0; i < 3000; i++)
		bad.push_back(Layout::make(tag, rng(), rng() % (reserved + 64)));
	for (uint64_t slot = 0; slot < reserved + 64; slot++)
		bad.push_back(Layout::make(tag, 1 + rng() % 0xffff, slot));
	for (const Obj &o : a.objs) {
		uint64_t g = Layout::gen(o.h), s = Layout::slot(o.h);
		bad.push_back(o.h ^ ((zs_handle)1 << 38));                  // another generation
		bad.push_back(Layout::make(tag, g + 0x8000, s));            // far from it
		bad.push_back(Layout::make(tag, g, s + 0x1000000));         // slot far past
		bad.push_back(Layout::make(tag, g, reserved + s));          // past the table
		bad.push_back(Layout::make(tag, g, Layout::kMaxSlots));     // past the most
		bad.push_back(Layout::make(tag, g, 0xffffffff));            // the "none" slot
		bad.push_back(Layout::make(tag, g, Layout::kSlotMask));     // all ones
		bad.push_back(Layout::make(tag, g, s | (uint64_t)1 << 37)); // a high slot bit
		bad.push_back(Layout::make(tag ^ 1, g, s));                 // another tag
		bad.push_back(Layout::make(0, g, s));                       // no tag
	}
	int tried = 0;
	std::string why;
	for (zs_handle h : bad) {
		if (!h || a.live.count(h))
			continue;
		tried++;
		ASSERT_EQ(refused_everywhere(p, h, &why), 0) << why;
	}
	printf("%d garbage handles refused\n", tried);
	EXPECT_GT(tried, 10000);
	a.expect_intact("garbage");
}

TEST(Handle, Freed)
{
	Populated a;
	zs_pool *p = a.pool.get();
	std::string why;
	// Free a third of the objects, then try every freed handle again.
	std::vector<zs_handle> freed;
	std::vector<Obj> keep;
	for (size_t i = 0; i < a.objs.size(); i++) {
		if (i % 3 == 1) {
			ASSERT_EQ(zs_free(p, a.objs[i].h), 0);
			freed.push_back(a.objs[i].h);
			a.live.erase(a.objs[i].h);
		} else {
			keep.push_back(a.objs[i]);
		}
	}
	a.objs.swap(keep);
	a.snap = zs_test::snapshot(p);
	for (zs_handle h : freed) {
		ASSERT_EQ(refused_everywhere(p, h, &why), 0) << why;
	}
	a.expect_intact("freed handles");
	// After compaction (objects move, slots are rewritten) too.
	zs_compact(p);
	a.snap = zs_test::snapshot(p);
	for (zs_handle h : freed) {
		ASSERT_EQ(refused_everywhere(p, h, &why), 0) << why;
	}
	a.expect_intact("freed handles after compaction");
}

// alloc h1, free h1, alloc h2 of the same size: h2 takes h1's slot, and h1
// must now be refused everywhere while h2 works.
TEST(Handle, FreedAndReusedSlot)
{
	for (size_t size : { (size_t)1, (size_t)100, (size_t)1392, (size_t)3000, (size_t)4096 }) {
		SCOPED_TRACE("size " + std::to_string(size));
		Populated a;
		zs_pool *p = a.pool.get();
		zs_handle h1 = zs_malloc(p, size, 0);
		ASSERT_NE(h1, 0u);
		ASSERT_TRUE(write_object(p, h1, 1, size, 0));
		ASSERT_EQ(zs_free(p, h1), 0);
		zs_handle h2 = zs_malloc(p, size, 0);
		ASSERT_NE(h2, 0u);
		ASSERT_NE(h2, h1) << "a reused slot must not give the same handle";
		// Precondition: the slot was in fact reused (else this test
		// would only repeat Handle.Freed).
		EXPECT_EQ(Layout::slot(h2), Layout::slot(h1));
		EXPECT_EQ(Layout::gen(h2), Layout::gen(h1) + 1);
		ASSERT_TRUE(write_object(p, h2, 2, size, 1));
		a.objs.push_back({ h2, size, 2 });
		a.live.insert(h2);
		a.snap = zs_test::snapshot(p);
		std::string why;
		EXPECT_EQ(refused_everywhere(p, h1, &why), 0) << why;
		a.expect_intact("stale handle of a reused slot");
		EXPECT_TRUE(check_object_all(p, h2, 2, size));
		EXPECT_EQ(zs_free(p, h2), 0);
		EXPECT_EQ(zs_free(p, h2), -EINVAL);
		EXPECT_EQ(zs_free(p, h1), -EINVAL);
	}
}

// One slot reused a thousand times: every earlier handle stays refused.
TEST(Handle, SlotReusedManyTimes)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	zs_handle keep = zs_malloc(p, 500, 0); // keeps the zspage alive
	ASSERT_NE(keep, 0u);
	ASSERT_TRUE(write_object(p, keep, 9, 500, 0));
	std::vector<zs_handle> stale;
	std::set<zs_handle> seen = { keep };
	zs_handle h = 0;
	for (int i = 0; i < 1000; i++) {
		h = zs_malloc(p, 500, 0);
		ASSERT_NE(h, 0u);
		ASSERT_TRUE(seen.insert(h).second) << "handle repeated after " << i << " reuses";
		ASSERT_TRUE(write_object(p, h, 1000 + i, 500, i % 3));
		if (i < 999) {
			ASSERT_EQ(zs_free(p, h), 0);
			stale.push_back(h);
		}
	}
	std::string why;
	for (zs_handle s : stale) {
		ASSERT_EQ(refused_everywhere(p, s, &why), 0) << why;
	}
	EXPECT_TRUE(check_object_all(p, h, 1999, 500));
	EXPECT_TRUE(check_object_all(p, keep, 9, 500));
	EXPECT_EQ(zs_check(p), 0u);
}

// The documented limit of the 16-bit generation: a stale handle is refused
// through 65535 reuses of its slot, and looks live again at exactly 65536
// (the header says so). This suite found the limit undocumented in the
// public header.
TEST(Handle, StaleHandleRefusedUntilTheGenerationWraps)
{
	Pool pool = make_pool();
	zs_pool *p = pool.get();
	zs_handle keep = zs_malloc(p, 500, 0);
	ASSERT_NE(keep, 0u);
	zs_handle first = zs_malloc(p, 500, 0);
	ASSERT_NE(first, 0u);
	ASSERT_EQ(zs_free(p, first), 0);
	zs_handle h = 0;
	for (int i = 0; i < 65536; i++) {
		h = zs_malloc(p, 500, 0);
		ASSERT_NE(h, 0u);
		if (i < 65535) {
			ASSERT_NE(h, first) << "reuse " << i + 1;
			if (i == 0 || i == 65534) {
				std::string why;
				ASSERT_TRUE(write_object(p, h, 5, 500, 0));
				EXPECT_EQ(refused_everywhere(p, first, &why), 0)
					<< "after " << i + 1 << " reuses: " << why;
			}
			ASSERT_EQ(zs_free(p, h), 0);
		}
	}
	EXPECT_EQ(first, h) << "reuse 65536: the same slot and generation, "
			       "the very same handle (the documented limit)";
}

// Two pools with the very same history: same classes, slots and
// generations. Each refuses the other's handles.
TEST(Handle, AnotherPools)
{
	Populated a(1), b(1);
	ASSERT_EQ(a.objs.size(), b.objs.size());
	// Same history: with the same seeds, b's objects hold the same bytes.
	for (size_t i = 0; i < a.objs.size(); i++) {
		ASSERT_NE(a.objs[i].h, b.objs[i].h) << "two pools gave the same handle";
		EXPECT_EQ(Layout::slot(a.objs[i].h), Layout::slot(b.objs[i].h));
	}
	// Give b different contents so a mix-up would show.
	for (Obj &o : b.objs) {
		o.seed += 7777777;
		ASSERT_TRUE(write_object(b.pool.get(), o.h, o.seed, o.size, 0));
	}
	b.snap = zs_test::snapshot(b.pool.get());
	std::string why;
	for (const Obj &o : a.objs) {
		ASSERT_EQ(refused_everywhere(b.pool.get(), o.h, &why), 0) << why;
	}
	for (const Obj &o : b.objs) {
		ASSERT_EQ(refused_everywhere(a.pool.get(), o.h, &why), 0) << why;
	}
	a.expect_intact("b's handles given to a");
	b.expect_intact("a's handles given to b");
}

// A destroyed pool's handles mean nothing to the pools made after it.
TEST(Handle, DestroyedPools)
{
	std::vector<zs_handle> old;
	for (int i = 0; i < 8; i++) {
		Pool p = make_pool();
		ASSERT_NE(p, nullptr);
		for (int k = 0; k < 50; k++)
			old.push_back(zs_malloc(p.get(), 64 + 64 * (size_t)k, 0));
	}
	Populated a;
	std::string why;
	for (zs_handle h : old)
		if (!a.live.count(h)) {
			ASSERT_EQ(refused_everywhere(a.pool.get(), h, &why), 0) << why;
		}
	a.expect_intact("handles of destroyed pools");
}

// The right pool, a live handle's generation with another slot, or its
// slot with another generation: the slot of another class's object, a
// free slot of its own chunk, a slot of a chunk no class has, slots past
// the table. (The old layout had class bits; slots now index one table.)
TEST(Handle, AnotherSlotOrGeneration)
{
	Pool pool = make_pool();
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	// Class A's object on the first generation of its slot; class B's on
	// the second generation of its own.
	size_t sa = 200, sb = 2000, sc = 3000;
	zs_handle ha = zs_malloc(p, sa, 0);
	zs_handle hb0 = zs_malloc(p, sb, 0);
	ASSERT_EQ(zs_free(p, hb0), 0);
	zs_handle hb = zs_malloc(p, sb, 0);
	ASSERT_NE(ha, 0u);
	ASSERT_NE(hb, 0u);
	ASSERT_NE(Layout::slot(ha), Layout::slot(hb)) << "precondition: two slots";
	ASSERT_EQ(Layout::gen(ha), 0u) << "precondition: first generation";
	ASSERT_EQ(Layout::gen(hb), 1u) << "precondition: second generation";
	ASSERT_TRUE(write_object(p, ha, 1, sa, 0));
	ASSERT_TRUE(write_object(p, hb, 2, sb, 0));
	std::vector<Obj> objs = { { ha, sa, 1 }, { hb, sb, 2 } };
	zs_test::Snapshot snap = zs_test::snapshot(p);
	const uint64_t tag = Layout::tag(ha), reserved = snap.stats.handles_reserved;
	std::string why;
	struct Forged {
		const char *what;
		zs_handle h;
	} forged[] = {
		{ "A's generation on B's slot (stale there)",
		  Layout::make(tag, 0, Layout::slot(hb)) },
		{ "B's generation on A's slot (never issued)",
		  Layout::make(tag, 1, Layout::slot(ha)) },
		{ "a free slot of A's chunk", Layout::make(tag, 0, Layout::slot(ha) + 1) },
		{ "the next generation of a free slot",
		  Layout::make(tag, 1, Layout::slot(ha) + 1) },
		{ "the last slot of the table", Layout::make(tag, 0, reserved - 1) },
		{ "the first slot past the table", Layout::make(tag, 0, reserved) },
		{ "a slot far past the table", Layout::make(tag, 0, reserved + 100000) },
		{ "the most slots a pool may have", Layout::make(tag, 0, Layout::kMaxSlots) },
		{ "a slot past that", Layout::make(tag, 0, Layout::kMaxSlots + 1) },
		{ "A's slot and generation, another tag",
		  Layout::make(tag ^ 0x200, 0, Layout::slot(ha)) },
		{ "B's slot and generation, tag 0", Layout::make(0, 1, Layout::slot(hb)) },
		{ "A's handle, the top generation", Layout::make(tag, 0xffff, Layout::slot(ha)) },
	};
	for (const Forged &f : forged) {
		if (f.h == ha || f.h == hb)
			continue; // a live handle after all (a slot number reused)
		EXPECT_EQ(refused_everywhere(p, f.h, &why), 0) << f.what << ": " << why;
	}
	// A chunk of another class: its slots are refused until an object
	// of that class takes them.
	zs_handle hc = zs_malloc(p, sc, 0);
	ASSERT_NE(hc, 0u);
	ASSERT_TRUE(write_object(p, hc, 3, sc, 0));
	objs.push_back({ hc, sc, 3 });
	snap = zs_test::snapshot(p);
	for (uint64_t d : { (uint64_t)1, (uint64_t)2, (uint64_t)63 }) {
		zs_handle h = Layout::make(tag, 0, Layout::slot(hc) + d);
		EXPECT_EQ(refused_everywhere(p, h, &why), 0)
			<< "slot " << d << " after C's: " << why;
	}
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zs_test::diff(snap, zs_test::snapshot(p)), "");
	EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
}

// Handles of another live pool stay refused however many pools were made
// in between: tags are unique among live pools. (Found by this suite: tags
// used to repeat every 4095 pools, and pool #4095 took a live pool's
// handles for its own.)
TEST(Handle, AnotherPoolAfterManyPools)
{
	Pool a = make_pool();
	ASSERT_NE(a, nullptr);
	zs_handle ha = zs_malloc(a.get(), 100, 0);
	ASSERT_NE(ha, 0u);
	ASSERT_TRUE(write_object(a.get(), ha, 1, 100, 0));
	for (int i = 0; i < 5000; i++) {
		Pool b = make_pool();
		ASSERT_NE(b, nullptr);
		zs_handle hb = zs_malloc(b.get(), 100, 0);
		ASSERT_NE(hb, 0u);
		ASSERT_TRUE(write_object(b.get(), hb, 2, 100, 0));
		std::string why;
		ASSERT_EQ(refused_everywhere(b.get(), ha, &why), 0)
			<< "pool #" << i + 1 << " after the live one: " << why;
		ASSERT_TRUE(check_object_all(b.get(), hb, 2, 100));
	}
	EXPECT_TRUE(check_object_all(a.get(), ha, 1, 100));
}

} // namespace
