// kiln — the counter-based generator behind Array::randn / uniform / randint.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11), written from the published description and checked against
// the Random123 known-answer vectors. Element i of an array drawn with seed s
// takes the four words of philox(counter = {lo32(i), hi32(i), stream, 0},
// key = {lo32(s), hi32(s)}); each kind of draw has its own stream, so
// randn and uniform with one seed are not correlated. The floating-point
// post-processing uses only +, -, *, / and sqrt (correctly rounded in IEEE
// arithmetic), so the values are the same on every machine.
#pragma once

#include <array>
#include <cstdint>

namespace kiln::detail {

using PhiloxCounter = std::array<std::uint32_t, 4>;
using PhiloxKey = std::array<std::uint32_t, 2>;

PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key);

enum class RandomStream : std::uint32_t { Uniform = 0, Normal = 1, Integer = 2 };

// The four random words for one element.
PhiloxCounter random_words(std::uint64_t seed, RandomStream stream, std::uint64_t index);

// Uniform in [0, 1) from the top 53 bits of w[0]:w[1] (exact multiples of 2^-53).
double uniform53(const PhiloxCounter& w);
// Uniform in [0, 1) from the top 24 bits of w[0] (exact multiples of 2^-24).
double uniform24(const PhiloxCounter& w);
// A standard normal by Box–Muller: sqrt(-2 ln u1) cos(2 pi u2), with
// u1 in (0, 1] from w[0]:w[1] and u2 in [0, 1) from w[2]:w[3].
double normal(const PhiloxCounter& w);

// Deterministic elementary functions (reproducible everywhere, ~1 ulp).
double portable_log(double x);        // x > 0, finite
double portable_cos_2pi(double u);    // cos(2 pi u) for u in [0, 1)

}  // namespace kiln::detail
