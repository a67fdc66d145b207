/* rng.h - the tools' one random number generator: splitmix64 (seeded,
 * reproducible, good enough for sampling; not for anything secret). */
#ifndef ZSALLOC_TOOLS_RNG_H
#define ZSALLOC_TOOLS_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A number in [0, n), n > 0 (modulo bias below 2^-32 for n < 2^32). */
static inline uint64_t rng_below(uint64_t *state, uint64_t n)
{
	return rng_next(state) % n;
}

#endif /* ZSALLOC_TOOLS_RNG_H */
