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
#include <iterator>
#include <utility>
#include <vector>

#include "tests/common/content.h"

namespace fuzz
{

// Reads little-endian integers from the input; zeros once it runs out.
class Reader
{
      public:
	Reader(const uint8_t *data, size_t size) : cur(data), avail(size)
	{
	}
	bool empty() const
	{
		return avail == 0;
	}
	size_t left() const
	{
		return avail;
	}
	uint8_t u8()
	{
		if (!avail)
			return 0;
		avail--;
		return *cur++;
	}
	uint16_t u16()
	{
		return static_cast<uint16_t>(u8() | u8() << 8);
	}
	uint32_t u32()
	{
		return u16() | static_cast<uint32_t>(u16()) << 16;
	}
	uint64_t u64()
	{
		return u32() | static_cast<uint64_t>(u32()) << 32;
	}
	// Uniform-ish in [0, n) (n > 0), from one byte when n fits one.
	uint32_t below(uint32_t n)
	{
		return n <= 256 ? u8() % n : u32() % n;
	}
	// An element of the non-empty vector @v: below(v.size()).
	template <typename T> const T &pick(const std::vector<T> &v)
	{
		return v[below(static_cast<uint32_t>(v.size()))];
	}
	// The key of an entry of the non-empty map @m: below(m.size()).
	template <typename M> typename M::key_type pick_key(const M &m)
	{
		auto it = m.begin();
		std::advance(it, below(static_cast<uint32_t>(m.size())));
		return it->first;
	}
	// Shuffles @v in the order the input says (Fisher-Yates from the back).
	template <typename T> void shuffle(std::vector<T> &v)
	{
		for (size_t i = v.size(); i > 1; i--)
			std::swap(v[i - 1], v[below(static_cast<uint32_t>(i))]);
	}

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

// The checking schedule of the allocator targets: the checker after each
// of the first 64 ops, then after every 8th; every object's bytes too
// (a sweep) after each of the first 16 ops, then after every 16th.
inline bool check_after(size_t step)
{
	return step < 64 || step % 8 == 7;
}

inline bool sweep_after(size_t step)
{
	return step < 16 || step % 16 == 15;
}

// Arms the fault injection of @pool with fail_nth(pool, n): the @n-th page
// allocation from now fails (0: none). Returns whether a fault is armed.
template <typename Pool> bool arm_fault(void (*fail_nth)(Pool *, uint64_t), Pool *pool, uint32_t n)
{
	fail_nth(pool, n);
	return n != 0;
}

// The position of the latest element of the non-empty @v: the one whose
// sequence number seq(element) is the highest.
template <typename V, typename F> size_t latest(const V &v, F seq)
{
	size_t k = 0;
	for (size_t i = 1; i < v.size(); i++)
		if (seq(v[i]) > seq(v[k]))
			k = i;
	return k;
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

// The body of LLVMFuzzerTestOneInput: a Harness (constructed from the
// Reader of the input, then run()) plays the input as its program.
template <typename Harness> int run(const uint8_t *data, size_t size)
{
	Reader in(data, size);
	Harness(&in).run();
	return 0;
}

} // namespace fuzz

// FUZZ_CHECK(cond, "format", args...): abort with the message unless cond.
#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond))                                                  \
			::fuzz::fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#endif // ZSALLOC_TESTS_FUZZ_FUZZ_UTIL_H
