// fork(): a private source is a copy-on-write snapshot in the child; a shared
// (memfd) source is the parent's too, so the child's calls on it fail with
// EPERM and its destroy leaves the parent's pages alone.
#include <errno.h>

#include <cstring>

#include <gtest/gtest.h>

#include "mapping/mapping.h"
#include "tests/common/child.h"

namespace
{

mp_source *make(mp_backing backing)
{
	mp_config cfg = {};
	cfg.backing = backing;
	return mp_create(&cfg);
}

// A source of @backing with two pages, *@a and *@b; NULL if any of that
// failed.
mp_source *make(mp_backing backing, uint32_t *a, uint32_t *b)
{
	mp_source *src = make(backing);
	if (src && (mp_alloc_page(src, a) != 0 || mp_alloc_page(src, b) != 0)) {
		mp_destroy(src);
		return nullptr;
	}
	return src;
}

TEST(Fork, PrivateSourceIsASnapshotInTheChild)
{
	uint32_t a, b;
	mp_source *src = make(MP_BACKING_PRIVATE, &a, &b);
	ASSERT_NE(src, nullptr);
	const size_t page = mp_page_size();
	memset(mp_kmap(src, a), 'P', page);
	memset(mp_kmap(src, b), 'Q', page);
	EXPECT_EQ(mp_forked(src), 0);

	int status = test_child::in_child([&] {
		if (mp_forked(src))
			return 1; // a private source is the child's own
		if (((char *)mp_kmap(src, a))[7] != 'P')
			return 2; // the snapshot
		memset(mp_kmap(src, a), 'C', page);
		if (mp_free_page(src, b))
			return 3;
		uint32_t c;
		if (mp_alloc_page(src, &c))
			return 4;
		memset(mp_kmap(src, c), 'D', page);
		mp_destroy(src);
		return 0;
	});
	EXPECT_EQ(status, 0);
	// Nothing the child did reached the parent.
	for (size_t i = 0; i < page; i++) {
		ASSERT_EQ(((char *)mp_kmap(src, a))[i], 'P');
		ASSERT_EQ(((char *)mp_kmap(src, b))[i], 'Q');
	}
	mp_stats st;
	mp_get_stats(src, &st);
	EXPECT_EQ(st.pages_used, 2u);
	mp_destroy(src);
}

TEST(Fork, SharedSourceIsRefusedInTheChild)
{
	uint32_t a, b;
	mp_source *src = make(MP_BACKING_SHARED, &a, &b);
	ASSERT_NE(src, nullptr);
	const size_t page = mp_page_size();
	memset(mp_kmap(src, a), 'P', page);

	int status = test_child::in_child([&] {
		if (!mp_forked(src))
			return 1;
		uint32_t c;
		if (mp_alloc_page(src, &c) != -EPERM)
			return 2;
		if (mp_free_page(src, a) != -EPERM)
			return 3;
		errno = 0;
		if (mp_map_pair(src, a, b, page - 8, 16, MP_RW, MP_COPY, 1) || errno != EPERM)
			return 4;
		if (mp_trim(src) != 0)
			return 5;
		mp_destroy(src); // must not truncate the parent's memfd
		return 0;
	});
	EXPECT_EQ(status, 0);
	EXPECT_EQ(mp_forked(src), 0);
	for (size_t i = 0; i < page; i++)
		ASSERT_EQ(((char *)mp_kmap(src, a))[i], 'P') << "the child destroyed the pages";
	uint32_t c;
	EXPECT_EQ(mp_alloc_page(src, &c), 0) << "the parent goes on";
	mp_destroy(src);
}

// A source created in the child is the child's own, shared or not.
TEST(Fork, SourcesMadeInTheChildWork)
{
	int status = test_child::in_child([] {
		mp_source *src = make(MP_BACKING_SHARED);
		uint32_t p;
		if (!src || mp_forked(src) || mp_alloc_page(src, &p))
			return 1;
		mp_destroy(src);
		return 0;
	});
	EXPECT_EQ(status, 0);
}

// A parked mapping the parent holds does not let the child write into the
// shared pages at unmap.
TEST(Fork, ChildUnmapOfASharedCopyWritesNothingBack)
{
	mp_source *src = make(MP_BACKING_SHARED);
	ASSERT_NE(src, nullptr);
	const size_t page = mp_page_size();
	uint32_t a, gap, b;
	ASSERT_EQ(mp_alloc_page(src, &a), 0);
	ASSERT_EQ(mp_alloc_page(src, &gap), 0);
	ASSERT_EQ(mp_alloc_page(src, &b), 0);
	memset(mp_kmap(src, a), 'A', page);
	memset(mp_kmap(src, b), 'B', page);
	char *m = (char *)mp_map_pair(src, a, b, page - 8, 16, MP_RW, MP_COPY, 5);
	ASSERT_NE(m, nullptr);
	int status = test_child::in_child([&] {
		memset(m, 'X', 16);
		return mp_unmap_pair(src, 5) == -EPERM ? 0 : 1;
	});
	EXPECT_EQ(status, 0);
	EXPECT_EQ(((char *)mp_kmap(src, a))[page - 1], 'A');
	EXPECT_EQ(((char *)mp_kmap(src, b))[0], 'B');
	EXPECT_EQ(mp_unmap_pair(src, 5), 0);
	mp_destroy(src);
}

} // namespace
