/*
 * zspage.c - zspages: their pages, their object bitmap, their fullness list.
 *
 * A zspage of class c holds c->opz objects of c->size bytes back to back in
 * up to c->ppz pages. Pages are added lazily: object i needs the pages up to
 * the one holding its last byte, and objects are handed out lowest index
 * first, so a zspage that is being filled holds only the pages its objects
 * reach (the kernel allocates all ppz pages up front; at the end of a fill
 * every class's last zspage would be, on average, half empty pages).
 *
 *   ppz = 3, size 1392, opz 8, 5 objects so far: only 2 pages present
 *   | pfn[0]             | pfn[1]             | (pfn[2]: not yet)  |
 *   |obj0 |obj1 |obj2 |ob|j3 |obj4 |          |                    |
 *
 * Every function here runs under the class lock.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

int zs_fullness_group(const struct size_class *class, uint32_t inuse)
{
	if (inuse == 0)
		return ZS_GROUP_EMPTY;
	if (inuse >= class->opz)
		return ZS_GROUP_FULL;
	/* 1..9 % is group 1, 10..19 % group 2, ..., 90..99 % group 10 */
	return (int)(100 * inuse / class->opz) / 10 + 1;
}

void zs_list_insert(struct size_class *class, uint32_t id, struct zspage *z,
		    int group)
{
	uint32_t head = class->head[group];

	z->prev = ZS_ID_NONE;
	z->next = head;
	if (head != ZS_ID_NONE)
		zs_zspage_at(class, head)->prev = id;
	class->head[group] = id;
	class->nonempty |= (uint16_t)(1u << group);
	zs_set_group(z, group);
}

void zs_list_remove(struct size_class *class, uint32_t id, struct zspage *z)
{
	int group = zs_group(z);

	if (z->prev != ZS_ID_NONE)
		zs_zspage_at(class, z->prev)->next = z->next;
	else
		class->head[group] = z->next;
	if (z->next != ZS_ID_NONE)
		zs_zspage_at(class, z->next)->prev = z->prev;
	if (class->head[group] == ZS_ID_NONE)
		class->nonempty &= (uint16_t)~(1u << group);
	z->next = z->prev = ZS_ID_NONE;
	zs_set_group(z, ZS_GROUP_UNUSED);
	(void)id;
}

void zs_fix_fullness(struct size_class *class, uint32_t id, struct zspage *z)
{
	int group = zs_fullness_group(class, z->inuse);

	if (group == zs_group(z))
		return;
	zs_list_remove(class, id, z);
	zs_list_insert(class, id, z, group);
}

int64_t zs_zspage_create(struct size_class *class, struct zspage **out)
{
	struct zspage *z;
	uint32_t id;

	if (class->free_ids != ZS_ID_NONE) {
		id = class->free_ids;
		z = zs_zspage_at(class, id);
		class->free_ids = z->next;
	} else {
		if (class->nr_ids >= class->max_ids)
			return -ENOMEM;
		if ((class->nr_ids & (ZS_ZSPAGE_CHUNK - 1)) == 0 &&
		    zs_table_add_chunk(&class->zspages))
			return -ENOMEM;
		id = class->nr_ids++;
		z = zs_zspage_at(class, id);
	}
	z->next = z->prev = ZS_ID_NONE;
	z->inuse = 0;
	z->npages = 0;
	zs_set_group(z, ZS_GROUP_UNUSED);
	memset(zs_zspage_map(class, z), 0, class->map_words * sizeof(uint64_t));
	*out = z;
	return id;
}

/* Free pages [from, npages) of @z: to the source now, or onto @later. */
static void free_pages_from(struct size_class *class, struct zspage *z,
			    uint32_t from, struct zs_pfns *later)
{
	_Atomic uint32_t *pfn = zs_zspage_pfns(z);
	uint32_t now[ZS_MAX_PAGES_PER_ZSPAGE], n = 0, i;

	for (i = from; i < z->npages; i++) {
		uint32_t p = atomic_load_explicit(&pfn[i], memory_order_relaxed);

		if (later && !later->failed && later->n == later->cap) {
			size_t cap = later->cap ? later->cap * 2 : 256;
			uint32_t *grown = realloc(later->pfn, cap * sizeof(*grown));

			if (grown) {
				later->pfn = grown;
				later->cap = cap;
			} else {
				later->failed = 1;
			}
		}
		if (later && !later->failed)
			later->pfn[later->n++] = p;
		else
			now[n++] = p;
	}
	if (n)
		mp_free_pages(class->pool->src, now, n);
	class->pages_used -= z->npages - from;
	z->npages = (uint8_t)from;
}

void zs_zspage_release(struct size_class *class, uint32_t id, struct zspage *z,
		       struct zs_pfns *later)
{
	free_pages_from(class, z, 0, later);
	if (zs_group(z) != ZS_GROUP_UNUSED) {
		zs_list_remove(class, id, z);
		class->nr_zspages--;
	}
	z->next = class->free_ids;
	class->free_ids = id;
}

/* Pages a zspage needs so that objects [0, idx] are present. */
static uint32_t pages_for(const struct size_class *class, uint32_t idx)
{
	uint64_t end = (uint64_t)(idx + 1) * class->size;
	uint32_t page = class->pool->page_size;

	return (uint32_t)((end + page - 1) / page);
}

int zs_zspage_populate(struct size_class *class, struct zspage *z,
		       uint32_t idx, int grow)
{
	struct zs_pool *pool = class->pool;
	_Atomic uint32_t *pfn = zs_zspage_pfns(z);
	uint32_t need = pages_for(class, idx), had = z->npages, p;

	while (z->npages < need) {
		uint32_t near = z->npages ? atomic_load_explicit(&pfn[z->npages - 1],
								 memory_order_relaxed)
					  : UINT32_MAX;

		if (!grow || mp_alloc_page_near(pool->src, near, &p)) {
			/* Leave the zspage exactly as it was. */
			class->pages_used += z->npages - had;
			free_pages_from(class, z, had, NULL);
			return -ENOMEM;
		}
		atomic_store_explicit(&pfn[z->npages], p, memory_order_relaxed);
		z->npages++;
	}
	class->pages_used += z->npages - had;
	return 0;
}

uint32_t zs_zspage_first_free(const struct size_class *class, struct zspage *z)
{
	const uint64_t *map = zs_zspage_map(class, z);
	uint32_t w;

	for (w = 0; w < class->map_words; w++)
		if (~map[w])
			return w * 64 + (uint32_t)__builtin_ctzll(~map[w]);
	return class->opz; /* full: callers never ask */
}

/* Highest allocated object index, or -1 when the zspage is empty. */
static int64_t last_used(const struct size_class *class, struct zspage *z)
{
	const uint64_t *map = zs_zspage_map(class, z);
	uint32_t w = class->map_words;

	while (w--)
		if (map[w])
			return (int64_t)w * 64 + 63 - __builtin_clzll(map[w]);
	return -1;
}

uint32_t zs_zspage_trim(struct size_class *class, struct zspage *z,
			struct zs_pfns *later)
{
	int64_t last = last_used(class, z);
	uint32_t keep = last < 0 ? 0 : pages_for(class, (uint32_t)last);
	uint32_t freed = z->npages > keep ? z->npages - keep : 0;

	if (freed)
		free_pages_from(class, z, keep, later);
	return freed;
}

void zs_obj_copy_in(const struct zs_pool *pool, struct zspage *z,
		    uint32_t off, const void *src, uint32_t len)
{
	const uint8_t *from = src;

	while (len) {
		uint32_t room = pool->page_size - (off & (pool->page_size - 1));
		uint32_t n = len < room ? len : room;

		memcpy(zs_zspage_addr(pool, z, off), from, n);
		from += n;
		off += n;
		len -= n;
	}
}

void zs_obj_copy_out(const struct zs_pool *pool, struct zspage *z,
		     uint32_t off, void *dst, uint32_t len)
{
	uint8_t *to = dst;

	while (len) {
		uint32_t room = pool->page_size - (off & (pool->page_size - 1));
		uint32_t n = len < room ? len : room;

		memcpy(to, zs_zspage_addr(pool, z, off), n);
		to += n;
		off += n;
		len -= n;
	}
}
