// content.h - what every test suite uses to give objects checkable bytes:
// a small seeded generator, and the bytes it derives from a seed, written
// and compared 8 at a time. An object filled with fill(seed) and later
// found same(seed) holds exactly what was stored; a lost write, a stale
// copy or a punched page (zeros) fails.
//
// The bytes of a seed are one stream: the first n bytes of a longer fill
// are the fill of n bytes, and byte_at(seed, i) is byte i of any fill of
// more than i bytes, so that a test can check part of an object, or one
// byte of it, without filling a buffer.
#ifndef ZSALLOC_TESTS_COMMON_CONTENT_H
#define ZSALLOC_TESTS_COMMON_CONTENT_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace test_content
{

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull; // splitmix64's increment

// splitmix64's output function: the value of a generator whose state is @z.
inline uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

// splitmix64: small, fast, and good enough to drive tests and fill objects.
// The k-th value (from 0) of Rng(seed) is mix(seed + (k + 1) * kGamma).
struct Rng {
	uint64_t s;
	explicit Rng(uint64_t seed) : s(seed)
	{
	}
	uint64_t next()
	{
		return mix(s += kGamma);
	}
	// Uniform in [0, n), n > 0.
	uint64_t below(uint64_t n)
	{
		return next() % n;
	}
	// Uniform in [lo, hi].
	uint64_t range(uint64_t lo, uint64_t hi)
	{
		return lo + below(hi - lo + 1);
	}
};

// Fills [p, p + n) with bytes derived from seed.
inline void fill(void *p, size_t n, uint64_t seed)
{
	Rng r(seed);
	unsigned char *b = static_cast<unsigned char *>(p);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = r.next();
		std::memcpy(b + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = r.next();
		std::memcpy(b + i, &v, n - i);
	}
}

// True if [p, p + n) holds exactly what fill(p, n, seed) wrote.
inline bool same(const void *p, size_t n, uint64_t seed)
{
	Rng r(seed);
	const unsigned char *b = static_cast<const unsigned char *>(p);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = r.next();
		if (std::memcmp(b + i, &v, 8) != 0)
			return false;
	}
	if (i < n) {
		uint64_t v = r.next();
		if (std::memcmp(b + i, &v, n - i) != 0)
			return false;
	}
	return true;
}

// The offset of the first byte of [p, p + n) that differs from what
// fill(p, n, seed) wrote, or n when all match.
inline size_t mismatch(const void *p, size_t n, uint64_t seed)
{
	Rng r(seed);
	const unsigned char *b = static_cast<const unsigned char *>(p);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = r.next();
		size_t k = n - i < 8 ? n - i : 8;
		unsigned char w[8];
		std::memcpy(w, &v, 8);
		for (size_t j = 0; j < k; j++)
			if (b[i + j] != w[j])
				return i + j;
	}
	return n;
}

// The @n bytes fill() writes for @seed.
inline std::vector<uint8_t> bytes(uint64_t seed, size_t n)
{
	std::vector<uint8_t> v(n);
	fill(v.data(), n, seed);
	return v;
}

// Byte @i of what fill() writes for @seed (into more than @i bytes).
inline uint8_t byte_at(uint64_t seed, size_t i)
{
	uint64_t v = mix(seed + (i / 8 + 1) * kGamma);
	unsigned char w[8];
	std::memcpy(w, &v, 8);
	return w[i % 8];
}

} // namespace test_content

#endif // ZSALLOC_TESTS_COMMON_CONTENT_H
