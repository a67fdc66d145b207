/* demo_report.c - the demo's number formats, progress line, and the lines
 * it prints more than once. */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "examples/uswap/demo.h"

void progress_init(struct progress *p, int quiet)
{
	p->on = !quiet && isatty(STDERR_FILENO);
	p->last_ns = 0;
	p->drawn = 0;
}

/* Redraw at most 5 times a second, on stderr only (stdout stays clean). */
void progress_line(struct progress *p, const char *fmt, ...)
{
	uint64_t now = wall_ns();
	va_list ap;

	if (!p->on || now - p->last_ns < 200000000u)
		return;
	p->last_ns = now;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	p->drawn = 1;
}

void progress_done(struct progress *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = 0;
}

const char *fmt_count(char *buf, size_t len, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	size_t o = 0;

	for (int i = 0; i < n && o + 1 < len; i++) {
		if (i && (n - i) % 3 == 0 && o + 2 < len)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t v)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double x = (double)v;
	int u = 0;

	while (x >= 1024 && u < 4) {
		x /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", x, unit[u]);
	return buf;
}

const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
	return buf;
}

void print_mem(const char *label, const struct mem_now *m)
{
	char a[32], b[32], c[32], e[32];

	printf("  %s: VmRSS %s (RssAnon %s, RssShmem %s); region %s\n", label,
	       fmt_bytes(a, sizeof(a), m->vm_rss), fmt_bytes(b, sizeof(b), m->rss_anon),
	       fmt_bytes(c, sizeof(c), m->rss_shmem), fmt_bytes(e, sizeof(e), m->region_rss));
}

void print_latency(const char *label, const struct hist *h)
{
	char n[32], p50[32], p99[32], mx[32];

	printf("  %s: %s faults, p50 %s, p99 %s, max %s\n", label,
	       fmt_count(n, sizeof(n), hist_count(h)),
	       fmt_ns(p50, sizeof(p50), hist_percentile(h, 50)),
	       fmt_ns(p99, sizeof(p99), hist_percentile(h, 99)),
	       fmt_ns(mx, sizeof(mx), hist_max(h)));
}
