// Tests of tools/zpool.h: every driver keeps real bytes; the page-based
// models (SLUB, SLOB, zbud) hold exactly the pages a hand computation says;
// density's verification catches a driver that returns wrong bytes.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "mapping/mapping.h"
#include "tools/run.h"
#include "tools/workload.h"
#include "tools/zpool.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"
}

namespace
{

// A pool of one driver, destroyed at the end of the scope.
struct Pool {
	explicit Pool(const zpool_driver *d) : drv(d), pool(d->create())
	{
	}
	~Pool()
	{
		drv->destroy(pool);
	}
	uint64_t store(size_t len, unsigned char fill)
	{
		std::vector<unsigned char> buf(len, fill);
		uint64_t id = 0;

		EXPECT_EQ(0, drv->store(pool, buf.data(), len, &id)) << len;
		EXPECT_NE(0u, id);
		return id;
	}
	zpool_usage usage()
	{
		zpool_usage u;

		drv->usage(pool, &u);
		return u;
	}
	const zpool_driver *drv;
	void *pool;
};

bool four_kib_pages()
{
	return mp_page_size() == 4096;
}

class EveryDriver : public ::testing::TestWithParam<std::string>
{
};

// Random sizes 1..page, and one in 25 up to ZPOOL_MAX_OBJECT (64 KiB
// blocks: stored, or refused with -ENOSPC by the single-page allocators),
// random content; a shadow map of id -> bytes is the model. Release half,
// compact, check the rest, release everything.
TEST_P(EveryDriver, KeepsTheBytes)
{
	const zpool_driver *d = zpool_find_driver(GetParam().c_str());
	ASSERT_NE(nullptr, d);
	Pool p(d);
	ASSERT_NE(nullptr, p.pool);
	const size_t page = mp_page_size();
	std::mt19937_64 rng(42);
	std::map<uint64_t, std::vector<unsigned char>> shadow;

	auto check_all = [&](const char *when) {
		std::vector<unsigned char> out(ZPOOL_MAX_OBJECT);
		for (const auto &kv : shadow) {
			std::fill(out.begin(), out.end(), 0xEE);
			ASSERT_EQ(0, d->load(p.pool, kv.first, out.data(), kv.second.size()))
				<< when;
			ASSERT_EQ(0, std::memcmp(out.data(), kv.second.data(), kv.second.size()))
				<< d->name << " " << when << " id " << kv.first;
		}
		if (d->check) {
			ASSERT_EQ(0u, d->check(p.pool)) << when;
		}
	};
	int refused = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = i % 50 == 0   ? page
			     : i % 25 == 1 ? page + 1 + rng() % (ZPOOL_MAX_OBJECT - page)
					   : 1 + rng() % page;
		std::vector<unsigned char> bytes(len);
		for (auto &b : bytes)
			b = (unsigned char)rng();
		uint64_t id = 0;
		int err = d->store(p.pool, bytes.data(), len, &id);
		if (len > page && err == -ENOSPC) {
			refused++;
			continue;
		}
		ASSERT_EQ(0, err) << len;
		ASSERT_NE(0u, id);
		ASSERT_EQ(0u, shadow.count(id)) << "id reused while live";
		shadow[id] = bytes;
	}
	check_all("after fill");
	// Refused: all objects above a page or none.
	EXPECT_TRUE(refused == 0 || refused == 120) << d->name << " refused " << refused;
	for (auto it = shadow.begin(); it != shadow.end();) {
		if (rng() % 2) {
			ASSERT_EQ(0, d->release(p.pool, it->first));
			it = shadow.erase(it);
		} else {
			++it;
		}
	}
	check_all("after releasing half");
	if (d->compact)
		d->compact(p.pool);
	check_all("after compaction");
	for (const auto &kv : shadow)
		ASSERT_EQ(0, d->release(p.pool, kv.first));
	shadow.clear();
	if (d != &zpool_malloc_driver) {
		// Every page goes back, but for the pools' caches of emptied
		// pages: xvmalloc's (XV_CACHE_BYTES_DEFAULT) and zsmalloc's (at
		// most ZS_DEFAULT_CACHE_PAGES per shard), which are the pool's.
		std::string name = d->name;
		uint64_t cache = name == "xvmalloc" ? XV_CACHE_BYTES_DEFAULT / mp_page_size()
				 : name.compare(0, 8, "zsmalloc") == 0
					 ? (uint64_t)ZS_DEFAULT_CACHE_PAGES * ZS_MAX_SHARDS
					 : 0;
		EXPECT_LE(p.usage().pages, cache) << d->name << " kept pages";
	}
}

TEST_P(EveryDriver, RefusesBadSizes)
{
	const zpool_driver *d = zpool_find_driver(GetParam().c_str());
	Pool p(d);
	std::vector<unsigned char> buf(2 * mp_page_size());
	uint64_t id = 0;

	std::vector<unsigned char> big(ZPOOL_MAX_OBJECT + 1);

	EXPECT_EQ(-EINVAL, d->store(p.pool, buf.data(), 0, &id));
	EXPECT_EQ(-EINVAL, d->store(p.pool, big.data(), big.size(), &id));
	// Above a page: stored, or refused as too large for the allocator.
	int err = d->store(p.pool, buf.data(), mp_page_size() + 1, &id);
	EXPECT_TRUE(err == 0 || err == -ENOSPC) << err;
	if (!err) {
		EXPECT_EQ(0, d->release(p.pool, id));
	}
	// The single-page allocators refuse it.
	if (std::string(d->name) == "xvmalloc" || std::string(d->name) == "zbud") {
		EXPECT_EQ(-ENOSPC, err);
	}
}

TEST_P(EveryDriver, AccountingAddsUp)
{
	const zpool_driver *d = zpool_find_driver(GetParam().c_str());
	Pool p(d);

	std::vector<uint64_t> ids;

	for (int i = 0; i < 100; i++)
		ids.push_back(p.store(700, (unsigned char)i));
	zpool_usage u = p.usage();
	if (d == &zpool_malloc_driver) {
		EXPECT_EQ(0u, u.metadata_bytes);
		EXPECT_EQ(0u, u.pages);
	} else {
		EXPECT_GT(u.pages, 0u);
		EXPECT_EQ(u.pages * mp_page_size() + u.metadata_bytes, u.bytes_used);
		EXPECT_GE(u.bytes_used, 70000u); // at least the live bytes
	}
	for (uint64_t id : ids)
		ASSERT_EQ(0, d->release(p.pool, id));
}

INSTANTIATE_TEST_SUITE_P(Drivers, EveryDriver,
			 ::testing::Values("zsmalloc", "zsmalloc-scattered", "zsmalloc-remap",
					   "xvmalloc", "malloc", "slub", "slob", "zbud"));

TEST(Registry, FindsEveryDriverByName)
{
	size_t n = 0;
	const zpool_driver *const *all = zpool_drivers(&n);

	ASSERT_EQ(8u, n);
	for (size_t i = 0; i < n; i++) {
		EXPECT_EQ(all[i], zpool_find_driver(all[i]->name));
		EXPECT_NE(nullptr, zpool_label(all[i]));
	}
	EXPECT_EQ(nullptr, zpool_find_driver("tlsf"));
	EXPECT_EQ(nullptr, zpool_find_driver(""));
}

// SLUB: 100 bytes go to kmalloc-128, 32 per 4 KiB slab; 97 bytes too; 4096
// bytes to kmalloc-4096, one per slab; 65 bytes to kmalloc-96, 42 per slab.
TEST(Slub, RoundsUpToItsCaches)
{
	if (!four_kib_pages())
		GTEST_SKIP() << "hand-computed for 4 KiB pages";
	Pool p(&zpool_slub_driver);
	std::vector<uint64_t> ids;

	for (int i = 0; i < 32; i++)
		ids.push_back(p.store(i % 2 ? 100 : 97, 1));
	EXPECT_EQ(1u, p.usage().pages);
	ids.push_back(p.store(128, 2));
	EXPECT_EQ(2u, p.usage().pages);
	p.store(4096, 3);
	EXPECT_EQ(3u, p.usage().pages);
	for (int i = 0; i < 42; i++)
		p.store(65, 4);
	EXPECT_EQ(4u, p.usage().pages);
	p.store(96, 5);
	EXPECT_EQ(5u, p.usage().pages);
	// Emptying the second kmalloc-128 slab gives its page back; freeing one
	// object of the first makes room without a new page.
	ASSERT_EQ(0, zpool_slub_driver.release(p.pool, ids.back()));
	EXPECT_EQ(4u, p.usage().pages);
	ASSERT_EQ(0, zpool_slub_driver.release(p.pool, ids[0]));
	p.store(120, 6);
	EXPECT_EQ(4u, p.usage().pages);
	EXPECT_EQ(0u, p.usage().oversize_objects);
}

// Objects above a page, on SLUB and SLOB as kmalloc stores them: alone in
// the smallest power of two of pages that holds them (get_order), the run's
// record counted as metadata; the pages go back when they are released.
TEST(Models, LargeObjectsTakePowerOfTwoPages)
{
	if (!four_kib_pages())
		GTEST_SKIP() << "hand-computed for 4 KiB pages";
	for (const zpool_driver *d : { &zpool_slub_driver, &zpool_slob_driver }) {
		Pool p(d);
		uint64_t meta = p.usage().metadata_bytes;
		uint64_t a = p.store(4097, 1); // 2 pages
		EXPECT_EQ(2u, p.usage().pages) << d->name;
		uint64_t b = p.store(20000, 2); // 5 pages needed: 8
		EXPECT_EQ(10u, p.usage().pages) << d->name;
		uint64_t c = p.store(65536, 3); // 16
		EXPECT_EQ(26u, p.usage().pages) << d->name;
		EXPECT_EQ(3u, p.usage().oversize_objects) << d->name;
		EXPECT_GT(p.usage().metadata_bytes, meta) << d->name;
		std::vector<unsigned char> out(65536);
		ASSERT_EQ(0, d->load(p.pool, c, out.data(), 65536));
		EXPECT_EQ(std::vector<unsigned char>(65536, 3), out);
		ASSERT_EQ(0, d->load(p.pool, b, out.data(), 20000));
		EXPECT_EQ(2, out[19999]);
		ASSERT_EQ(0, d->release(p.pool, b));
		EXPECT_EQ(18u, p.usage().pages) << d->name;
		ASSERT_EQ(0, d->release(p.pool, a));
		ASSERT_EQ(0, d->release(p.pool, c));
		EXPECT_EQ(0u, p.usage().pages) << d->name;
		EXPECT_EQ(meta, p.usage().metadata_bytes) << d->name;
	}
}

// SLOB: a 100-byte object takes round_up(100 + 2, 4) = 104 bytes; a page
// has (4096 - 2) / 4 = 1023 units of 4 bytes: 39 objects of 26 units (1014).
// Objects above 4090 bytes go one per page.
TEST(Slob, FirstFitWithATwoByteHeader)
{
	if (!four_kib_pages())
		GTEST_SKIP() << "hand-computed for 4 KiB pages";
	Pool p(&zpool_slob_driver);
	std::vector<uint64_t> ids;

	for (int i = 0; i < 39; i++)
		ids.push_back(p.store(100, (unsigned char)i));
	EXPECT_EQ(1u, p.usage().pages);
	// 9 units are left: a 34-byte object (36 bytes, 9 units) still fits,
	// a 35-byte one (37 -> 40 bytes, 10 units) does not.
	p.store(34, 0x34);
	EXPECT_EQ(1u, p.usage().pages);
	uint64_t second = p.store(35, 0x35);
	EXPECT_EQ(2u, p.usage().pages);
	// First fit: a hole in the first page is found before the second page.
	ASSERT_EQ(0, zpool_slob_driver.release(p.pool, ids[10]));
	p.store(101, 0x65); // 103 -> 104 bytes: exactly the hole
	EXPECT_EQ(2u, p.usage().pages);
	// Freed neighbours merge: two adjacent 104-byte holes hold 206 bytes.
	ASSERT_EQ(0, zpool_slob_driver.release(p.pool, ids[20]));
	ASSERT_EQ(0, zpool_slob_driver.release(p.pool, ids[21]));
	p.store(206, 0x66); // 208 bytes = 52 units
	EXPECT_EQ(2u, p.usage().pages);
	ASSERT_EQ(0, zpool_slob_driver.release(p.pool, second));
	EXPECT_EQ(1u, p.usage().pages);
	p.store(4090, 7);
	EXPECT_EQ(2u, p.usage().pages);
	EXPECT_EQ(0u, p.usage().oversize_objects);
	p.store(4091, 8);
	EXPECT_EQ(3u, p.usage().pages);
	EXPECT_EQ(1u, p.usage().oversize_objects);
	// A double free is refused.
	ASSERT_EQ(0, zpool_slob_driver.release(p.pool, ids[5]));
	EXPECT_EQ(-EINVAL, zpool_slob_driver.release(p.pool, ids[5]));
}

// zbud: 64-byte chunks, one header chunk, 63 chunks for two buddies.
TEST(Zbud, TwoBuddiesPerPage)
{
	if (!four_kib_pages())
		GTEST_SKIP() << "hand-computed for 4 KiB pages";
	Pool p(&zpool_zbud_driver);

	uint64_t a = p.store(1000, 1); // 16 chunks
	p.store(1000, 2);              // buddy of a: same page
	EXPECT_EQ(1u, p.usage().pages);
	p.store(30, 3); // 1 chunk; a page holds two objects at most
	EXPECT_EQ(2u, p.usage().pages);
	p.store(2000, 4); // 32 chunks; the 30-byte page has 62 free: fits
	EXPECT_EQ(2u, p.usage().pages);
	uint64_t big = p.store(2000, 5); // 32 chunks: new page
	p.store(1985, 6);                // 32 chunks: 32 + 32 > 63, new page
	EXPECT_EQ(4u, p.usage().pages);
	p.store(1984, 7); // 31 chunks: buddy of `big` or of the last one
	EXPECT_EQ(4u, p.usage().pages);
	p.store(3968, 8); // 62 chunks: the largest zbud object
	EXPECT_EQ(5u, p.usage().pages);
	EXPECT_EQ(0u, p.usage().oversize_objects);
	p.store(3969, 9); // too large for zbud: one per page, counted
	EXPECT_EQ(6u, p.usage().pages);
	EXPECT_EQ(1u, p.usage().oversize_objects);
	ASSERT_EQ(0, zpool_zbud_driver.release(p.pool, a));
	EXPECT_EQ(-EINVAL, zpool_zbud_driver.release(p.pool, a));
	EXPECT_EQ(6u, p.usage().pages);
	(void)big;
}

// A driver of a test's own: the calls every driver has, the optional ones
// (compact, class_stats, check, label) left NULL.
zpool_driver test_driver(const char *name, const char *summary, unsigned flags,
			 void *(*create)(void), void (*destroy)(void *),
			 int (*store)(void *, const void *, size_t, uint64_t *),
			 int (*load)(void *, uint64_t, void *, size_t),
			 int (*release)(void *, uint64_t), void (*usage)(void *, zpool_usage *))
{
	zpool_driver d{};
	d.name = name;
	d.summary = summary;
	d.flags = flags;
	d.create = create;
	d.destroy = destroy;
	d.store = store;
	d.load = load;
	d.release = release;
	d.usage = usage;
	return d;
}

// A driver that flips one byte of what it returns: density's verification
// must find every such object and fail the run.
std::map<uint64_t, std::vector<unsigned char>> *liar_store;

void *liar_create()
{
	return liar_store = new std::map<uint64_t, std::vector<unsigned char>>();
}
void liar_destroy(void *p)
{
	delete static_cast<std::map<uint64_t, std::vector<unsigned char>> *>(p);
}
int liar_store_fn(void *p, const void *src, size_t len, uint64_t *id)
{
	auto *m = static_cast<std::map<uint64_t, std::vector<unsigned char>> *>(p);
	static uint64_t next = 1;
	const unsigned char *s = static_cast<const unsigned char *>(src);
	(*m)[next] = std::vector<unsigned char>(s, s + len);
	*id = next++;
	return 0;
}
int liar_load(void *p, uint64_t id, void *dst, size_t len)
{
	auto *m = static_cast<std::map<uint64_t, std::vector<unsigned char>> *>(p);
	std::memcpy(dst, (*m)[id].data(), len);
	if (id % 3 == 0)
		static_cast<unsigned char *>(dst)[len / 2] ^= 0x40;
	return 0;
}
int liar_release(void *p, uint64_t id)
{
	static_cast<std::map<uint64_t, std::vector<unsigned char>> *>(p)->erase(id);
	return 0;
}
void liar_usage(void *, zpool_usage *u)
{
	*u = zpool_usage{};
}

TEST(Verification, CatchesCorruptedObjects)
{
	zpool_driver liar = test_driver("liar", "flips a byte of every third object", 0,
					liar_create, liar_destroy, liar_store_fn, liar_load,
					liar_release, liar_usage);

	workload wl;
	ASSERT_EQ(0, workload_init(&wl, mp_page_size(), 0));
	std::vector<unsigned char> page(mp_page_size());
	std::mt19937_64 rng(7);
	for (int i = 0; i < 60; i++) {
		for (size_t k = 0; k < page.size(); k++)
			page[k] = k < 500 ? (unsigned char)rng() : (unsigned char)i;
		ASSERT_EQ(0, workload_add_page(&wl, page.data(), 0));
	}
	run_plan plan{};
	plan.wl = &wl;
	plan.objects = wl.nr_pages;
	plan.churn = 10;
	plan.seed = 3;
	static run_result res;
	run_driver(&liar, &plan, &res);
	EXPECT_TRUE(res.failed);
	EXPECT_GT(res.phase[PHASE_FILL].mismatches, 0u);
	EXPECT_EQ(60u, res.phase[PHASE_FILL].mismatches + res.phase[PHASE_FILL].verified);
	EXPECT_NE(nullptr, std::strstr(res.error, "differs from its original page")) << res.error;

	// The honest drivers pass the same run.
	run_driver(&zpool_slub_driver, &plan, &res);
	EXPECT_FALSE(res.failed) << res.error;
	EXPECT_EQ(NR_PHASES, res.phases);
	EXPECT_EQ(60u, res.phase[PHASE_FILL].verified);
	EXPECT_EQ(30u, res.phase[PHASE_COMPACT].verified);
	workload_free(&wl);
}

// 4,000 pages of ~2 KB of random bytes, and a plan of 20,000 objects.
struct ChildRun {
	ChildRun()
	{
		EXPECT_EQ(0, workload_init(&wl, mp_page_size(), 0));
		std::vector<unsigned char> page(mp_page_size());
		std::mt19937_64 rng(11);
		for (int i = 0; i < 4000; i++) {
			for (size_t k = 0; k < page.size(); k++)
				page[k] = k < 2000 ? (unsigned char)rng() : 0;
			EXPECT_EQ(0, workload_add_page(&wl, page.data(), 0));
		}
		plan.wl = &wl;
		plan.objects = 20000;
		plan.resample = 1;
		plan.churn = 0;
		plan.seed = 5;
	}
	~ChildRun()
	{
		workload_free(&wl);
	}
	double pct(const phase_result &p, uint64_t bytes)
	{
		return 100.0 * (double)bytes / (double)p.live_bytes;
	}
	workload wl;
	run_plan plan{};
	run_result res;
};

// The malloc driver in a process of its own (as density runs it): its
// figure is the process's resident growth, so a fill of ~2 KB objects lands
// near 100 % of the live bytes, and half of them freed leaves the pages held;
// glibc's own account (held from the OS) says much the same.
TEST(MallocDriver, MeasuredInAChildProcess)
{
#ifdef ZSALLOC_ASAN
	GTEST_SKIP() << "ASan's allocator adds redzones and a quarantine";
#endif
	static ChildRun c;
	ASSERT_EQ(0, run_driver_isolated(&zpool_malloc_driver, &c.plan, &c.res)) << c.res.error;
	ASSERT_EQ(NR_PHASES, c.res.phases);
	EXPECT_TRUE(c.res.resident);
	const phase_result &fill = c.res.phase[PHASE_FILL];
	EXPECT_EQ(20000u, fill.verified);
	EXPECT_EQ(fill.used, fill.resident_bytes);
	EXPECT_GT(c.pct(fill, fill.used), 97.0);
	EXPECT_LT(c.pct(fill, fill.used), 115.0);
	ASSERT_NE(ZPOOL_NO_ACCOUNT, fill.usage.bytes_used);
	EXPECT_GT(c.pct(fill, fill.usage.bytes_used), 97.0);
	EXPECT_LT(c.pct(fill, fill.usage.bytes_used), 115.0);
	// Half freed at random: no whole page empties, the figure stays.
	const phase_result &discard = c.res.phase[PHASE_DISCARD];
	EXPECT_GT(discard.used, fill.used * 8 / 10);
}

// zsmalloc measured the same way: its resident growth holds at least its
// pages (counted where they live, private memory or memfd) and not much
// more than its own account; automatic compaction gives pages back as the
// objects go, and the figure follows.
TEST(ZsmallocDriver, ResidentFollowsItsAccount)
{
#ifdef ZSALLOC_ASAN
	GTEST_SKIP() << "ASan's allocator adds redzones and a quarantine";
#endif
	for (const zpool_driver *d : { &zpool_zsmalloc_driver, &zpool_zsmalloc_remap_driver }) {
		static ChildRun c;
		ASSERT_EQ(0, run_driver_isolated(d, &c.plan, &c.res)) << c.res.error;
		ASSERT_EQ(NR_PHASES, c.res.phases);
		EXPECT_TRUE(c.res.resident) << d->name;
		for (int ph = 0; ph < NR_PHASES; ph++) {
			const phase_result &p = c.res.phase[ph];
			EXPECT_EQ(p.used, p.resident_bytes);
			EXPECT_GE(p.resident_bytes, p.usage.pages * mp_page_size())
				<< d->name << " " << phase_names[ph];
			EXPECT_LE(p.resident_bytes, p.usage.bytes_used * 11 / 10 + (2u << 20))
				<< d->name << " " << phase_names[ph] << ": account "
				<< p.usage.bytes_used << ", pages " << p.usage.pages;
		}
		EXPECT_LT(c.res.phase[PHASE_DISCARD].used * 10, c.res.phase[PHASE_FILL].used * 7)
			<< d->name << ": discarding half gave back too little";
		EXPECT_LE(c.res.phase[PHASE_COMPACT].used, c.res.phase[PHASE_DISCARD].used)
			<< d->name;
	}
}

// A parent whose heap holds freed space and whose glibc thresholds were
// raised by freeing a large mmapped block, as after any earlier work
// (density reading its input, the tests before this one): the child's
// figures must not change with it. Without resident_fresh_malloc() a
// calloc() of a pool's span-sized tables (a zsmalloc pool's 3.3 MB, which
// it writes only a few KB of) came from that free space, was cleared, and
// counted as resident; from mmap, as in a fresh process, it costs the
// pages written.
TEST(Resident, TheParentsFreedHeapIsNotCounted)
{
#ifdef ZSALLOC_ASAN
	GTEST_SKIP() << "ASan's allocator adds redzones and a quarantine";
#endif
	std::vector<unsigned char *> blocks;
	unsigned sum = 0;

	for (int i = 0; i < 32768; i++) { // 32 MiB of heap, used
		blocks.push_back(static_cast<unsigned char *>(malloc(1024)));
		ASSERT_NE(nullptr, blocks.back());
		std::memset(blocks.back(), i, 1024);
	}
	unsigned char *guard = blocks.back(); // the highest: the heap cannot shrink
	blocks.pop_back();
	for (unsigned char *b : blocks) {
		sum += b[100];
		free(b);
	}
	auto *big = static_cast<unsigned char *>(malloc(30u << 20));
	ASSERT_NE(nullptr, big);
	std::memset(big, 1, 30u << 20);
	sum += big[12345];
	free(big); // a freed mmapped block: glibc raises its thresholds to it
	for (const zpool_driver *d : { &zpool_zsmalloc_driver, &zpool_xvmalloc_driver }) {
		static ChildRun c;
		ASSERT_EQ(0, run_driver_isolated(d, &c.plan, &c.res)) << c.res.error;
		ASSERT_EQ(NR_PHASES, c.res.phases);
		for (int ph = 0; ph < NR_PHASES; ph++) {
			const phase_result &p = c.res.phase[ph];
			EXPECT_LE(p.resident_bytes, p.usage.bytes_used + (1u << 20))
				<< d->name << " " << phase_names[ph] << ": account "
				<< p.usage.bytes_used;
		}
	}
	free(guard);
	EXPECT_NE(0u, sum + 1); // the blocks were really written
}

// An allocator that holds nothing: its objects are the workload's own bytes
// (the id is their address). Measured as a real one, in a child, its
// resident growth must be nothing in every phase: what the run itself
// holds (its arrays of 16 bytes an object, 320 KB here; the verification's
// buffers; a checker's scratch) is in the baseline or given back.
void *null_create()
{
	static int pool;
	return &pool;
}
void null_destroy(void *)
{
}
int null_store(void *, const void *src, size_t, uint64_t *id)
{
	*id = (uint64_t)(uintptr_t)src;
	return 0;
}
int null_load(void *, uint64_t id, void *dst, size_t len)
{
	std::memcpy(dst, reinterpret_cast<const void *>((uintptr_t)id), len);
	return 0;
}
int null_release(void *, uint64_t)
{
	return 0;
}
void null_usage(void *, zpool_usage *u)
{
	*u = zpool_usage{};
}

TEST(Resident, AnAllocatorThatHoldsNothingGrowsByNothing)
{
#ifdef ZSALLOC_ASAN
	GTEST_SKIP() << "ASan's allocator adds redzones and a quarantine";
#endif
	zpool_driver null = test_driver("null", "holds nothing: ids are the workload's bytes",
					ZPOOL_REAL, null_create, null_destroy, null_store,
					null_load, null_release, null_usage);
	static ChildRun c;
	ASSERT_EQ(0, run_driver_isolated(&null, &c.plan, &c.res)) << c.res.error;
	ASSERT_EQ(NR_PHASES, c.res.phases);
	EXPECT_TRUE(c.res.resident);
	for (int ph = 0; ph < NR_PHASES; ph++)
		EXPECT_LE(c.res.phase[ph].resident_bytes, 64u << 10) << phase_names[ph];
}

} // namespace
