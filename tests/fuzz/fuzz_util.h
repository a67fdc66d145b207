// fuzz_util.h - what the three fuzz targets share: a reader that turns the
// input bytes into choices (reading past the end yields zeros, so every
// input is a valid program), seeded contents, and a failure report that
// aborts (libFuzzer saves the input; the replay test fails).
//
// Each target interprets its input as a little program: a few header bytes
// choose the configuration (page limit, chain length, map method, ...), then
// each op is one byte (the op code) followed by the bytes its operands need.
// The targets are deterministic: no clock, no global random state; all
// randomness (content seeds, sizes, indices) comes from the input.
#ifndef ZSALLOC_TESTS_FUZZ_FUZZ_UTIL_H
#define ZSALLOC_TESTS_FUZZ_FUZZ_UTIL_H

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/common/content.h"

namespace fuzz {

// Reads little-endian integers from the input; zeros once it runs out.
class Reader {
public:
	Reader(const uint8_t *data, size_t size) : cur(data), avail(size) {}
	bool empty() const { return avail == 0; }
	size_t left() const { return avail; }
	uint8_t u8()
	{
		if (!avail)
			return 0;
		avail--;
		return *cur++;
	}
	uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
	uint32_t u32() { return u16() | static_cast<uint32_t>(u16()) << 16; }
	uint64_t u64() { return u32() | static_cast<uint64_t>(u32()) << 32; }
	// Uniform-ish in [0, n) (n > 0), from one byte when n fits one.
	uint32_t below(uint32_t n) { return n <= 256 ? u8() % n : u32() % n; }

private:
	const uint8_t *cur;
	size_t avail;
};

// Fills [p, p + n) with bytes derived from seed (never all zero: a page
// that reads as zero is what a lost write or a punched page looks like).
// The generator is the test suites' (tests/common/content.h).
inline void fill(void *p, size_t n, uint64_t seed)
{
	test_content::fill(p, n, seed | 1);
}

// The offset of the first byte of [p, p + n) that differs from fill(seed),
// or n when all match.
inline size_t mismatch(const void *p, size_t n, uint64_t seed)
{
	return test_content::mismatch(p, n, seed | 1);
}

inline bool same(const void *p, size_t n, uint64_t seed)
{
	return mismatch(p, n, seed) == n;
}

// Report a broken promise and abort: libFuzzer saves the input as a crash,
// the replay test dies with the message.
[[noreturn]] __attribute__((format(printf, 4, 5))) inline void
fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	std::fprintf(stderr, "\n%s:%d: FUZZ CHECK FAILED: (%s) ", file, line, cond);
	va_start(ap, fmt);
	std::vfprintf(stderr, fmt, ap);
	va_end(ap);
	std::fprintf(stderr, "\n");
	std::fflush(stderr);
	std::abort();
}

} // namespace fuzz

// FUZZ_CHECK(cond, "format", args...): abort with the message unless cond.
#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond))                                                  \
			::fuzz::fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#endif // ZSALLOC_TESTS_FUZZ_FUZZ_UTIL_H
