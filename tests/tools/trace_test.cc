// Tests of tools/trace.h and tools/workload.h: trace lines, pages
// synthesized to a size, and the classes of pages (same-filled, raw).
#include <gtest/gtest.h>

#include <lz4.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "tools/trace.h"
#include "tools/workload.h"
}

namespace
{

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

	for (const char *bad : { "0", "4097", "99999999999999999999", "-5", "12a", "1 2", "SS", "x",
				 "1.5", "+3", "S 12" })
		EXPECT_EQ(-EINVAL, trace_parse_line(bad, 4096, &s)) << bad;
}

class Synth : public ::testing::TestWithParam<int>
{
};

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
		int got = page_compress(page.data(), 4096, out.data(), (int)out.size(), hc);
		ASSERT_GT(got, 0);
		EXPECT_LE(std::abs(got - (int)want), 8) << "size " << want;
		exact += got == (int)want;
		total++;
	}
	EXPECT_GE(exact * 100, total * 90) << exact << " of " << total;
	// 4096: a page that does not compress.
	trace_synth_page(&s, 4096, 1, page.data());
	EXPECT_GE(page_compress(page.data(), 4096, out.data(), (int)out.size(), hc), 4096);
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

std::string write_temp(const std::string &text)
{
	char name[] = "/tmp/trace_test_XXXXXX";
	int fd = mkstemp(name);
	EXPECT_GE(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(text.c_str(), f);
	fclose(f);
	return name;
}

// A workload of 4 KiB pages and a synthesiser to read traces into, and
// the trace files a test writes, removed at its end.
class TraceRead : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		ASSERT_EQ(0, workload_init(&wl, 4096, 0));
		ASSERT_EQ(0, trace_synth_init(&s, 4096, 0, 1));
		ready = true;
	}
	void TearDown() override
	{
		if (ready) {
			trace_synth_free(&s);
			workload_free(&wl);
		}
		for (const std::string &f : files)
			std::remove(f.c_str());
	}
	// A trace file of @text.
	std::string trace(const std::string &text)
	{
		files.push_back(write_temp(text));
		return files.back();
	}

	workload wl;
	trace_synth s;
	bool ready = false;
	std::vector<std::string> files;
};

TEST_F(TraceRead, ClassifiesAndKeepsEveryPage)
{
	std::string path = trace("# header\n100\nS\n\n4096\n2000\ns\n");
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
	files.push_back(out);
	ASSERT_EQ(0, trace_write(&wl, out.c_str(), "LZ4"));
	workload again;
	ASSERT_EQ(0, workload_init(&again, 4096, 0));
	ASSERT_EQ(0, trace_read(&again, &s, out.c_str()));
	EXPECT_EQ(wl.trace_len, again.trace_len);
	EXPECT_EQ(wl.same_filled, again.same_filled);
	EXPECT_EQ(wl.raw, again.raw);
	workload_free(&again);
}

TEST_F(TraceRead, NamesTheBadLine)
{
	std::string path = trace("100\n200\nbanana\n");
	testing::internal::CaptureStderr();
	EXPECT_EQ(-1, trace_read(&wl, &s, path.c_str()));
	std::string err = testing::internal::GetCapturedStderr();
	EXPECT_NE(std::string::npos, err.find(path + ":3:")) << err;
	EXPECT_NE(std::string::npos, err.find("banana")) << err;
	testing::internal::CaptureStderr();
	EXPECT_EQ(-1, trace_read(&wl, &s, "/nonexistent/trace"));
	testing::internal::GetCapturedStderr();
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

// The bytes workload @wl keeps for object @i, decompressed (or raw).
std::vector<unsigned char> kept(const workload &wl, size_t i)
{
	std::vector<unsigned char> out(wl.block_size);
	const wl_page &p = wl.pages[i];

	if (p.size == wl.block_size) {
		memcpy(out.data(), wl.arena + p.offset, p.size);
	} else {
		EXPECT_EQ((int)wl.block_size,
			  LZ4_decompress_safe((const char *)wl.arena + p.offset, (char *)out.data(),
					      (int)p.size, (int)wl.block_size));
	}
	EXPECT_EQ(p.hash, page_hash(out.data(), wl.block_size));
	return out;
}

// Pages regrouped into 8 KiB blocks: each block is two consecutive pages
// rebuilt from what was kept (compressed, raw, same-filled), compressed as
// one object; a block of two same-filled pages of one word is same-filled,
// of two words it is stored; the last block is filled up with a zero page.
TEST(Blocks, ConsecutivePagesAsOneObject)
{
	std::mt19937_64 rng(7);
	auto random_page = [&](size_t random_bytes) {
		std::vector<unsigned char> p(4096, 0);
		for (size_t i = 0; i < random_bytes; i++)
			p[i] = (unsigned char)rng();
		return p;
	};
	auto word_page = [](uint64_t w) {
		std::vector<unsigned char> p(4096);
		for (size_t i = 0; i < 4096; i += 8)
			memcpy(&p[i], &w, 8);
		return p;
	};
	std::vector<std::vector<unsigned char>> in = {
		random_page(1000), word_page(0),      // block 0: compressed
		random_page(4096), random_page(3000), // block 1: raw + compressed
		word_page(5),      word_page(5),      // block 2: same-filled
		word_page(5),      word_page(6),      // block 3: two words: stored
		random_page(20),                      // block 4: + a zero page
	};
	workload pages, blocks;
	ASSERT_EQ(0, workload_init(&pages, 4096, 0));
	for (const auto &p : in)
		ASSERT_EQ(0, workload_add_page(&pages, p.data(), 0));
	ASSERT_EQ(0, workload_blocks(&pages, 8192, &blocks));
	EXPECT_EQ(8192u, blocks.block_size);
	EXPECT_EQ(5u, blocks.trace_len);
	EXPECT_EQ(1u, blocks.same_filled);
	EXPECT_EQ(4u, blocks.nr_pages);
	EXPECT_EQ(0u, blocks.raw); // half a page of random bytes compresses
	size_t want[] = { 0, 2, 6, 8 };
	for (size_t k = 0; k < 4; k++) {
		std::vector<unsigned char> expect = in[want[k]];
		if (want[k] + 1 < in.size())
			expect.insert(expect.end(), in[want[k] + 1].begin(), in[want[k] + 1].end());
		else
			expect.resize(8192, 0);
		EXPECT_EQ(expect, kept(blocks, k)) << "block of pages " << want[k];
	}
	EXPECT_LT(blocks.pages[3].size, 200u);
	EXPECT_EQ(blocks.max_size, std::max({ blocks.pages[0].size, blocks.pages[1].size,
					      blocks.pages[2].size, blocks.pages[3].size }));
	workload_free(&blocks);
	// 12 KiB blocks: 9 pages make 3 blocks.
	ASSERT_EQ(0, workload_blocks(&pages, 4096 * 3, &blocks));
	EXPECT_EQ(3u, blocks.trace_len);
	workload_free(&blocks);
	// Not a multiple of the page, too large: refused.
	EXPECT_EQ(-EINVAL, workload_blocks(&pages, 6000, &blocks));
	workload_free(&blocks);
	EXPECT_EQ(-EINVAL, workload_blocks(&pages, 128 * 1024, &blocks));
	workload_free(&blocks);
	workload_free(&pages);
}

TEST(Blocks, IncompressibleBlockIsStoredRaw)
{
	std::mt19937_64 rng(8);
	std::vector<unsigned char> p(4096);
	workload pages, blocks;
	ASSERT_EQ(0, workload_init(&pages, 4096, 0));
	for (int k = 0; k < 4; k++) {
		for (auto &b : p)
			b = (unsigned char)rng();
		ASSERT_EQ(0, workload_add_page(&pages, p.data(), 0));
	}
	ASSERT_EQ(0, workload_blocks(&pages, 16384, &blocks));
	ASSERT_EQ(1u, blocks.nr_pages);
	EXPECT_EQ(1u, blocks.raw);
	EXPECT_EQ(16384u, blocks.pages[0].size);
	EXPECT_EQ(16384u, blocks.max_size);
	kept(blocks, 0);
	workload_free(&blocks);
	workload_free(&pages);
}

} // namespace
