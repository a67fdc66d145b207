/*
 * bench_pop.c - the size mix, the allocators' table and populations of live
 * objects (see bench_pop.h).
 */
#include "tools/bench_pop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/datadir.h"
#include "tools/trace.h"
#include "tools/zpool.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

/* ---- The size mix ---------------------------------------------------- */

struct sizes {
	uint32_t *v;
	size_t n, cap;
};

static int sizes_push(struct sizes *s, uint32_t size)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1 << 16;
		uint32_t *grown = realloc(s->v, cap * sizeof(*grown));

		if (!grown)
			return ENOMEM;
		s->v = grown;
		s->cap = cap;
	}
	s->v[s->n++] = size;
	return 0;
}

/* Every stored page's size of the trace @path (same-filled ones left out). */
static int sizes_read(struct sizes *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	uint32_t size;
	int err = 0;

	if (!f) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return EINVAL;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		int r = trace_parse_line(line, 4096, &size);

		if (r < 0) {
			fprintf(stderr, "bench: %s: bad line '%.40s'\n", path, line);
			err = EINVAL;
		} else if (r > 0 && size != TRACE_SAME) {
			err = sizes_push(s, size);
		}
	}
	fclose(f);
	return err;
}

static int mix_load(struct mix *m, char *const *paths, int n)
{
	struct sizes s = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull, sum = 0;
	int err = 0;

	for (int p = 0; p < n && !err; p++)
		err = sizes_read(&s, paths[p]);
	if (!err && !s.n) {
		fprintf(stderr, "bench: the traces hold no sizes\n");
		err = EINVAL;
	}
	for (uint32_t i = 0; !err && i <= MIX_MASK; i++) {
		m->size[i] = s.v[rnd_next(&seed) % s.n];
		sum += m->size[i];
	}
	m->pages = s.n;
	m->mean = (double)sum / (MIX_MASK + 1);
	free(s.v);
	return err;
}

int mix_load_for(const struct bench_options *o, struct mix *m)
{
	char dir[4096], **paths = NULL;
	int n, err;

	if (o->nr_traces) {
		snprintf(m->source, sizeof(m->source), "%d trace file%s", o->nr_traces,
			 o->nr_traces > 1 ? "s" : "");
		return mix_load(m, o->traces, o->nr_traces);
	}
	if (data_dir_find(o->argv0, dir, sizeof(dir)) || (n = data_dir_traces(dir, &paths)) <= 0) {
		fprintf(stderr, "bench: no bundled traces found (tools/data); use "
				"--trace FILE\n");
		return ENOENT;
	}
	err = mix_load(m, paths, n);
	snprintf(m->source, sizeof(m->source), "the %d bundled traces", n);
	data_dir_free(paths, n);
	return err;
}

/* ---- malloc ------------------------------------------------------------ */

static void *m_create(uint64_t max_pages)
{
	(void)max_pages;
	return (void *)1;
}
static void m_destroy(void *pool)
{
	(void)pool;
}
static uint64_t m_alloc(void *pool, uint32_t size)
{
	(void)pool;
	return (uint64_t)(uintptr_t)malloc(size);
}
static void m_release(void *pool, uint64_t id)
{
	(void)pool;
	free((void *)(uintptr_t)id);
}
static void m_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	(void)pool;
	memcpy((void *)(uintptr_t)id, src, len);
}
static void m_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	(void)pool;
	memcpy(dst, (void *)(uintptr_t)id, len);
}
static uint64_t m_map_touch(void *pool, uint64_t id, uint32_t len)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)id;

	(void)pool;
	return (uint64_t)p[0] + p[len - 1];
}

/* ---- zsmalloc ---------------------------------------------------------- */

static void *zs_create_layout(enum zs_layout layout, uint64_t max_pages)
{
	struct zs_config c = { .name = "bench", .layout = layout, .max_pages = max_pages };

	return zs_create_pool_config(&c);
}
static void *zsb_create(uint64_t max_pages)
{
	return zs_create_layout(ZS_LAYOUT_DEFAULT, max_pages);
}
/* The kernel's layout: straddlers are copied (ZS_MAP_COPY). */
static void *zsb_create_scattered(uint64_t max_pages)
{
	return zs_create_layout(ZS_LAYOUT_SCATTERED, max_pages);
}
static void zsb_destroy(void *pool)
{
	zs_destroy_pool(pool);
}
static uint64_t zsb_alloc(void *pool, uint32_t size)
{
	return zs_malloc(pool, size, 0);
}
static void zsb_release(void *pool, uint64_t id)
{
	zs_free(pool, (zs_handle)id);
}
static void zsb_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	zs_obj_write(pool, (zs_handle)id, src, len);
}
static void zsb_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	/* zram's read path: in place when in one page, else copied. */
	const void *p = zs_obj_read_begin(pool, (zs_handle)id, len, dst);

	if (p != dst)
		memcpy(dst, p, len);
	zs_obj_read_end(pool, (zs_handle)id, p);
}
static uint64_t zsb_map_touch(void *pool, uint64_t id, uint32_t len)
{
	const uint8_t *p = zs_map_object(pool, (zs_handle)id, ZS_MM_RO);
	uint64_t v = (uint64_t)p[0] + p[len - 1];

	zs_unmap_object(pool, (zs_handle)id);
	return v;
}
static uint64_t zsb_sg_touch(void *pool, uint64_t id, uint32_t len)
{
	struct zs_segment seg[ZS_MAX_SEGMENTS];
	int n = zs_obj_read_sg_begin(pool, (zs_handle)id, len, seg, ZS_MAX_SEGMENTS);
	uint64_t v = 0;

	for (int i = 0; i < n; i++) {
		const uint8_t *b = seg[i].addr;

		v += (uint64_t)b[0] + b[seg[i].len - 1];
	}
	if (n > 0)
		zs_obj_read_sg_end(pool, (zs_handle)id);
	return v;
}

/* ---- xvmalloc ---------------------------------------------------------- */

static void *xvb_create(uint64_t max_pages)
{
	struct xv_config c = { .max_pages = max_pages };

	return xv_create_pool_config(&c);
}
static void xvb_destroy(void *pool)
{
	xv_destroy_pool(pool);
}
/* xvmalloc objects stop 4 bytes short of a page (its header); the raw
 * pages of the mix (4096 bytes) are stored as 4092, as said in the tables. */
static uint32_t xvb_len(uint32_t len)
{
	return len > xv_max_size() ? xv_max_size() : len;
}
static uint64_t xvb_alloc(void *pool, uint32_t size)
{
	uint32_t pfn, off;

	if (xv_malloc(pool, xvb_len(size), &pfn, &off, 0))
		return 0;
	return ((uint64_t)pfn << 32) | off;
}
static void xvb_release(void *pool, uint64_t id)
{
	xv_free(pool, (uint32_t)(id >> 32), (uint32_t)id);
}
static void xvb_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	void *p = xv_map(pool, (uint32_t)(id >> 32), (uint32_t)id);

	memcpy(p, src, xvb_len(len));
	xv_unmap(pool, (uint32_t)(id >> 32), (uint32_t)id);
}
static void xvb_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	const void *p = xv_map(pool, (uint32_t)(id >> 32), (uint32_t)id);

	memcpy(dst, p, xvb_len(len));
	xv_unmap(pool, (uint32_t)(id >> 32), (uint32_t)id);
}
static uint64_t xvb_map_touch(void *pool, uint64_t id, uint32_t len)
{
	const uint8_t *p = xv_map(pool, (uint32_t)(id >> 32), (uint32_t)id);
	uint64_t v = (uint64_t)p[0] + p[xvb_len(len) - 1];

	xv_unmap(pool, (uint32_t)(id >> 32), (uint32_t)id);
	return v;
}

const struct aops ops_malloc = {
	.name = "malloc",
	.key = "malloc",
	.create = m_create,
	.destroy = m_destroy,
	.alloc = m_alloc,
	.release = m_release,
	.write = m_write,
	.read = m_read,
	.map_touch = m_map_touch,
	.read_how = "memcpy",
	.write_how = "memcpy",
	.map_how = "a pointer: p[0] + p[len - 1]",
};

/* What the two zsmalloc entries share: the calls, all but how the pool is
 * made (the layout). */
#define ZSB_SHARED                                                                              \
	.destroy = zsb_destroy, .alloc = zsb_alloc, .release = zsb_release, .write = zsb_write, \
	.read = zsb_read, .map_touch = zsb_map_touch, .sg_touch = zsb_sg_touch

const struct aops ops_zs = {
	.name = "zsmalloc",
	.key = "zsmalloc",
	.create = zsb_create,
	ZSB_SHARED,
	.read_how = "zs_obj_read_begin/end (+memcpy if in place)",
	.write_how = "zs_obj_write",
	.map_how = "zs_map_object RO + zs_unmap_object",
};
const struct aops ops_zs_scattered = {
	.name = "zsmalloc-scattered",
	.key = "zsmalloc-scattered",
	.create = zsb_create_scattered,
	ZSB_SHARED,
	.read_how = "the same calls; straddlers copied",
	.write_how = "zs_obj_write; straddlers in two parts",
	.map_how = "zs_map_object RO + zs_unmap_object; straddlers copied",
};
const struct aops ops_xv = {
	.name = "xvmalloc (4096 B stored as 4092)",
	.key = "xvmalloc",
	.create = xvb_create,
	.destroy = xvb_destroy,
	.alloc = xvb_alloc,
	.release = xvb_release,
	.write = xvb_write,
	.read = xvb_read,
	.map_touch = xvb_map_touch,
	.read_how = "xv_map + memcpy + xv_unmap",
	.write_how = "xv_map + memcpy + xv_unmap",
	.map_how = "xv_map + xv_unmap",
};
const struct aops *const all_ops[NR_OPS] = { &ops_malloc, &ops_zs, &ops_zs_scattered, &ops_xv };

const struct aops *ops_find(const char *key)
{
	for (int a = 0; a < NR_OPS; a++)
		if (!strcmp(all_ops[a]->key, key))
			return all_ops[a];
	return NULL;
}

const char *ops_label(const struct aops *ops)
{
	return ops == &ops_malloc ? zpool_label(&zpool_malloc_driver) : ops->name;
}

/* ---- Populations ------------------------------------------------------- */

int pop_fill(struct pop *p, const struct aops *ops, void *pool, const struct mix *mix, uint32_t n,
	     uint64_t seed, const uint8_t *src, uint32_t fixed)
{
	*p = (struct pop){ .ops = ops, .pool = pool, .mix = mix, .n = n, .rng = seed, .src = src };
	p->id = calloc(n, sizeof(*p->id));
	p->len = malloc(n * sizeof(*p->len));
	p->buf = malloc(PAGE_MAX);
	if (!p->id || !p->len || !p->buf)
		return ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		p->len[i] = fixed ? fixed : mix->size[rnd_next(&p->rng) & MIX_MASK];
		p->id[i] = ops->alloc(pool, p->len[i]);
		if (!p->id[i])
			return ENOMEM;
		ops->write(pool, p->id[i], src, p->len[i]);
	}
	return 0;
}

void pop_free(struct pop *p)
{
	if (p->id)
		for (uint32_t i = 0; i < p->n; i++)
			if (p->id[i])
				p->ops->release(p->pool, p->id[i]);
	free(p->id);
	free(p->len);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

void pop_free_half(struct pop *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->id[i] && (rnd_next(&p->rng) & 1)) {
			p->ops->release(p->pool, p->id[i]);
			p->id[i] = 0;
		}
}

void run_pair(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = pop_pick(p);

	(void)k;
	p->ops->release(p->pool, p->id[i]);
	p->len[i] = p->mix->size[rnd_next(&p->rng) & MIX_MASK];
	p->id[i] = p->ops->alloc(p->pool, p->len[i]);
	if (!p->id[i]) {
		p->failed = 1;
		p->id[i] = p->ops->alloc(p->pool, 1); /* keep the slot usable */
		p->len[i] = 1;
		return;
	}
	if (p->with_write)
		p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
}

void run_read(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = pop_pick(p);

	(void)k;
	if (p->sg) {
		bench_keep(p->ops->sg_touch(p->pool, p->id[i], p->len[i]));
		return;
	}
	p->ops->read(p->pool, p->id[i], p->buf, p->len[i]);
	bench_keep(p->buf[0]);
}

void run_write(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = pop_pick(p);

	(void)k;
	p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
}

void run_map(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = pop_pick(p);

	(void)k;
	bench_keep(p->ops->map_touch(p->pool, p->id[i], p->len[i]));
}
