/*
 * handle.c - the per-class handle table.
 *
 * A handle names a slot of its class's table; the slot holds the object's
 * location (which compaction rewrites) and a generation (which each free
 * bumps). Free slots form a last-in first-out list threaded through their
 * location words:
 *
 *   chunk (64 slots):    | u32 loc[64]                  | u16 gen[64]  |
 *   allocated slot:      loc = (zspage id << idx_bits) | object index
 *   free slot:           loc = ZS_LOC_FREE | next free slot
 *
 * 6 bytes per object in all; the kernel spends 16 (an 8-byte handle
 * allocated from a slab cache and an 8-byte header inside the object).
 */
#include "zsmalloc/internal.h"

/* Add a chunk of free slots, linked in ascending order. */
static int slots_grow(struct size_class *class)
{
	uint32_t first = class->nr_slots, i;
	uint8_t *chunk;
	int err;

	if ((uint64_t)first + ZS_SLOT_CHUNK > ZS_MAX_SLOTS)
		return -ENOMEM;
	err = zs_table_add_chunk(&class->slots);
	if (err)
		return err;
	chunk = zs_table_chunk(&class->slots, first >> ZS_SLOT_CHUNK_SHIFT);
	for (i = 0; i < ZS_SLOT_CHUNK; i++) {
		uint32_t next = i + 1 < ZS_SLOT_CHUNK ? first + i + 1 : class->free_slot;

		atomic_store_explicit(zs_slot_loc(chunk, first + i),
				      ZS_LOC_FREE | next, memory_order_relaxed);
	}
	class->free_slot = first;
	class->nr_slots = first + ZS_SLOT_CHUNK;
	return 0;
}

int zs_slot_alloc(struct size_class *class, uint32_t *slot)
{
	uint32_t s;
	uint8_t *chunk;
	int err;

	if (class->free_slot == ZS_SLOT_NONE) {
		err = slots_grow(class);
		if (err)
			return err;
	}
	s = class->free_slot;
	chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
	class->free_slot = atomic_load_explicit(zs_slot_loc(chunk, s),
						memory_order_relaxed) & ~ZS_LOC_FREE;
	*slot = s;
	return 0;
}

void zs_slot_free(struct size_class *class, uint32_t s)
{
	uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
	_Atomic uint16_t *gen = zs_slot_gen(chunk, s);

	/* Free first, then bump the generation: a reader that sees the old
	 * location sees either "free" or a generation that no longer fits. */
	atomic_store_explicit(zs_slot_loc(chunk, s), ZS_LOC_FREE | class->free_slot,
			      memory_order_release);
	atomic_store_explicit(gen, (uint16_t)(atomic_load_explicit(gen, memory_order_relaxed) + 1),
			      memory_order_release);
	class->free_slot = s;
}

void zs_slot_putback(struct size_class *class, uint32_t s)
{
	uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);

	/* Undo zs_slot_alloc() exactly: the slot was never published. */
	atomic_store_explicit(zs_slot_loc(chunk, s), ZS_LOC_FREE | class->free_slot,
			      memory_order_relaxed);
	class->free_slot = s;
}
