// free_race_test.cc - a zs_free() and a zs_map_object() of the same handle in
// two threads, held at the worst interleaving by the test hooks of
// zsmalloc/internal.h (this test links //zsmalloc:zsmalloc_test_hooks):
//
//   free thread                         map thread
//   zs_free: no mapping of h seen
//                                       zs_map_object: claims a record,
//                                       looks h up (still live)
//   frees h; the zspage may empty and
//   go back; a new object Y may take
//   the place
//                                       publishes its pin, returns ...
//
// The caller's race, but the pool must stay sound: the map must fail with
// EINVAL, not hand out a pointer into memory that now holds Y or was given
// back (an audit found it did, and a later zs_compact() then freed the
// record the mapping still pinned).
#include <errno.h>
#include <semaphore.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "zsmalloc/zsmalloc.h"

extern "C" {
extern void (*zs_test_hook_map_looked_up)(zs_handle h);
extern void (*zs_test_hook_free_scanned)(zs_handle h);
}

namespace {

sem_t free_scanned, map_looked_up, free_done;
zs_handle target;

void on_free_scanned(zs_handle h)
{
	if (h != target)
		return;
	sem_post(&free_scanned);
	sem_wait(&map_looked_up);
}

void on_map_looked_up(zs_handle h)
{
	if (h != target)
		return;
	sem_post(&map_looked_up);
	sem_wait(&free_done);
}

class FreeRace : public ::testing::TestWithParam<size_t> {
protected:
	void SetUp() override
	{
		sem_init(&free_scanned, 0, 0);
		sem_init(&map_looked_up, 0, 0);
		sem_init(&free_done, 0, 0);
		zs_test_hook_free_scanned = on_free_scanned;
		zs_test_hook_map_looked_up = on_map_looked_up;
	}
	void TearDown() override
	{
		zs_test_hook_free_scanned = nullptr;
		zs_test_hook_map_looked_up = nullptr;
		sem_destroy(&free_scanned);
		sem_destroy(&map_looked_up);
		sem_destroy(&free_done);
	}
};

TEST_P(FreeRace, MapThatLookedUpBeforeTheFreeFails)
{
	const size_t size = GetParam();
	zs_pool *pool = zs_create_pool("free_race");
	ASSERT_NE(pool, nullptr);
	zs_handle other = zs_malloc(pool, size, 0); // keeps a zspage alive or not
	ASSERT_NE(other, 0u);
	zs_handle x = zs_malloc(pool, size, 0);
	ASSERT_NE(x, 0u);
	ASSERT_EQ(zs_obj_write(pool, x, std::string(size, 'X').data(), size), 0);
	target = x;

	void *mapped = reinterpret_cast<void *>(1);
	int map_errno = 0;
	std::thread mapper([&] {
		sem_wait(&free_scanned);
		errno = 0;
		mapped = zs_map_object(pool, x, ZS_MM_RW);
		map_errno = errno;
		if (mapped) {
			std::memset(mapped, 'M', size); // what a racing user writes
			zs_unmap_object(pool, x);
		}
	});
	ASSERT_EQ(zs_free(pool, x), 0);
	// Y may take X's place (or its zspage's record and pages).
	zs_handle y = zs_malloc(pool, size, 0);
	ASSERT_NE(y, 0u);
	ASSERT_EQ(zs_obj_write(pool, y, std::string(size, 'Y').data(), size), 0);
	sem_post(&free_done);
	mapper.join();

	EXPECT_EQ(mapped, nullptr) << "a map of a handle freed meanwhile succeeded";
	EXPECT_EQ(map_errno, EINVAL);
	std::string seen(size, '\0');
	const void *p = zs_obj_read_begin(pool, y, size, &seen[0]);
	ASSERT_NE(p, nullptr);
	std::memcpy(&seen[0], p, size);
	zs_obj_read_end(pool, y, p);
	EXPECT_EQ(seen, std::string(size, 'Y'));
	zs_compact(pool); // frees nothing a mapping still pins
	EXPECT_EQ(zs_check(pool), 0u);
	EXPECT_EQ(zs_free(pool, y), 0);
	EXPECT_EQ(zs_free(pool, other), 0);
	zs_destroy_pool(pool);
}

// 4096: one object per zspage, whose zspage empties and goes back; 1008:
// 65 objects per zspage, which stays; 3000: objects straddle pages.
INSTANTIATE_TEST_SUITE_P(Sizes, FreeRace, ::testing::Values(4096u, 1008u, 3000u));

} // namespace
