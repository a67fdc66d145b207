// free_race_test.cc - a zs_free() and a pinning call (zs_map_object,
// zs_obj_read_begin, zs_obj_read_sg_begin, zs_obj_write) of the same handle
// in two threads, held at the worst interleavings by the test hooks of
// zsmalloc/internal.h (this test links //zsmalloc:zsmalloc_test_hooks):
// zs_test_hook_free_scanned runs in zs_free() after it read the slot and
// before it takes the class lock, zs_test_hook_map_looked_up in every
// pinning call after it read the slot and before its compare-and-swap.
//
// The free wins:
//   free thread                         access thread
//   zs_free: reads the slot (live,
//   no pin)
//                                       reads the slot (still live)
//   frees h; the zspage may empty and
//   go to the cache; a new object Y
//   may take the place
//                                       compare-and-swap the pin ...
// The caller's race, but the pool must stay sound: the access must fail
// with EINVAL, not hand out a pointer into memory that now holds Y or was
// given back, and a write must not land in Y (an audit found the old
// design's map did, and a later zs_compact() then freed what the mapping
// still pinned).
//
// The pin wins: the access pins h between the free's read of the slot and
// its compare-and-swap: the free must fail with -EBUSY and change nothing;
// what the access wrote is in the object.
//
// The header: "a map or read that starts while zs_free() runs either
// succeeds (and the free fails with -EBUSY) or fails with EINVAL (and the
// free succeeds): never both, whatever the timing."
#include <errno.h>
#include <semaphore.h>

#include <cstring>
#include <string>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "zsmalloc/zsmalloc.h"

extern "C" {
extern void (*zs_test_hook_map_looked_up)(zs_handle h);
extern void (*zs_test_hook_free_scanned)(zs_handle h);
}

namespace
{

sem_t free_scanned, map_looked_up, free_done, pinned;
zs_handle target;
bool pin_wins; // which interleaving the hooks make

void on_free_scanned(zs_handle h)
{
	if (h != target)
		return;
	sem_post(&free_scanned);
	sem_wait(pin_wins ? &pinned : &map_looked_up);
}

void on_map_looked_up(zs_handle h)
{
	if (h != target || pin_wins)
		return;
	sem_post(&map_looked_up);
	sem_wait(&free_done);
}

enum Call { kMap, kRead, kReadSg, kWrite };

const char *call_name(int c)
{
	static const char *const names[] = { "Map", "Read", "ReadSg", "Write" };
	return names[c];
}

// (call, object size, size of the object that keeps a zspage alive, map
// method: DEFAULT for the contiguous layout, COPY or REMAP the scattered)
using Param = std::tuple<int, size_t, size_t, int>;

class FreeRace : public ::testing::TestWithParam<Param>
{
      protected:
	void SetUp() override
	{
		sem_init(&free_scanned, 0, 0);
		sem_init(&map_looked_up, 0, 0);
		sem_init(&free_done, 0, 0);
		sem_init(&pinned, 0, 0);
		zs_test_hook_free_scanned = on_free_scanned;
		zs_test_hook_map_looked_up = on_map_looked_up;
		zs_config cfg = {};
		cfg.name = "free_race";
		cfg.map_method = (zs_map_method)std::get<3>(GetParam());
		pool = zs_create_pool_config(&cfg);
	}
	void TearDown() override
	{
		zs_test_hook_free_scanned = nullptr;
		zs_test_hook_map_looked_up = nullptr;
		zs_destroy_pool(pool);
		sem_destroy(&free_scanned);
		sem_destroy(&map_looked_up);
		sem_destroy(&free_done);
		sem_destroy(&pinned);
	}

	// The access of @call to @h, its pin held (if it got one) until
	// free_done: 0 or the errno / negative errno it failed with. A map
	// writes 'M' through its pointer; zs_obj_write writes 'W'.
	int access(int call, zs_handle h, size_t size)
	{
		std::string buf(size, '\0');
		zs_segment seg[ZS_MAX_SEGMENTS];
		errno = 0;
		switch (call) {
		case kMap: {
			void *m = zs_map_object(pool, h, ZS_MM_RW);
			int err = m ? 0 : errno;
			if (pin_wins)
				sem_post(&pinned);
			if (m) {
				sem_wait(&free_done);
				std::memset(m, 'M', size); // what a racing user writes
				zs_unmap_object(pool, h);
			}
			return err;
		}
		case kRead: {
			void *r = zs_obj_read_begin(pool, h, size, &buf[0]);
			int err = r ? 0 : errno;
			if (pin_wins)
				sem_post(&pinned);
			if (r) {
				sem_wait(&free_done);
				zs_obj_read_end(pool, h, r);
			}
			return err;
		}
		case kReadSg: {
			int n = zs_obj_read_sg_begin(pool, h, size, seg, ZS_MAX_SEGMENTS);
			if (pin_wins)
				sem_post(&pinned);
			if (n > 0) {
				sem_wait(&free_done);
				zs_obj_read_sg_end(pool, h);
			}
			return n > 0 ? 0 : n;
		}
		default: {
			// Its pin lasts only the call, and no hook holds it
			// there: in the pin-wins order the write is done before
			// the free goes on, which then succeeds.
			std::string w(size, 'W');
			int ret = zs_obj_write(pool, h, w.data(), size);
			if (pin_wins)
				sem_post(&pinned);
			return ret;
		}
		}
	}

	// One free of an object X and one access of it (the parameter's call),
	// which the hooks hold at the interleaving pin_wins says.
	struct Race {
		zs_handle other = 0;  // keeps a zspage alive (the parameter's third size)
		zs_handle x = 0;      // holds 'X's; the hooks' target
		int err = -1;         // what the access returned
		std::thread accessor; // makes the access once the free has scanned X
	};

	// Allocates @r's objects and starts its accessor; @pin: pin_wins.
	void start(Race *r, bool pin)
	{
		const int call = std::get<0>(GetParam());
		const size_t size = std::get<1>(GetParam());
		ASSERT_NE(pool, nullptr);
		pin_wins = pin;
		r->other = zs_malloc(pool, std::get<2>(GetParam()), 0);
		ASSERT_NE(r->other, 0u);
		r->x = zs_malloc(pool, size, 0);
		ASSERT_NE(r->x, 0u);
		ASSERT_EQ(zs_obj_write(pool, r->x, std::string(size, 'X').data(), size), 0);
		target = r->x;
		r->accessor = std::thread([this, r, call, size] {
			sem_wait(&free_scanned);
			r->err = access(call, r->x, size);
		});
	}

	std::string bytes(zs_handle h, size_t size)
	{
		std::string seen(size, '\0');
		const void *p = zs_obj_read_begin(pool, h, size, &seen[0]);
		if (!p)
			return "(read failed)";
		std::memcpy(&seen[0], p, size);
		zs_obj_read_end(pool, h, p);
		return seen;
	}

	zs_pool *pool = nullptr;
};

TEST_P(FreeRace, AccessThatLookedUpBeforeTheFreeFails)
{
	const int call = std::get<0>(GetParam());
	const size_t size = std::get<1>(GetParam());
	Race r;
	ASSERT_NO_FATAL_FAILURE(start(&r, false));
	const zs_handle x = r.x, other = r.other;
	ASSERT_EQ(zs_free(pool, x), 0);
	// Y may take X's place (or its zspage, back from the cache).
	zs_handle y = zs_malloc(pool, size, 0);
	ASSERT_NE(y, 0u);
	ASSERT_EQ(zs_obj_write(pool, y, std::string(size, 'Y').data(), size), 0);
	sem_post(&free_done);
	r.accessor.join();

	EXPECT_EQ(r.err, call == kMap || call == kRead ? EINVAL : -EINVAL)
		<< "an access of a handle freed meanwhile succeeded";
	EXPECT_EQ(bytes(y, size), std::string(size, 'Y'));
	zs_compact(pool); // frees nothing an access still pins
	EXPECT_EQ(zs_check(pool), 0u);
	EXPECT_EQ(bytes(y, size), std::string(size, 'Y'));
	EXPECT_EQ(zs_free(pool, x), -EINVAL);
	EXPECT_EQ(zs_free(pool, y), 0);
	EXPECT_EQ(zs_free(pool, other), 0);
}

TEST_P(FreeRace, AccessThatPinnedBeforeTheFreeWins)
{
	const int call = std::get<0>(GetParam());
	const size_t size = std::get<1>(GetParam());
	Race r;
	ASSERT_NO_FATAL_FAILURE(start(&r, true));
	const zs_handle x = r.x, other = r.other;
	int freed = zs_free(pool, x);
	sem_post(&free_done);
	r.accessor.join();
	target = 0;

	EXPECT_EQ(r.err, 0) << "an access of a live handle failed";
	EXPECT_EQ(zs_check(pool), 0u);
	if (call == kWrite) {
		EXPECT_EQ(freed, 0) << "the write had ended: nothing pinned the object";
		EXPECT_EQ(zs_free(pool, other), 0);
		return;
	}
	EXPECT_EQ(freed, -EBUSY) << "freed while another thread pinned it";
	std::string want(size, call == kMap ? 'M' : 'X');
	EXPECT_EQ(bytes(x, size), want) << "the write of the map that won was lost";
	EXPECT_EQ(zs_free(pool, x), 0);
	EXPECT_EQ(zs_free(pool, other), 0);
}

std::string param_name(const ::testing::TestParamInfo<Param> &pi)
{
	static const char *const layouts[] = { "Contiguous", "Copy", "Remap" };
	return std::string(call_name(std::get<0>(pi.param))) +
	       std::to_string(std::get<1>(pi.param)) + layouts[std::get<3>(pi.param)];
}

// 4096 with another class keeping no zspage of its: X alone in its zspage,
// which empties and goes to the cache, and Y's takes it back; 1008: 65
// objects per zspage; 3000: objects straddle pages; 20000: five pages an
// object. SharedZspage: X shares its zspage with the other object, which
// stays.
INSTANTIATE_TEST_SUITE_P(
	Calls, FreeRace,
	::testing::Combine(::testing::Values(kMap, kRead, kReadSg, kWrite),
			   ::testing::Values(4096u, 1008u, 3000u, 20000u), ::testing::Values(100u),
			   ::testing::Values(ZS_MAP_DEFAULT, ZS_MAP_COPY, ZS_MAP_REMAP)),
	param_name);

INSTANTIATE_TEST_SUITE_P(SharedZspage, FreeRace,
			 ::testing::Combine(::testing::Values(kMap, kRead, kReadSg, kWrite),
					    ::testing::Values(1008u), ::testing::Values(1008u),
					    ::testing::Values(ZS_MAP_DEFAULT, ZS_MAP_COPY)),
			 param_name);

} // namespace
