/*
 * run.c - one allocator through the phases, measured and verified (see
 * run.h).
 */
#include "tools/run.h"

#include <errno.h>
#include <lz4.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/bound.h"
#include "tools/progress.h"
#include "tools/resident.h"
#include "tools/rng.h"
#include "tools/workload.h"

const char *const phase_names[NR_PHASES] = { "fill", "churn", "discard", "compact" };

#define PROGRESS_STEP 4096 /* operations between progress updates */

struct run_state {
	const struct zpool_driver *d;
	const struct run_plan *plan;
	const struct workload *wl;
	struct run_result *res;
	void *pool;
	uint64_t n;           /* slots: the objects of the fill */
	uint64_t *ids;        /* per slot: the object's id, 0 when released */
	uint32_t *page;       /* per slot: its page in wl->pages */
	uint32_t *order;      /* scratch: slots in random order */
	unsigned char *buf;   /* one object read back */
	unsigned char *plain; /* one page (block) decompressed */
	uint64_t *hist;       /* [page size + 1]: live objects by size */
	uint64_t rng;
	uint64_t live, live_bytes;
	uint64_t timer_ns;      /* cost of one now_ns() pair, subtracted */
	uint64_t resident_base; /* resident_bytes() before create(), when
				   res->resident */
	struct progress pg;
};

__attribute__((format(printf, 2, 3))) static void fail(struct run_state *s, const char *fmt, ...)
{
	va_list ap;

	if (s->res->failed)
		return;
	s->res->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->res->error, sizeof(s->res->error), fmt, ap);
	va_end(ap);
}

static uint64_t elapsed(const struct run_state *s, uint64_t t0)
{
	uint64_t t = now_ns() - t0;

	return t > s->timer_ns ? t - s->timer_ns : 0;
}

static const struct wl_page *slot_page(const struct run_state *s, uint64_t i)
{
	return &s->wl->pages[s->page[i]];
}

/* Store page @pg for slot @i; adds its time to *@ns. */
static int store(struct run_state *s, uint64_t i, uint32_t pg, uint64_t *ns, uint64_t *id)
{
	const struct wl_page *p = &s->wl->pages[pg];
	uint64_t t0 = now_ns();
	int err = s->d->store(s->pool, s->wl->arena + p->offset, p->size, id);

	*ns += elapsed(s, t0);
	if (err || !*id) {
		fail(s, "%s: storing object %llu (%u bytes) failed: %s", s->d->name,
		     (unsigned long long)i, p->size, strerror(err ? -err : EINVAL));
		return -1;
	}
	return 0;
}

static int release(struct run_state *s, uint64_t i, uint64_t id, uint64_t *ns)
{
	uint64_t t0 = now_ns();
	int err = s->d->release(s->pool, id);

	*ns += elapsed(s, t0);
	if (err) {
		fail(s, "%s: releasing object %llu failed: %s", s->d->name, (unsigned long long)i,
		     strerror(-err));
		return -1;
	}
	return 0;
}

/* 1 if what slot @i read back (in s->buf) is its page. */
static int intact(struct run_state *s, uint64_t i)
{
	const struct wl_page *p = slot_page(s, i);
	size_t ps = s->wl->block_size;

	if (memcmp(s->buf, s->wl->arena + p->offset, p->size))
		return 0;
	if (p->size == ps)
		return page_hash(s->buf, ps) == p->hash;
	if (LZ4_decompress_safe((const char *)s->buf, (char *)s->plain, (int)p->size, (int)ps) !=
	    (int)ps)
		return 0;
	return page_hash(s->plain, ps) == p->hash;
}

/* The single-page packing bound of the live objects, into @r. */
static void measure_bound(struct run_state *s, struct phase_result *r)
{
	size_t ps = s->wl->page_size;
	struct bound b;

	memset(s->hist, 0, (ps + 1) * sizeof(*s->hist));
	for (uint64_t i = 0; i < s->n; i++) {
		uint32_t size = slot_page(s, i)->size;

		if (!s->ids[i])
			continue;
		if (size > ps)
			return; /* no single-page bound */
		s->hist[size]++;
	}
	if (!bound_pack(s->hist, ps, &b)) {
		r->bound_pages = b.pages;
		r->floor_pages = b.floor_pages;
	}
}

/* What the pool holds now: its account, resident growth, classes; and the
 * live objects' bound. */
static void measure_memory(struct run_state *s, struct phase_result *r)
{
	r->objects = s->live;
	r->live_bytes = s->live_bytes;
	s->d->usage(s->pool, &r->usage);
	if (s->res->resident) {
		uint64_t now = resident_bytes();

		r->resident_bytes = now > s->resident_base ? now - s->resident_base : 0;
	}
	r->used = s->res->resident ? r->resident_bytes : r->usage.bytes_used;
	measure_bound(s, r);
	if (s->d->class_stats) {
		int nr = s->d->class_stats(s->pool, r->classes, RUN_MAX_CLASSES);

		r->nr_classes = nr < 0 ? 0 : nr > RUN_MAX_CLASSES ? RUN_MAX_CLASSES : nr;
	}
}

/* Measure the pool after @ph, time a load of every live object, verify it. */
static void measure(struct run_state *s, enum phase ph)
{
	struct phase_result *r = &s->res->phase[ph];
	uint64_t ns = 0, done = 0;
	char label[64];

	measure_memory(s, r);
	snprintf(label, sizeof(label), "%s: verify %s", s->d->name, phase_names[ph]);
	progress_start(&s->pg, s->plan->progress, label);
	for (uint64_t i = 0; i < s->n; i++) {
		const struct wl_page *p;
		uint64_t t0;
		int err;

		if (!s->ids[i])
			continue;
		p = slot_page(s, i);
		t0 = now_ns();
		err = s->d->load(s->pool, s->ids[i], s->buf, p->size);
		ns += elapsed(s, t0);
		if (err || !intact(s, i)) {
			if (!r->mismatches)
				fail(s,
				     "%s: after %s: object %llu (%u bytes, id "
				     "%#llx) %s",
				     s->d->name, phase_names[ph], (unsigned long long)i, p->size,
				     (unsigned long long)s->ids[i],
				     err ? "could not be loaded"
					 : "differs from its original page");
			r->mismatches++;
		} else {
			r->verified++;
		}
		if (++done % PROGRESS_STEP == 0)
			progress_update(&s->pg, done, s->live);
	}
	progress_end(&s->pg);
	r->ns_load = s->live ? (double)ns / (double)s->live : -1;
	if (s->d->check) {
		r->violations = s->d->check(s->pool);
		if (r->violations)
			fail(s,
			     "%s: after %s: the allocator's checker found "
			     "%llu violations",
			     s->d->name, phase_names[ph], (unsigned long long)r->violations);
	}
	s->res->phases = (int)ph + 1;
}

static int phase_fill(struct run_state *s)
{
	struct phase_result *r = &s->res->phase[PHASE_FILL];
	uint64_t ns = 0, t0 = now_ns();
	char label[64];

	snprintf(label, sizeof(label), "%s: fill", s->d->name);
	progress_start(&s->pg, s->plan->progress, label);
	for (uint64_t i = 0; i < s->n; i++) {
		uint32_t pg = s->plan->resample ? (uint32_t)rng_below(&s->rng, s->wl->nr_pages)
						: (uint32_t)i;

		if (store(s, i, pg, &ns, &s->ids[i]))
			return -1;
		s->page[i] = pg;
		s->live++;
		s->live_bytes += s->wl->pages[pg].size;
		if (i % PROGRESS_STEP == 0)
			progress_update(&s->pg, i, s->n);
	}
	progress_end(&s->pg);
	r->seconds = (double)(now_ns() - t0) / 1e9;
	r->ns_store = s->n ? (double)ns / (double)s->n : -1;
	r->ns_release = -1;
	return 0;
}

static int phase_churn(struct run_state *s)
{
	struct phase_result *r = &s->res->phase[PHASE_CHURN];
	uint64_t ns_store = 0, ns_release = 0, t0 = now_ns();
	uint64_t churn = s->n ? s->plan->churn : 0;
	char label[64];

	snprintf(label, sizeof(label), "%s: churn", s->d->name);
	progress_start(&s->pg, s->plan->progress, label);
	for (uint64_t k = 0; k < churn; k++) {
		uint64_t i = rng_below(&s->rng, s->n), id;
		uint32_t pg = (uint32_t)rng_below(&s->rng, s->wl->nr_pages);

		if (store(s, i, pg, &ns_store, &id) || release(s, i, s->ids[i], &ns_release))
			return -1;
		s->live_bytes += s->wl->pages[pg].size;
		s->live_bytes -= slot_page(s, i)->size;
		s->ids[i] = id;
		s->page[i] = pg;
		if (k % PROGRESS_STEP == 0)
			progress_update(&s->pg, k, churn);
	}
	progress_end(&s->pg);
	r->seconds = (double)(now_ns() - t0) / 1e9;
	r->ns_store = churn ? (double)ns_store / (double)churn : -1;
	r->ns_release = churn ? (double)ns_release / (double)churn : -1;
	return 0;
}

static int phase_discard(struct run_state *s)
{
	struct phase_result *r = &s->res->phase[PHASE_DISCARD];
	uint64_t ns = 0, half = s->n / 2, t0 = now_ns();

	for (uint64_t i = 0; i < s->n; i++)
		s->order[i] = (uint32_t)i;
	for (uint64_t k = 0; k < half; k++) { /* a random half, in random order */
		uint64_t j = k + rng_below(&s->rng, s->n - k);
		uint32_t i = s->order[j];

		s->order[j] = s->order[k];
		s->order[k] = i;
		if (release(s, i, s->ids[i], &ns))
			return -1;
		s->live--;
		s->live_bytes -= slot_page(s, i)->size;
		s->ids[i] = 0;
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	r->ns_store = -1;
	r->ns_release = half ? (double)ns / (double)half : -1;
	return 0;
}

static void phase_compact(struct run_state *s)
{
	struct phase_result *r = &s->res->phase[PHASE_COMPACT];
	uint64_t t0 = now_ns();

	if (s->d->compact)
		r->pages_freed = s->d->compact(s->pool);
	r->seconds = (double)(now_ns() - t0) / 1e9;
	r->ns_store = -1;
	r->ns_release = -1;
}

/* Write a zero into every page of @p: the page is then the process's own
 * before the baseline. (A malloc() followed by memset(0) is not enough:
 * the compiler turns the pair into calloc(), which from mmap writes
 * nothing, and the arrays' first writes, 12 bytes an object, would count
 * as the allocator's growth.) */
static void touch(void *p, size_t len)
{
	volatile unsigned char *c = p;
	size_t step = (size_t)sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < len; i += step)
		c[i] = 0;
	if (len)
		c[len - 1] = 0;
}

/* Allocate and touch everything the run needs before the pool exists, so
 * that a resident figure does not include it. */
static int state_init(struct run_state *s)
{
	size_t n = (size_t)s->n ? (size_t)s->n : 1, ps = s->wl->block_size;
	size_t hist = (s->wl->page_size + 1) * sizeof(*s->hist);

	s->ids = calloc(n, sizeof(*s->ids));
	s->page = calloc(n, sizeof(*s->page));
	s->order = calloc(n, sizeof(*s->order));
	s->buf = calloc(1, ps);
	s->plain = calloc(1, ps);
	s->hist = calloc(1, hist);
	if (!s->ids || !s->page || !s->order || !s->buf || !s->plain || !s->hist)
		return -1;
	touch(s->ids, n * sizeof(*s->ids));
	touch(s->page, n * sizeof(*s->page));
	touch(s->order, n * sizeof(*s->order));
	touch(s->buf, ps);
	touch(s->plain, ps);
	touch(s->hist, hist);
	return 0;
}

static void state_free(struct run_state *s)
{
	free(s->ids);
	free(s->page);
	free(s->order);
	free(s->buf);
	free(s->plain);
	free(s->hist);
}

/* run_driver(), measuring resident memory too when @resident. */
static void run_measured(const struct zpool_driver *d, const struct run_plan *plan,
			 struct run_result *res, int resident)
{
	struct run_state s = { .d = d,
			       .plan = plan,
			       .wl = plan->wl,
			       .res = res,
			       .n = plan->objects,
			       .rng = plan->seed };

	memset(res, 0, sizeof(*res));
	res->resident = resident;
	if (!plan->wl->nr_pages)
		s.n = 0;
	if (resident) /* first: the run's own arrays come from fresh memory too */
		resident_fresh_malloc();
	if (state_init(&s)) {
		fail(&s, "%s: out of memory for %llu objects", d->name, (unsigned long long)s.n);
		goto out;
	}
	s.timer_ns = now_ns_pair_cost();
	if (resident) { /* free memory now resident would hide a growth */
		resident_give_back();
		s.resident_base = resident_bytes();
	}
	s.pool = d->create();
	if (!s.pool) {
		fail(&s, "%s: cannot create a pool: %s", d->name, strerror(errno));
		goto out;
	}
	if (phase_fill(&s))
		goto out;
	measure(&s, PHASE_FILL);
	if (phase_churn(&s))
		goto out;
	measure(&s, PHASE_CHURN);
	if (phase_discard(&s))
		goto out;
	measure(&s, PHASE_DISCARD);
	phase_compact(&s);
	measure(&s, PHASE_COMPACT);
out:
	progress_end(&s.pg);
	if (s.pool) { /* release what is live: not every driver tracks it */
		for (uint64_t i = 0; i < s.n; i++)
			if (s.ids[i] && d->release(s.pool, s.ids[i]))
				fail(&s,
				     "%s: releasing object %llu at the end "
				     "failed",
				     d->name, (unsigned long long)i);
		d->destroy(s.pool);
	}
	state_free(&s);
}

void run_driver(const struct zpool_driver *d, const struct run_plan *plan, struct run_result *res)
{
	run_measured(d, plan, res, 0);
}

int run_driver_isolated(const struct zpool_driver *d, const struct run_plan *plan,
			struct run_result *res)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	fflush(stdout);
	fflush(stderr);
	if (pipe(fds)) {
		snprintf(res->error, sizeof(res->error), "%s: pipe: %s", d->name, strerror(errno));
		res->failed = 1;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(res->error, sizeof(res->error), "%s: fork: %s", d->name, strerror(errno));
		res->failed = 1;
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) { /* the child: run, send the result, leave */
		const char *p = (const char *)res;
		size_t left = sizeof(*res);

		close(fds[0]);
		run_measured(d, plan, res, !!(d->flags & ZPOOL_REAL));
		while (left) {
			ssize_t w = write(fds[1], p, left);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			p += w;
			left -= (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	while (got < sizeof(*res)) {
		ssize_t r = read(fds[0], (char *)res + got, sizeof(*res) - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got == sizeof(*res) && WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	res->failed = 1;
	if (WIFSIGNALED(status))
		snprintf(res->error, sizeof(res->error),
			 "%s: the measuring process died of signal %d (%s)", d->name,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(res->error, sizeof(res->error),
			 "%s: the measuring process failed (exit status %d)", d->name,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return -1;
}
