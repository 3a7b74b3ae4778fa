/* rng.c -- xoshiro256** seeded by splitmix64: small, fast, and identical on
 * every platform, so every backend starts from the same bits. */
#include "config.h"
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void crease__rng_seed(crease_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t crease__rng_u64(crease_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double crease__rng_uniform(crease_rng *r)
{
    return (double)(crease__rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller without caching the second value, so the stream position does
 * not depend on how many normals were drawn before. */
double crease__rng_normal(crease_rng *r)
{
    double u1 = crease__rng_uniform(r), u2 = crease__rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Lemire's multiply-shift with rejection: unbiased for every n. */
uint64_t crease__rng_below(crease_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = crease__rng_u64(r);
        unsigned __int128 m = (unsigned __int128)x * n;
        if ((uint64_t)m >= threshold) return (uint64_t)(m >> 64);
    }
}
