/*
 * demo.c - uswap on real data: a region filled with pages, reclaimed into
 * a zsmalloc pool, faulted back in by threads that check every page they
 * read, churned with a reclaimer and a compactor running, and read back
 * whole twice. Prints resident memory (/proc/self/status, smaps), fault
 * latency, reclaim throughput beside LZ4's own on the same pages, and the
 * issue's targets.
 *
 *   fill      write every page of the input into the region (first
 *             touches: the handler gives zero pages)
 *   round 1   LZ4 alone over every page, then reclaim --reclaim of the
 *             region (all by default): throughput, and resident memory
 *             against the compressed bytes
 *   fault-in  --threads threads fault their working sets in, each fault
 *             timed by the thread that takes it; then the floor: the same
 *             threads' first writes to a fresh region (the handler's path
 *             with no store), timed the same way
 *   churn     --seconds of random touches (one in eight a write), with a
 *             clock reclaimer and a compactor
 *   read all  every page read and checked by one thread (the rest of the
 *             faults, timed too)
 *   round 2   LZ4 alone and a whole-region reclaim again: the same pages
 *             reclaimed a second time
 *   read all  once more; then uswap_check() and zs_check()
 */
#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "examples/uswap/demo.h"
#include "examples/uswap/uswap.h"
#include "zsmalloc/zsmalloc.h"

/* What one round measured. */
struct round {
	double lz4_mbps, reclaim_mbps, reclaim_wall_s;
	long reclaimed;
	double resident_pct; /* region + pool resident / (compressed + table) */
	uint64_t resident, ideal;
};

static double mb_per_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / 1e6 / ((double)ns / 1e9) : 0;
}

/* LZ4 alone over every page, as reclaim calls it: MB/s of thread CPU. */
static double lz4_alone(struct demo *d, uint64_t *off, uint64_t *sized)
{
	int cap = LZ4_compressBound((int)d->page_size);
	void *state = malloc((size_t)LZ4_sizeofState());
	char *out = malloc((size_t)cap);
	uint64_t t0, ns;

	*off = *sized = 0;
	if (!state || !out) {
		free(state), free(out);
		return 0;
	}
	t0 = cpu_ns();
	for (size_t i = 0; i < d->pages; i++) {
		int n = LZ4_compress_fast_extState(state, (const char *)d->base + i * d->page_size,
						   out, (int)d->page_size, cap, 1);

		if (d->want && d->want[i] && d->want[i] < d->page_size) {
			*sized += 1;
			*off += (uint32_t)n != d->want[i];
		}
	}
	ns = cpu_ns() - t0;
	free(state), free(out);
	return mb_per_s(d->pages * d->page_size, ns);
}

/* Reclaim pages [0, n) in steps, with a progress line. */
static long reclaim_all(struct demo *d, size_t n, uint64_t *cpu)
{
	long total = 0;
	uint64_t t0 = cpu_ns();

	*cpu = 0;
	for (size_t i = 0; i < n; i += 4096) {
		long r = uswap_reclaim_range(d->u, i, n - i < 4096 ? n - i : 4096);

		if (r < 0)
			break; /* the pool refused: what was stored counts */
		total += r;
		progress_line(&d->prog, "  reclaim: %zu of %zu pages", i, n);
	}
	progress_done(&d->prog);
	*cpu = cpu_ns() - t0;
	return total;
}

static void print_store(const struct uswap_stats *st)
{
	char a[32], b[32], c[32], e[32], f[32], g[32];

	printf("  store: %s pages out, %s of them same-filled, %s huge (raw); "
	       "%s compressed of %s (ratio %.2f)\n",
	       fmt_count(a, sizeof(a), st->stored_pages), fmt_count(b, sizeof(b), st->same_pages),
	       fmt_count(c, sizeof(c), st->huge_pages),
	       fmt_bytes(e, sizeof(e), st->compr_data_size),
	       fmt_bytes(f, sizeof(f), st->orig_data_size),
	       st->compr_data_size ? (double)st->orig_data_size / (double)st->compr_data_size : 0);
	printf("  pool: %s in pages + %s metadata (%.1f %% of the compressed "
	       "bytes); table %s\n",
	       fmt_bytes(a, sizeof(a), st->mem_used_total),
	       fmt_bytes(b, sizeof(b), st->pool_metadata),
	       st->compr_data_size ? 100.0 * (double)(st->mem_used_total + st->pool_metadata) /
					     (double)st->compr_data_size
				   : 0,
	       fmt_bytes(g, sizeof(g), st->table_bytes));
}

/* Resident memory of region + pool as the OS reports it (the process's
 * anonymous memory grown since just before uswap_create(), and shared
 * memory: a scattered pool with remap windows lives in a memfd), against
 * the compressed bytes + the table. */
static void resident_vs_ideal(struct demo *d, struct round *r)
{
	struct uswap_stats st;
	struct mem_now m;
	char a[32], b[32];

	uswap_get_stats(d->u, &st);
	mem_read(d->base, uswap_pages(d->u) * d->page_size, &m);
	print_store(&st);
	print_mem("resident", &m);
	r->resident = m.rss_anon - d->anon_base + m.rss_shmem;
	r->ideal = st.compr_data_size + st.table_bytes;
	r->resident_pct = r->ideal ? 100.0 * (double)r->resident / (double)r->ideal : 0;
	printf("  region + pool resident (RssAnon grown since uswap_create, + "
	       "RssShmem) %s = %.1f %% of compressed + table (%s)\n",
	       fmt_bytes(a, sizeof(a), r->resident), r->resident_pct,
	       fmt_bytes(b, sizeof(b), r->ideal));
}

static void round_run(struct demo *d, int no, struct round *r)
{
	uint64_t off, sized, cpu, t0;
	size_t n = (size_t)((double)d->pages * d->o.reclaim + 0.5);
	char a[32], b[32];

	if (no == 2)
		n = d->pages;
	memset(r, 0, sizeof(*r));
	r->lz4_mbps = lz4_alone(d, &off, &sized);
	printf("\nround %d: LZ4 alone on the same pages (LZ4_compress_fast_"
	       "extState, acceleration 1): %.0f MB/s per core\n",
	       no, r->lz4_mbps);
	if (no == 1 && sized)
		printf("  trace pages synthesized to their line's size: %s of %s "
		       "off (LZ4 cannot hit every size)\n",
		       fmt_count(a, sizeof(a), off), fmt_count(b, sizeof(b), sized));
	t0 = wall_ns();
	r->reclaimed = reclaim_all(d, n, &cpu);
	r->reclaim_wall_s = (double)(wall_ns() - t0) / 1e9;
	r->reclaim_mbps = mb_per_s((uint64_t)n * d->page_size, cpu);
	printf("  reclaim of %s pages (%.0f %% of the region): %s out in %.2f "
	       "s, %.0f MB/s per core (%.2fx LZ4 alone)\n",
	       fmt_count(a, sizeof(a), n), 100.0 * (double)n / (double)d->pages,
	       fmt_count(b, sizeof(b), (uint64_t)(r->reclaimed > 0 ? r->reclaimed : 0)),
	       r->reclaim_wall_s, r->reclaim_mbps, r->lz4_mbps ? r->reclaim_mbps / r->lz4_mbps : 0);
	resident_vs_ideal(d, r);
}

/* One thread reads every page; faults of stored pages timed. */
static void read_all(struct demo *d, struct hist *lat)
{
	uint64_t before = atomic_load(&d->wrong);

	for (size_t i = 0; i < d->pages; i++) {
		const unsigned char *p = d->base + i * d->page_size;
		int out = uswap_page_state(d->u, i) == USWAP_STORED;
		uint64_t t0 = wall_ns();

		(void)*(const volatile uint64_t *)(const void *)p;
		if (out)
			hist_add(lat, wall_ns() - t0);
		if (!page_check(d, i))
			atomic_fetch_add(&d->wrong, 1);
		atomic_fetch_add(&d->reads, 1);
		if (i % 4096 == 0)
			progress_line(&d->prog, "  read all: %zu of %zu", i, d->pages);
	}
	progress_done(&d->prog);
	char a[32];

	printf("  read all: %s pages checked, %llu wrong\n", fmt_count(a, sizeof(a), d->pages),
	       (unsigned long long)(atomic_load(&d->wrong) - before));
}

/* Count the input, make the region, fill it. 0, or the exit status. */
static int setup(struct demo *d)
{
	struct uswap_config c = { 0 };
	struct mem_now base;
	uint64_t n;
	uint64_t t0;
	char a[32], b[32];

	d->page_size = (size_t)sysconf(_SC_PAGESIZE);
	if (source_count(d, &n))
		return 1;
	if (!n) {
		fprintf(stderr, "demo: the input has no pages\n");
		return 1;
	}
	c.size = n * d->page_size;
	c.batch_pages = d->o.batch;
	c.kernel_faults = d->o.kernel_faults;
	d->pages = (size_t)n;
	d->rec = calloc(d->pages, sizeof(*d->rec));
	if (d->o.input == IN_TRACES)
		d->want = calloc(d->pages, sizeof(*d->want));
	if (!d->rec || (d->o.input == IN_TRACES && !d->want)) {
		fprintf(stderr, "demo: out of memory\n");
		return 1;
	}
	/* The demo's own records are made: from here, the anonymous memory
	 * that grows is the region's and the store's. */
	mem_read(NULL, 0, &base);
	d->anon_base = base.rss_anon;
	if (!(d->u = uswap_create(&c))) {
		fprintf(stderr, "demo: uswap_create: %s\n", uswap_advice(errno));
		return errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP ? 2 : 1;
	}
	d->base = uswap_base(d->u);
	t0 = wall_ns();
	if (source_fill(d))
		return 1;
	progress_done(&d->prog);
	printf("uswap demo: %s\n", d->sources);
	printf("  region: %s pages of %zu bytes (%s); %s; %u touching "
	       "thread%s, seed %llu\n",
	       fmt_count(a, sizeof(a), d->pages), d->page_size,
	       fmt_bytes(b, sizeof(b), (uint64_t)d->pages * d->page_size),
	       d->synthesized ? "trace lines synthesized to their LZ4 size" : "real pages",
	       d->o.threads, d->o.threads == 1 ? "" : "s", (unsigned long long)d->o.seed);
	printf("\nfill: %s pages written in %.2f s\n", fmt_count(a, sizeof(a), d->pages),
	       (double)(wall_ns() - t0) / 1e9);
	return 0;
}

static void print_phase(const char *what, struct demo *d, const struct touch_result *r)
{
	char a[32], b[32], c[32];

	char e[32];

	printf("  %s: %s touches in %.2f s (%s writes); %s pages reclaimed "
	       "meanwhile, %s pool pages compacted\n",
	       what, fmt_count(a, sizeof(a), r->touches), r->seconds,
	       fmt_count(b, sizeof(b), r->writes), fmt_count(c, sizeof(c), r->reclaims),
	       fmt_count(e, sizeof(e), r->compactions));
	if (r->reclaims)
		printf("  the reclaimer: %.0f MB/s per core (%.1f us of CPU a "
		       "page)\n",
		       mb_per_s(r->reclaims * d->page_size, r->reclaim_cpu_ns),
		       (double)r->reclaim_cpu_ns / 1e3 / (double)r->reclaims);
	print_latency("faults timed by the touching threads", r->latency);
}

static void print_handler(struct demo *d)
{
	struct uswap_stats st;
	char a[32], b[32], c[32], e[32], f[32];

	uswap_get_stats(d->u, &st);
	printf("  handler: %s faults served from the store, service time p50 "
	       "%s, p99 %s, max %s\n",
	       fmt_count(a, sizeof(a), st.faults), fmt_ns(b, sizeof(b), st.fault_ns_p50),
	       fmt_ns(c, sizeof(c), st.fault_ns_p99), fmt_ns(e, sizeof(e), st.fault_ns_max));
	printf("  %s write-protect faults, %s reclaims cancelled by a write, "
	       "%s stale fault messages\n",
	       fmt_count(a, sizeof(a), st.wp_faults), fmt_count(b, sizeof(b), st.reclaim_written),
	       fmt_count(f, sizeof(f), st.stale_faults));
}

static void now_mem(struct demo *d, const char *label)
{
	struct mem_now m;

	mem_read(d->base, uswap_pages(d->u) * d->page_size, &m);
	print_mem(label, &m);
}

/* The objects of the pages faulted in left holes in their zspages: one
 * zs_compact() gives the emptied pages back. */
static void compact_now(struct demo *d)
{
	struct uswap_stats st;
	uint64_t t0 = wall_ns();
	size_t freed = zs_compact(uswap_pool(d->u));
	char a[32], b[32], c[32];

	uswap_get_stats(d->u, &st);
	printf("  zs_compact: %s pool pages freed in %.2f s; the pool holds %s "
	       "for %s compressed\n",
	       fmt_count(a, sizeof(a), freed), (double)(wall_ns() - t0) / 1e9,
	       fmt_bytes(b, sizeof(b), st.mem_used_total),
	       fmt_bytes(c, sizeof(c), st.compr_data_size));
	now_mem(d, "resident");
}

static const char *verdict(int met)
{
	return met ? "met" : "NOT MET";
}

static void print_targets(struct demo *d, const struct round *r1, const struct round *r2,
			  const struct hist *lat, const struct hist *floor)
{
	uint64_t p50 = hist_percentile(lat, 50), p99 = hist_percentile(lat, 99);
	uint64_t f50 = hist_percentile(floor, 50), f99 = hist_percentile(floor, 99);
	char a[32], b[32], c[32], e[32];
	int full = d->o.reclaim >= 1;

	printf("\ntargets (issue 20), this run:\n");
	if (full)
		printf("  resident after reclaiming the whole region <= 103 %% "
		       "of compressed + bookkeeping: %.1f %% (round 2: %.1f "
		       "%%)  %s\n",
		       r1->resident_pct, r2->resident_pct,
		       verdict(r1->resident_pct <= 103 && r2->resident_pct <= 103));
	else
		printf("  resident after reclaiming the whole region <= 103 %% "
		       "of compressed + bookkeeping: round 2 %.1f %% (round 1 "
		       "reclaimed %.0f %%)  %s\n",
		       r2->resident_pct, 100 * d->o.reclaim, verdict(r2->resident_pct <= 103));
	printf("  fault-in p50 <= 5 us with %u touching thread%s: %s (floor %s, "
	       "%.2fx)  %s\n",
	       d->o.threads, d->o.threads == 1 ? "" : "s", fmt_ns(a, sizeof(a), p50),
	       fmt_ns(e, sizeof(e), f50), f50 ? (double)p50 / (double)f50 : 0,
	       verdict(p50 <= 5000));
	printf("  fault-in p99 <= 20 us: %s (floor %s, %.2fx)  %s\n", fmt_ns(b, sizeof(b), p99),
	       fmt_ns(c, sizeof(c), f99), f99 ? (double)p99 / (double)f99 : 0,
	       verdict(p99 <= 20000));
	printf("  reclaim per core beside LZ4 alone: %.0f vs %.0f MB/s (%.2fx), "
	       "round 2 %.0f vs %.0f (%.2fx)  reported\n",
	       r1->reclaim_mbps, r1->lz4_mbps, r1->lz4_mbps ? r1->reclaim_mbps / r1->lz4_mbps : 0,
	       r2->reclaim_mbps, r2->lz4_mbps, r2->lz4_mbps ? r2->reclaim_mbps / r2->lz4_mbps : 0);
	printf("  every page read back equals its original: %s reads, %s "
	       "wrong  %s\n",
	       fmt_count(e, sizeof(e), atomic_load(&d->reads)),
	       fmt_count(a, sizeof(a), atomic_load(&d->wrong)),
	       verdict(atomic_load(&d->wrong) == 0));
}

/* The integrity checks at the end: 0 when clean. */
static int final_checks(struct demo *d)
{
	struct uswap_stats st;
	size_t uc = uswap_check(d->u), zc = zs_check(uswap_pool(d->u));

	uswap_get_stats(d->u, &st);
	printf("  checks: uswap_check %zu, zs_check %zu violations; %llu read "
	       "errors, %llu pages found in place\n",
	       uc, zc, (unsigned long long)st.read_errors, (unsigned long long)st.eexist);
	return uc || zc || st.read_errors || st.eexist;
}

static int phases(struct demo *d)
{
	struct round r1, r2;
	struct touch_result fa, ch, fl;
	struct hist lat1;
	char a[32];
	int bad;

	now_mem(d, "resident");
	round_run(d, 1, &r1);
	printf("\nfault-in: %u touching thread%s, each faulting its working "
	       "set (%.0f %% of its pages) back in\n",
	       d->o.threads, d->o.threads == 1 ? "" : "s", 100 * d->o.working_set);
	if (touch_fault_in(d, &fa))
		return 1;
	print_phase("fault-in", d, &fa);
	print_handler(d);
	now_mem(d, "resident");
	compact_now(d);
	if (touch_floor(d, d->pages / 2 < 16384 ? d->pages / 2 + 1 : 16384, &fl))
		return 1;
	printf("  the floor, same threads and handler: first writes to %s "
	       "never-stored pages of a new region (UFFDIO_COPY of a zero page, "
	       "no store)\n",
	       fmt_count(a, sizeof(a), fl.touches));
	print_latency("faults timed by the touching threads", fl.latency);
	printf("\nchurn: %g s of random touches of the working sets, one in "
	       "eight a write; a reclaimer and a compactor running\n",
	       d->o.seconds);
	if (touch_churn(d, &ch))
		return 1;
	print_phase("churn", d, &ch);
	print_handler(d);
	printf("\nread all (one thread):\n");
	hist_reset(&lat1);
	read_all(d, &lat1);
	print_latency("faults timed by the reading thread", &lat1);
	round_run(d, 2, &r2);
	printf("\nread all again:\n");
	read_all(d, &lat1);
	bad = final_checks(d);
	now_mem(d, "resident");
	print_targets(d, &r1, &r2, fa.latency, fl.latency);
	touch_result_free(&fa);
	touch_result_free(&fl);
	touch_result_free(&ch);
	return bad || atomic_load(&d->wrong) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct demo d;
	int err, status;

	if ((status = options_parse(argc, argv, &d.o)) != 0)
		return status == 1 ? 0 : status;
	progress_init(&d.prog, d.o.quiet);
	err = uswap_available(d.o.kernel_faults);
	if (err) {
		fprintf(stderr,
			"demo: userfaultfd cannot be used here (%s): "
			"%s\n",
			strerror(-err), uswap_advice(err));
		return 2;
	}
	status = setup(&d);
	if (!status)
		status = phases(&d);
	uswap_destroy(d.u);
	free(d.rec);
	free(d.want);
	return status;
}
