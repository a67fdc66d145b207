// Soundness under interleavings and misuse (issue 14): a free and a map of
// one handle never both succeed, whatever the timing; every call sequence
// means the same in every layout and map method; a thread that exits with
// mappings ends them; a bad handle is EINVAL before any limit is looked at.
#include <errno.h>
#include <stdint.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using zs_test::Pool;

Pool make(zs_layout layout, zs_map_method method = ZS_MAP_DEFAULT, int auto_compact = 1)
{
	zs_config cfg = {};
	cfg.name = "soundness";
	cfg.layout = layout;
	cfg.map_method = method;
	cfg.no_auto_compact = !auto_compact;
	return Pool(zs_create_pool_config(&cfg));
}

// The three ways a pool can show an object: contiguous, scattered + copy,
// scattered + remap.
struct Kind {
	const char *name;
	zs_layout layout;
	zs_map_method method;
};
const Kind kKinds[] = {
	{ "contiguous", ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT },
	{ "scattered-copy", ZS_LAYOUT_SCATTERED, ZS_MAP_COPY },
	{ "scattered-remap", ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP },
};

// Runs @theirs on a new thread and @mine on this one, started together:
// both spin until the other is there, then one waits a little (@round says
// which and how long), so that over the rounds each goes first, and in
// some they meet. Returns when both have run.
template <typename F, typename G> void race(int round, F theirs, G mine)
{
	std::atomic<bool> go{ false };
	std::atomic<bool> ready{ false };
	unsigned delay = (unsigned)(round % 32) * 40;
	std::thread other([&] {
		ready.store(true);
		while (!go.load())
			;
		for (volatile unsigned d = 0; d < (round % 2 ? delay : 0); d++)
			;
		theirs();
	});
	while (!ready.load())
		;
	go.store(true);
	for (volatile unsigned d = 0; d < (round % 2 ? 0 : delay); d++)
		;
	mine();
	other.join();
}

// A thread frees x while this one maps it, with a compactor running under
// both on a fragmented class. Either the map fails (EINVAL) or the free
// does (-EBUSY); if both succeeded, the next object of the class could
// take x's bytes and writes through the stale pointer would land in it.
void free_map_race(const Kind &k)
{
	Pool pool = make(k.layout, k.method);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	const size_t size = 1000;
	std::vector<zs_handle> filler;
	for (int i = 0; i < 60000; i++)
		filler.push_back(zs_malloc(p, size, 0));
	for (size_t i = 0; i < filler.size(); i += 2)
		ASSERT_EQ(zs_free(p, filler[i]), 0);
	std::atomic<bool> stop{ false };
	std::thread compactor([&] {
		while (!stop.load())
			zs_compact(p);
	});
	int both = 0, maps_won = 0, frees_won = 0;
	for (int round = 0; round < 200; round++) {
		zs_handle x = zs_malloc(p, size, 0);
		ASSERT_NE(x, 0u);
		std::atomic<int> free_rc{ 1 };
		void *m = nullptr;
		int map_errno = 0;
		race(
			round, [&] { free_rc.store(zs_free(p, x)); },
			[&] {
				m = zs_map_object(p, x, ZS_MM_RW);
				map_errno = errno;
			});
		if (m && free_rc.load() == 0)
			both++;
		if (m) {
			EXPECT_EQ(free_rc.load(), -EBUSY);
			memset(m, 'M', size);
			zs_unmap_object(p, x);
			maps_won++;
			EXPECT_EQ(zs_free(p, x), 0) << "the map ended: the free goes through";
		} else {
			EXPECT_EQ(map_errno, EINVAL);
			EXPECT_EQ(free_rc.load(), 0);
			frees_won++;
		}
	}
	stop.store(true);
	compactor.join();
	printf("%s: map first %d times, free first %d times\n", k.name, maps_won, frees_won);
	EXPECT_EQ(both, 0) << "a free and a map of the same object both succeeded";
	EXPECT_EQ(zs_check(p), 0u);
}

TEST(Soundness, FreeAndMapNeverBothSucceed)
{
	for (const Kind &k : kKinds) {
		SCOPED_TRACE(k.name);
		free_map_race(k);
	}
}

// The same with reads and writes (zs_obj_read_begin, zs_obj_write) racing
// frees of the object, each checked: a read that succeeds sees the bytes.
TEST(Soundness, ReadsRacingFreesSeeTheirObject)
{
	Pool pool = make(ZS_LAYOUT_CONTIGUOUS);
	zs_pool *p = pool.get();
	const size_t size = 2000;
	std::vector<uint8_t> want = test_content::bytes(7, size), buf(size);
	for (int round = 0; round < 500; round++) {
		zs_handle x = zs_malloc(p, size, 0);
		ASSERT_EQ(zs_obj_write(p, x, want.data(), size), 0);
		std::atomic<int> free_rc{ 1 };
		const void *r = nullptr;
		// The free runs while the read holds the object, or before it.
		race(
			round, [&] { free_rc.store(zs_free(p, x)); },
			[&] { r = zs_obj_read_begin(p, x, size, buf.data()); });
		if (r) {
			EXPECT_EQ(memcmp(r, want.data(), size), 0);
			EXPECT_EQ(free_rc.load(), -EBUSY) << "freed while being read";
			EXPECT_EQ(zs_obj_read_end(p, x, r), 0);
		} else {
			EXPECT_EQ(free_rc.load(), 0);
		}
		if (free_rc.load() != 0) {
			ASSERT_EQ(zs_free(p, x), 0);
		}
	}
	EXPECT_EQ(zs_check(p), 0u);
}

// With ZS_MAX_MAPPINGS held, a freed or never-returned handle is still
// EINVAL: the handle is validated before the limit.
TEST(Soundness, BadHandleIsEinvalWhateverTheMappingsHeld)
{
	for (const Kind &k : kKinds) {
		SCOPED_TRACE(k.name);
		Pool pool = make(k.layout, k.method);
		zs_pool *p = pool.get();
		std::vector<zs_handle> held;
		for (int i = 0; i < ZS_MAX_MAPPINGS; i++) {
			held.push_back(zs_malloc(p, 3000, 0));
			ASSERT_NE(zs_map_object(p, held.back(), ZS_MM_RO), nullptr);
		}
		zs_handle freed = zs_malloc(p, 100, 0);
		ASSERT_EQ(zs_free(p, freed), 0);
		for (zs_handle bad : { freed, (zs_handle)0, (zs_handle)12345, freed ^ 1 })
			EXPECT_EQ(zs_test::refused_as_bad(p, bad, 10), "") << "handle " << bad;
		// A good handle now is the limit's business.
		zs_handle good = zs_malloc(p, 100, 0);
		errno = 0;
		EXPECT_EQ(zs_map_object(p, good, ZS_MM_RO), nullptr);
		EXPECT_EQ(errno, EBUSY);
		for (zs_handle h : held)
			zs_unmap_object(p, h);
		EXPECT_EQ(zs_free(p, good), 0);
		for (zs_handle h : held)
			EXPECT_EQ(zs_free(p, h), 0);
	}
}

// A thread that exits holding an RW mapping: its writes are kept and the
// object frees afterwards (no pin left behind), in every layout.
TEST(Soundness, ThreadExitEndsItsMappings)
{
	for (const Kind &k : kKinds) {
		SCOPED_TRACE(k.name);
		Pool pool = make(k.layout, k.method, 0);
		zs_pool *p = pool.get();
		// A straddling object: page size / 3 bytes, the second object.
		const size_t size = 1360;
		zs_handle a = zs_malloc(p, size, 0), b = zs_malloc(p, size, 0);
		ASSERT_TRUE(zs_test::write_object(p, b, 1, size, 0));
		std::thread t([&] {
			void *m = zs_map_object(p, b, ZS_MM_RW);
			ASSERT_NE(m, nullptr);
			memcpy(m, test_content::bytes(2, size).data(), size);
			char buf[4096];
			ASSERT_NE(zs_obj_read_begin(p, a, size, buf), nullptr);
			// exits with both
		});
		t.join();
		EXPECT_TRUE(zs_test::check_object_all(p, b, 2, size))
			<< zs_test::explain_object(p, b, 2, size);
		EXPECT_EQ(zs_free(p, a), 0);
		EXPECT_EQ(zs_free(p, b), 0);
		EXPECT_EQ(zs_check(p), 0u);
	}
}

// ---- One meaning per call sequence ---------------------------------------

// Random sequences of map (RW, RO, WO), unmap, read_begin/end, obj_write and
// free over in-page and straddling objects, the same sequence (the same
// seed) on a pool of each kind: every call returns what the model says and
// every read shows the model's bytes (all writes in program order, nested
// maps sharing one view), so all kinds agree. (One pool at a time: a
// thread's ZS_MAX_MAPPINGS count the mappings of all pools.)
struct Mapping {
	zs_handle h;
	uint8_t *p[1];
	bool writable;
};

struct ModelObj {
	std::vector<uint8_t> bytes;
	zs_handle h[1];
	int maps = 0;
};

class Sequences
{
      public:
	Sequences(uint64_t seed, const Kind &kind) : rng(seed), kinds(&kind)
	{
		pools.push_back(make(kind.layout, kind.method, 0));
		p[0] = pools.back().get();
	}

	void step()
	{
		switch (rng() % 8) {
		case 0:
		case 1:
			alloc();
			break;
		case 2:
			map();
			break;
		case 3:
			unmap();
			break;
		case 4:
			write_through();
			break;
		case 5:
			obj_write();
			break;
		case 6:
			read();
			break;
		default:
			release();
		}
	}

	void finish()
	{
		while (!maps.empty())
			unmap();
		for (auto &o : objs)
			for (int i = 0; i < 1; i++)
				check(o.second, i, "finish");
		for (int i = 0; i < 1; i++)
			EXPECT_EQ(zs_check(p[i]), 0u) << kinds[i].name;
	}

      private:
	// Sizes whose objects straddle pages in the scattered layout, and not.
	size_t pick_size()
	{
		static const size_t sizes[] = { 16, 100, 1360, 1392, 2720, 3000, 4096, 700 };
		return sizes[rng() % (sizeof(sizes) / sizeof(sizes[0]))];
	}

	void alloc()
	{
		if (objs.size() > 40)
			return;
		ModelObj o;
		o.bytes = test_content::bytes(rng(), pick_size());
		for (int i = 0; i < 1; i++) {
			o.h[i] = zs_malloc(p[i], o.bytes.size(), 0);
			ASSERT_NE(o.h[i], 0u);
			ASSERT_EQ(zs_obj_write(p[i], o.h[i], o.bytes.data(), o.bytes.size()), 0);
		}
		objs[next_id++] = o;
	}

	ModelObj *any(int *id)
	{
		if (objs.empty())
			return nullptr;
		auto it = objs.begin();
		std::advance(it, (long)(rng() % objs.size()));
		*id = it->first;
		return &it->second;
	}

	void map()
	{
		int id;
		ModelObj *o = any(&id);
		if (!o || maps.size() >= ZS_MAX_MAPPINGS)
			return;
		zs_mapmode mm = (zs_mapmode)(rng() % 3);
		Mapping m = { (zs_handle)id, {}, mm != ZS_MM_RO };
		for (int i = 0; i < 1; i++) {
			errno = 0;
			m.p[i] = static_cast<uint8_t *>(zs_map_object(p[i], o->h[i], mm));
			ASSERT_NE(m.p[i], nullptr)
				<< kinds[i].name << ": " << strerror(errno) << ", " << maps.size()
				<< " held, size " << o->bytes.size();
		}
		if (mm == ZS_MM_WO) // contents undefined until written: write it all
			for (size_t j = 0; j < o->bytes.size(); j++)
				o->bytes[j] = (uint8_t)rng();
		for (int i = 0; i < 1; i++) {
			if (mm == ZS_MM_WO)
				memcpy(m.p[i], o->bytes.data(), o->bytes.size());
			else
				EXPECT_EQ(memcmp(m.p[i], o->bytes.data(), o->bytes.size()), 0)
					<< kinds[i].name << ": a map shows other bytes";
		}
		o->maps++;
		maps.push_back(m);
	}

	void unmap()
	{
		if (maps.empty())
			return;
		// The latest mapping of a random mapped handle (unmap takes the latest).
		Mapping m = maps[rng() % maps.size()];
		for (size_t j = maps.size(); j-- > 0;)
			if (maps[j].h == m.h) {
				maps.erase(maps.begin() + (long)j);
				break;
			}
		ModelObj &o = objs[(int)m.h];
		for (int i = 0; i < 1; i++) {
			errno = 0;
			zs_unmap_object(p[i], o.h[i]);
			EXPECT_EQ(errno, 0) << kinds[i].name;
		}
		o.maps--;
	}

	void write_through()
	{
		if (maps.empty())
			return;
		Mapping &m = maps[rng() % maps.size()];
		if (!m.writable)
			return;
		ModelObj &o = objs[(int)m.h];
		size_t off = rng() % o.bytes.size(), n = 1 + rng() % (o.bytes.size() - off);
		std::vector<uint8_t> b = test_content::bytes(rng(), n);
		memcpy(&o.bytes[off], b.data(), n);
		for (int i = 0; i < 1; i++)
			memcpy(m.p[i] + off, b.data(), n);
		// Every live mapping of the object shows the write at once.
		for (const Mapping &other : maps) {
			if (other.h != m.h)
				continue;
			for (int i = 0; i < 1; i++) {
				EXPECT_EQ(memcmp(other.p[i], o.bytes.data(), o.bytes.size()), 0)
					<< kinds[i].name << ": nested maps disagree";
			}
		}
	}

	void obj_write()
	{
		int id;
		ModelObj *o = any(&id);
		if (!o)
			return;
		size_t n = 1 + rng() % o->bytes.size();
		std::vector<uint8_t> b = test_content::bytes(rng(), n);
		memcpy(o->bytes.data(), b.data(), n);
		for (int i = 0; i < 1; i++)
			ASSERT_EQ(zs_obj_write(p[i], o->h[i], b.data(), n), 0) << kinds[i].name;
		for (const Mapping &m : maps) {
			if ((int)m.h != id)
				continue;
			for (int i = 0; i < 1; i++) {
				EXPECT_EQ(memcmp(m.p[i], o->bytes.data(), o->bytes.size()), 0)
					<< kinds[i].name << ": a mapping missed zs_obj_write";
			}
		}
	}

	void check(const ModelObj &o, int i, const char *when)
	{
		std::vector<uint8_t> buf(o.bytes.size());
		const void *r = zs_obj_read_begin(p[i], o.h[i], o.bytes.size(), buf.data());
		ASSERT_NE(r, nullptr) << kinds[i].name;
		EXPECT_EQ(memcmp(r, o.bytes.data(), o.bytes.size()), 0)
			<< kinds[i].name << ": " << when << " reads other bytes";
		EXPECT_EQ(zs_obj_read_end(p[i], o.h[i], r), 0);
	}

	void read()
	{
		int id;
		ModelObj *o = any(&id);
		if (o && maps.size() < ZS_MAX_MAPPINGS)
			for (int i = 0; i < 1; i++)
				check(*o, i, "read_begin");
	}

	void release()
	{
		int id;
		ModelObj *o = any(&id);
		if (!o)
			return;
		for (int i = 0; i < 1; i++)
			EXPECT_EQ(zs_free(p[i], o->h[i]), o->maps ? -EBUSY : 0) << kinds[i].name;
		if (!o->maps)
			objs.erase(id);
	}

	std::mt19937_64 rng;
	const Kind *kinds;
	std::vector<Pool> pools;
	zs_pool *p[1];
	std::map<int, ModelObj> objs;
	std::vector<Mapping> maps;
	int next_id = 1;
};

TEST(Soundness, EverySequenceMeansTheSameInEveryLayout)
{
	const uint64_t seed = zs_test::test_seed(14);
	printf("seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	for (uint64_t run = 0; run < 20; run++)
		for (const Kind &k : kKinds) {
			Sequences s(seed * 100 + run, k);
			for (int i = 0; i < 3000 && !testing::Test::HasFailure(); i++)
				s.step();
			s.finish();
			ASSERT_FALSE(testing::Test::HasFailure()) << "run " << run << " " << k.name;
		}
}

} // namespace
