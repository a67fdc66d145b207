// Tests of tools/trace.h and tools/workload.h: trace lines, pages
// synthesized to a size, and the classes of pages (same-filled, raw).
#include <gtest/gtest.h>

#include <lz4.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "tools/trace.h"
#include "tools/workload.h"
}

namespace {

TEST(TraceLine, AcceptsSizesSameFilledAndComments)
{
	uint32_t s = 0;

	EXPECT_EQ(1, trace_parse_line("1234\n", 4096, &s));
	EXPECT_EQ(1234u, s);
	EXPECT_EQ(1, trace_parse_line("  1 \r\n", 4096, &s));
	EXPECT_EQ(1u, s);
	EXPECT_EQ(1, trace_parse_line("4096", 4096, &s));
	EXPECT_EQ(4096u, s);
	EXPECT_EQ(1, trace_parse_line("S\n", 4096, &s));
	EXPECT_EQ(TRACE_SAME, s);
	EXPECT_EQ(1, trace_parse_line("s", 4096, &s));
	EXPECT_EQ(TRACE_SAME, s);
	EXPECT_EQ(0, trace_parse_line("# a comment\n", 4096, &s));
	EXPECT_EQ(0, trace_parse_line("\n", 4096, &s));
	EXPECT_EQ(0, trace_parse_line("   \t\n", 4096, &s));
}

TEST(TraceLine, RefusesEverythingElse)
{
	uint32_t s = 0;

	for (const char *bad : {"0", "4097", "99999999999999999999", "-5", "12a",
				"1 2", "SS", "x", "1.5", "+3", "S 12"})
		EXPECT_EQ(-EINVAL, trace_parse_line(bad, 4096, &s)) << bad;
}

class Synth : public ::testing::TestWithParam<int> {};

// Every size a trace can ask for lands within a few bytes, almost all
// exactly; the page's LZ4 output is what the workload keeps.
TEST_P(Synth, HitsTargetSizes)
{
	const int hc = GetParam();
	trace_synth s;
	ASSERT_EQ(0, trace_synth_init(&s, 4096, hc, 99));
	std::vector<char> page(4096), out(LZ4_compressBound(4096));
	int exact = 0, total = 0;

	for (uint32_t want = 24; want < 4096; want += hc ? 37 : 5) {
		trace_synth_page(&s, want, want, page.data());
		int got = page_compress(page.data(), 4096, out.data(),
					(int)out.size(), hc);
		ASSERT_GT(got, 0);
		EXPECT_LE(std::abs(got - (int)want), 8) << "size " << want;
		exact += got == (int)want;
		total++;
	}
	EXPECT_GE(exact * 100, total * 90) << exact << " of " << total;
	// 4096: a page that does not compress.
	trace_synth_page(&s, 4096, 1, page.data());
	EXPECT_GE(page_compress(page.data(), 4096, out.data(), (int)out.size(), hc),
		  4096);
	// S: same-filled.
	trace_synth_page(&s, TRACE_SAME, 2, page.data());
	EXPECT_TRUE(page_same_filled(page.data(), 4096));
	trace_synth_free(&s);
}

INSTANTIATE_TEST_SUITE_P(Lz4AndHc, Synth, ::testing::Values(0, 1));

TEST(Synth, SameLineSameSeedSamePage)
{
	trace_synth a, b;
	ASSERT_EQ(0, trace_synth_init(&a, 4096, 0, 5));
	ASSERT_EQ(0, trace_synth_init(&b, 4096, 0, 5));
	std::vector<char> p1(4096), p2(4096), p3(4096);
	trace_synth_page(&a, 1000, 17, p1.data());
	trace_synth_page(&b, 1000, 17, p2.data());
	trace_synth_page(&b, 1000, 18, p3.data());
	EXPECT_EQ(p1, p2);
	EXPECT_NE(p1, p3); // another line: other bytes, same size
	trace_synth_free(&a);
	trace_synth_free(&b);
}

std::string WriteTemp(const std::string &text)
{
	char name[] = "/tmp/trace_test_XXXXXX";
	int fd = mkstemp(name);
	EXPECT_GE(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(text.c_str(), f);
	fclose(f);
	return name;
}

TEST(TraceRead, ClassifiesAndKeepsEveryPage)
{
	std::string path = WriteTemp("# header\n100\nS\n\n4096\n2000\ns\n");
	workload wl;
	trace_synth s;
	ASSERT_EQ(0, workload_init(&wl, 4096, 0));
	ASSERT_EQ(0, trace_synth_init(&s, 4096, 0, 1));
	ASSERT_EQ(0, trace_read(&wl, &s, path.c_str()));
	EXPECT_EQ(5u, wl.trace_len);
	EXPECT_EQ(2u, wl.same_filled);
	EXPECT_EQ(3u, wl.nr_pages);
	EXPECT_EQ(1u, wl.raw);
	EXPECT_EQ(4096u, wl.pages[1].size);
	EXPECT_NEAR(100, (int)wl.pages[0].size, 4);
	EXPECT_NEAR(2000, (int)wl.pages[2].size, 4);
	// What was kept decompresses to a page with the recorded hash.
	std::vector<char> plain(4096);
	ASSERT_EQ(4096, LZ4_decompress_safe((const char *)wl.arena + wl.pages[0].offset,
					     plain.data(), (int)wl.pages[0].size, 4096));
	EXPECT_EQ(wl.pages[0].hash, page_hash(plain.data(), 4096));
	// --save-trace writes what was read, sizes as stored.
	std::string out = path + ".out";
	ASSERT_EQ(0, trace_write(&wl, out.c_str(), "LZ4"));
	workload again;
	ASSERT_EQ(0, workload_init(&again, 4096, 0));
	ASSERT_EQ(0, trace_read(&again, &s, out.c_str()));
	EXPECT_EQ(wl.trace_len, again.trace_len);
	EXPECT_EQ(wl.same_filled, again.same_filled);
	EXPECT_EQ(wl.raw, again.raw);
	workload_free(&again);
	trace_synth_free(&s);
	workload_free(&wl);
	std::remove(path.c_str());
	std::remove(out.c_str());
}

TEST(TraceRead, NamesTheBadLine)
{
	std::string path = WriteTemp("100\n200\nbanana\n");
	workload wl;
	trace_synth s;
	ASSERT_EQ(0, workload_init(&wl, 4096, 0));
	ASSERT_EQ(0, trace_synth_init(&s, 4096, 0, 1));
	testing::internal::CaptureStderr();
	EXPECT_EQ(-1, trace_read(&wl, &s, path.c_str()));
	std::string err = testing::internal::GetCapturedStderr();
	EXPECT_NE(std::string::npos, err.find(path + ":3:")) << err;
	EXPECT_NE(std::string::npos, err.find("banana")) << err;
	testing::internal::CaptureStderr();
	EXPECT_EQ(-1, trace_read(&wl, &s, "/nonexistent/trace"));
	testing::internal::GetCapturedStderr();
	trace_synth_free(&s);
	workload_free(&wl);
	std::remove(path.c_str());
}

TEST(Workload, SameFilledIsEveryWordEqual)
{
	std::vector<uint64_t> page(512, 0x0101010101010101u);
	EXPECT_TRUE(page_same_filled(page.data(), 4096));
	page[511] ^= 1;
	EXPECT_FALSE(page_same_filled(page.data(), 4096));
	// A repeated 16-byte pattern is not same-filled (zram's test is per word).
	for (size_t i = 0; i < page.size(); i++)
		page[i] = i % 2 ? 1 : 2;
	EXPECT_FALSE(page_same_filled(page.data(), 4096));
}

TEST(Workload, MaxPagesStopsReading)
{
	workload wl;
	ASSERT_EQ(0, workload_init(&wl, 4096, 0));
	wl.max_pages = 3;
	std::vector<char> page(4096, 'x');
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, workload_add_page(&wl, page.data(), 0));
	EXPECT_TRUE(workload_full(&wl));
	workload_free(&wl);
}

} // namespace
