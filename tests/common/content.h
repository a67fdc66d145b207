// content.h - what every test suite uses to give objects checkable bytes:
// a small seeded generator, and the bytes it derives from a seed, written
// and compared 8 at a time. An object filled with fill(seed) and later
// found same(seed) holds exactly what was stored; a lost write, a stale
// copy or a punched page (zeros) fails.
#ifndef ZSALLOC_TESTS_COMMON_CONTENT_H
#define ZSALLOC_TESTS_COMMON_CONTENT_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace test_content {

// splitmix64: small, fast, and good enough to drive tests and fill objects.
struct Rng {
	uint64_t s;
	explicit Rng(uint64_t seed) : s(seed) {}
	uint64_t next()
	{
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		return z ^ (z >> 31);
	}
	// Uniform in [0, n), n > 0.
	uint64_t below(uint64_t n) { return next() % n; }
	// Uniform in [lo, hi].
	uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
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

} // namespace test_content

#endif // ZSALLOC_TESTS_COMMON_CONTENT_H
