/*
 * demo_touch.c - the demo's threads: touchers, a compactor, a reclaimer.
 *
 * Thread t of T owns the pages i with i % T == t and touches a random
 * working set of them (o.working_set of its pages), so that a page it finds
 * STORED before touching it is certain to fault under its own touch (no
 * other thread faults it in, and the reclaimer never moves a STORED page):
 * that touch is timed from the thread's side, the fault's full cost as the
 * program sees it. Every page touched is then checked against its record
 * (every byte hashed). In the churn phase one touch in eight also writes
 * the page's first word, which the record follows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examples/uswap/demo.h"
#include "examples/uswap/uswap.h"
#include "zsmalloc/zsmalloc.h"

struct worker {
	struct demo *d;
	unsigned t;
	size_t *ws, nws; /* the working set, shuffled */
	uint64_t rng;
	int churn;        /* phase B: random touches, writes */
	struct hist *lat; /* shared by the touchers */
	atomic_int *stop;
	atomic_ullong touches, faults, writes;
};

struct helpers {
	struct demo *d;
	atomic_int *stop;
	atomic_ullong reclaimed, compacted;
	uint64_t reclaim_cpu_ns; /* the reclaimer's thread CPU time */
	int reclaim;             /* run the reclaimer too */
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* Thread @t's working set: each of its pages with probability @frac. */
static int ws_make(struct worker *w, double frac)
{
	struct demo *d = w->d;
	size_t cap = d->pages / d->o.threads + 1, n = 0;

	w->ws = malloc(cap * sizeof(*w->ws));
	if (!w->ws)
		return -1;
	for (size_t i = w->t; i < d->pages && n < cap; i += d->o.threads)
		if ((double)(rnd(&w->rng) >> 11) / 9007199254740992.0 < frac)
			w->ws[n++] = i;
	for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
		size_t j = rnd(&w->rng) % i, tmp = w->ws[i - 1];

		w->ws[i - 1] = w->ws[j];
		w->ws[j] = tmp;
	}
	w->nws = n;
	return 0;
}

/* Touch page @i: time the first read when the page is out, then check
 * every byte. */
static void touch(struct worker *w, size_t i)
{
	struct demo *d = w->d;
	const unsigned char *p = d->base + i * d->page_size;
	int out = uswap_page_state(d->u, i) == USWAP_STORED;
	uint64_t t0 = wall_ns();

	(void)*(const volatile uint64_t *)(const void *)p;
	if (out) {
		hist_add(w->lat, wall_ns() - t0);
		atomic_fetch_add_explicit(&w->faults, 1, memory_order_relaxed);
	}
	if (!page_check(d, i))
		atomic_fetch_add(&d->wrong, 1);
	atomic_fetch_add_explicit(&d->reads, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->touches, 1, memory_order_relaxed);
}

/* A new first word for page @i, recorded. */
static void rewrite(struct worker *w, size_t i)
{
	struct demo *d = w->d;
	uint64_t v = rnd(&w->rng);

	memcpy(d->base + i * d->page_size, &v, 8);
	d->rec[i].word0 = v;
	atomic_fetch_add_explicit(&w->writes, 1, memory_order_relaxed);
}

static void *toucher(void *arg)
{
	struct worker *w = arg;

	if (!w->churn) {
		for (size_t k = 0; k < w->nws; k++)
			touch(w, w->ws[k]);
		return NULL;
	}
	while (w->nws && !atomic_load_explicit(w->stop, memory_order_relaxed)) {
		size_t i = w->ws[rnd(&w->rng) % w->nws];

		touch(w, i);
		if (rnd(&w->rng) % 8 == 0)
			rewrite(w, i);
	}
	return NULL;
}

/* Phase B: zs_compact() every 10 ms, and 1/256 of the region reclaimed
 * by the clock every 10 ms. */
static void *compactor(void *arg)
{
	struct helpers *h = arg;

	while (!atomic_load(h->stop)) {
		size_t freed = zs_compact(uswap_pool(h->d->u));

		atomic_fetch_add(&h->compacted, freed);
		nap_ms(10);
	}
	return NULL;
}

static void *reclaimer(void *arg)
{
	struct helpers *h = arg;
	size_t n = h->d->pages / 256 + 1;
	uint64_t t0 = cpu_ns();

	while (!atomic_load(h->stop)) {
		long r = uswap_reclaim(h->d->u, n);

		if (r > 0)
			atomic_fetch_add(&h->reclaimed, (uint64_t)r);
		nap_ms(10);
	}
	h->reclaim_cpu_ns = cpu_ns() - t0;
	return NULL;
}

/* Sum of the touchers' counters. */
static void totals(struct worker *w, unsigned n, uint64_t *touches, uint64_t *faults,
		   uint64_t *writes)
{
	*touches = *faults = *writes = 0;
	for (unsigned t = 0; t < n; t++) {
		*touches += atomic_load(&w[t].touches);
		*faults += atomic_load(&w[t].faults);
		*writes += atomic_load(&w[t].writes);
	}
}

/* Wait for the touchers (phase A) or for o.seconds (phase B), drawing
 * the progress line. */
static void wait_phase(struct demo *d, struct worker *w, int churn, struct helpers *h,
		       uint64_t start)
{
	struct progress p;
	uint64_t touches, faults, writes, want = 0;

	for (unsigned t = 0; t < d->o.threads; t++)
		want += w[t].nws;
	progress_init(&p, d->o.quiet);
	for (;;) {
		double s = (double)(wall_ns() - start) / 1e9;

		totals(w, d->o.threads, &touches, &faults, &writes);
		if (churn ? s >= d->o.seconds : touches >= want)
			break;
		if (churn)
			progress_line(&p,
				      "  churn: %.1f of %.0f s, %llu touches, "
				      "%llu faults, %llu pages reclaimed",
				      s, d->o.seconds, (unsigned long long)touches,
				      (unsigned long long)faults,
				      (unsigned long long)atomic_load(&h->reclaimed));
		else
			progress_line(&p, "  fault-in: %llu of %llu pages",
				      (unsigned long long)touches, (unsigned long long)want);
		nap_ms(50);
	}
	progress_done(&p);
}

static int run_phase(struct demo *d, int churn, struct touch_result *r)
{
	unsigned T = d->o.threads;
	struct worker *w = calloc(T, sizeof(*w));
	pthread_t tid[DEMO_MAX_THREADS], comp, rec;
	atomic_int stop = 0;
	struct helpers h = { .d = d, .stop = &stop, .reclaim = churn };
	uint64_t start;
	int err = 0;

	memset(r, 0, sizeof(*r));
	r->latency = malloc(sizeof(*r->latency));
	if (!w || !r->latency) {
		free(w);
		return -ENOMEM;
	}
	hist_reset(r->latency);
	for (unsigned t = 0; t < T && !err; t++) {
		w[t] = (struct worker){ .d = d,
					.t = t,
					.churn = churn,
					.lat = r->latency,
					.stop = &stop,
					.rng = d->o.seed * 7919 + t };
		err = ws_make(&w[t], d->o.working_set);
	}
	start = wall_ns();
	if (churn) {
		pthread_create(&comp, NULL, compactor, &h);
		pthread_create(&rec, NULL, reclaimer, &h);
	}
	for (unsigned t = 0; t < T && !err; t++)
		pthread_create(&tid[t], NULL, toucher, &w[t]);
	if (!err)
		wait_phase(d, w, churn, &h, start);
	atomic_store(&stop, 1);
	for (unsigned t = 0; t < T && !err; t++)
		pthread_join(tid[t], NULL);
	r->seconds = (double)(wall_ns() - start) / 1e9;
	if (churn) {
		pthread_join(comp, NULL);
		pthread_join(rec, NULL);
	}
	totals(w, T, &r->touches, &r->faults_timed, &r->writes);
	r->reclaims = atomic_load(&h.reclaimed);
	r->reclaim_cpu_ns = h.reclaim_cpu_ns;
	r->compactions = atomic_load(&h.compacted);
	for (unsigned t = 0; t < T; t++)
		free(w[t].ws);
	free(w);
	return err ? -ENOMEM : 0;
}

int touch_fault_in(struct demo *d, struct touch_result *r)
{
	return run_phase(d, 0, r);
}

int touch_churn(struct demo *d, struct touch_result *r)
{
	return run_phase(d, 1, r);
}

struct floor_worker {
	unsigned char *base;
	size_t page_size, pages;
	unsigned t, threads;
	uint64_t rng;
	struct hist *lat;
};

static void *floor_toucher(void *arg)
{
	struct floor_worker *w = arg;
	size_t n = (w->pages - w->t + w->threads - 1) / w->threads;
	size_t *order = malloc(n * sizeof(*order));

	for (size_t k = 0; order && k < n; k++)
		order[k] = k;
	for (size_t k = n; order && k > 1; k--) { /* Fisher-Yates */
		size_t j = (size_t)(rnd(&w->rng) % k), tmp = order[k - 1];

		order[k - 1] = order[j];
		order[j] = tmp;
	}
	for (size_t k = 0; order && k < n; k++) {
		unsigned char *p = w->base + (w->t + order[k] * w->threads) * w->page_size;
		uint64_t t0 = wall_ns();

		*(volatile unsigned char *)p = 1; /* each page's first touch */
		hist_add(w->lat, wall_ns() - t0);
	}
	free(order);
	return NULL;
}

int touch_floor(struct demo *d, size_t pages, struct touch_result *r)
{
	struct uswap_config c = { .size = pages * d->page_size };
	struct floor_worker w[DEMO_MAX_THREADS];
	pthread_t tid[DEMO_MAX_THREADS];
	struct uswap *u = uswap_create(&c);
	struct uswap_stats st;
	uint64_t start = wall_ns();

	memset(r, 0, sizeof(*r));
	r->latency = malloc(sizeof(*r->latency));
	if (!u || !r->latency) {
		uswap_destroy(u);
		return -ENOMEM;
	}
	hist_reset(r->latency);
	for (unsigned t = 0; t < d->o.threads; t++) {
		w[t] = (struct floor_worker){ .base = uswap_base(u),
					      .page_size = d->page_size,
					      .pages = pages,
					      .t = t,
					      .threads = d->o.threads,
					      .rng = d->o.seed * 31 + t,
					      .lat = r->latency };
		pthread_create(&tid[t], NULL, floor_toucher, &w[t]);
	}
	for (unsigned t = 0; t < d->o.threads; t++)
		pthread_join(tid[t], NULL);
	r->seconds = (double)(wall_ns() - start) / 1e9;
	uswap_get_stats(u, &st);
	r->touches = hist_count(r->latency);
	r->faults_timed = st.zero_faults;
	uswap_destroy(u);
	return 0;
}

void touch_result_free(struct touch_result *r)
{
	free(r->latency);
	r->latency = NULL;
}
