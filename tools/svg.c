/*
 * svg.c - density's charts, as one hand-written SVG file:
 *   1. bytes used as % of ideal, per allocator (groups) and phase (bars),
 *      with the 100 % line;
 *   2. zsmalloc's fill per size class (objects used / object places) after
 *      discarding half and after compaction.
 */
#include <errno.h>
#include <string.h>

#include "tools/report.h"
#include "tools/workload.h"

#define WIDTH 960
#define LEFT 64
#define RIGHT 24
#define CHART1_TOP 96
#define CHART1_H 300
#define CHART2_TOP (CHART1_TOP + CHART1_H + 130)
#define CHART2_H 200
#define HEIGHT (CHART2_TOP + CHART2_H + 70)

static const char *const phase_colors[NR_PHASES] = { "#4e79a7", "#f28e2b", "#e15759", "#59a14f" };

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *s)
{
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y, anchor,
		size);
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
	fputs("</text>\n", f);
}

/* A legend entry at (@x, @y): a 12-pixel square of @color, then @label. */
static void legend(FILE *f, double x, double y, const char *color, const char *label)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x, y,
		color);
	text(f, x + 16, y + 10, "start", 12, label);
}

/* A line across a chart (from LEFT, @w wide) at @y, drawn as @stroke says. */
static void hline(FILE *f, double y, double w, const char *stroke)
{
	fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n", LEFT, y, LEFT + w,
		y, stroke);
}

/* A grid line at @y, with @label left of the chart. */
static void grid_line(FILE *f, double y, double w, const char *label)
{
	hline(f, y, w, "stroke=\"#ddd\"");
	text(f, LEFT - 6, y + 4, "end", 11, label);
}

static void chart_ideal(const struct report *r, FILE *f)
{
	double top = CHART1_TOP, h = CHART1_H, w = WIDTH - LEFT - RIGHT;
	double ymax = 150, group, bar;
	char buf[64];

	for (size_t i = 0; i < r->nr_rows; i++)
		for (int ph = 0; ph < r->rows[i].res->phases; ph++)
			if (pct_ideal(&r->rows[i].res->phase[ph]) > ymax)
				ymax = pct_ideal(&r->rows[i].res->phase[ph]);
	ymax = ((int)(ymax / 50) + 1) * 50.0;
	text(f, LEFT, top - 40, "start", 16,
	     "Memory used as % of the live bytes (ideal = 100 %), per phase");
	for (int ph = 0; ph < NR_PHASES; ph++)
		legend(f, LEFT + 420 + ph * 125, top - 30, phase_colors[ph], phase_names[ph]);
	for (double v = 0; v <= ymax; v += 50) {
		snprintf(buf, sizeof(buf), "%.0f %%", v);
		grid_line(f, top + h - v / ymax * h, w, buf);
	}
	group = r->nr_rows ? w / (double)r->nr_rows : w;
	bar = (group - 16) / NR_PHASES;
	for (size_t i = 0; i < r->nr_rows; i++) {
		const struct report_row *row = &r->rows[i];
		double gx = LEFT + (double)i * group + 8;

		for (int ph = 0; ph < row->res->phases; ph++) {
			double v = pct_ideal(&row->res->phase[ph]);
			double bh = v / ymax * h;

			fprintf(f,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
				"height=\"%.1f\" fill=\"%s\"><title>%s, %s: "
				"%.1f %%</title></rect>\n",
				gx + ph * bar, top + h - bh, bar - 2, bh, phase_colors[ph],
				row->label, phase_names[ph], v);
			snprintf(buf, sizeof(buf), "%.0f", v);
			text(f, gx + ph * bar + (bar - 2) / 2, top + h - bh - 3, "middle", 9, buf);
		}
		text(f, gx + (group - 16) / 2, top + h + 18, "middle", 12, row->label);
	}
	hline(f, top + h - 100 / ymax * h, w, "stroke=\"#000\" stroke-dasharray=\"6,4\"");
	hline(f, top + h, w, "stroke=\"#000\"");
}

static const struct report_row *class_row(const struct report *r)
{
	for (size_t i = 0; i < r->nr_rows; i++)
		if (r->rows[i].driver->class_stats && r->rows[i].res->phases > PHASE_COMPACT)
			return &r->rows[i];
	return NULL;
}

static void chart_classes(const struct report *r, FILE *f)
{
	const struct report_row *row = class_row(r);
	double top = CHART2_TOP, h = CHART2_H, w = WIDTH - LEFT - RIGHT;
	double ps = (double)r->wl->page_size; /* the x axis: up to the largest class */
	static const enum phase shown[] = { PHASE_DISCARD, PHASE_COMPACT };
	static const char *const colors[] = { "#f4a5a5", "#4e79a7" };
	char buf[160];

	if (!row)
		return;
	for (int s = 0; s < 2; s++) /* the largest class that holds pages */
		for (int c = 0; c < row->res->phase[shown[s]].nr_classes; c++)
			if (row->res->phase[shown[s]].classes[c].obj_allocated &&
			    row->res->phase[shown[s]].classes[c].size > ps)
				ps = row->res->phase[shown[s]].classes[c].size;
	snprintf(buf, sizeof(buf), "%s: fill of each size class (objects used / object places)",
		 row->label);
	text(f, LEFT, top - 40, "start", 16, buf);
	for (int s = 0; s < 2; s++)
		legend(f, LEFT + 560 + s * 170, top - 30, colors[s],
		       s ? "after compaction" : "after discarding half");
	for (int v = 0; v <= 100; v += 25) {
		snprintf(buf, sizeof(buf), "%d %%", v);
		grid_line(f, top + h - v / 100.0 * h, w, buf);
	}
	for (int s = 0; s < 2; s++) {
		const struct phase_result *p = &row->res->phase[shown[s]];
		double prev = 0;

		for (int c = 0; c < p->nr_classes; c++) {
			const struct zpool_class_stat *cs = &p->classes[c];
			double x0 = LEFT + prev / ps * w;
			double x1 = LEFT + cs->size / ps * w;
			double fill, bh, inset = s ? (x1 - x0) * 0.25 : 0;

			prev = cs->size;
			if (!cs->obj_allocated)
				continue;
			fill = (double)cs->obj_used / (double)cs->obj_allocated;
			bh = fill * h;
			fprintf(f,
				"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
				"height=\"%.1f\" fill=\"%s\"><title>class %u B "
				"(%u pages per zspage), %s: %llu of %llu places "
				"used</title></rect>\n",
				x0 + inset, top + h - bh, x1 - x0 - 2 * inset, bh, colors[s],
				cs->size, cs->pages_per_zspage, phase_names[shown[s]],
				(unsigned long long)cs->obj_used,
				(unsigned long long)cs->obj_allocated);
		}
	}
	for (int v = 0; v <= 4; v++) {
		double x = LEFT + v / 4.0 * w;

		snprintf(buf, sizeof(buf), "%.0f B", v / 4.0 * ps);
		text(f, x, top + h + 16, "middle", 11, buf);
	}
	text(f, LEFT + w / 2, top + h + 36, "middle", 12,
	     "class size (object size rounded up to its class)");
	hline(f, top + h, w, "stroke=\"#000\"");
}

int report_svg(const struct report *r, const char *path)
{
	FILE *f = fopen(path, "w");
	char a[32], line[640];
	int err = 0;

	if (!f)
		return -errno;
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		WIDTH, class_row(r) ? HEIGHT : CHART2_TOP - 40, WIDTH,
		class_row(r) ? HEIGHT : CHART2_TOP - 40);
	snprintf(line, sizeof(line), "density: %.200s; %s objects, %s; seed %llu", r->wl->sources,
		 fmt_count(a, sizeof(a), r->objects), r->compressor, (unsigned long long)r->seed);
	text(f, LEFT, 20, "start", 12, line);
	chart_ideal(r, f);
	chart_classes(r, f);
	fputs("</svg>\n", f);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}
