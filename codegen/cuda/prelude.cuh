// ---- kiln CUDA prelude: device helpers shared by every kernel ----
// (codegen/cuda/prelude.cuh: embedded in print.cpp as a string by CMake, and
// compiled for the host by tests/codegen/cuda_prelude_host_test.cpp)
struct KilnCudaSpace { long long numel; long long shape[8]; };
struct KilnCudaOperand { void* data; long long strides[8]; };
struct __align__(16) kiln_raw16 { unsigned int x, y, z, w; };
struct __align__(8) kiln_raw8 { unsigned int x, y; };
typedef unsigned int kiln_raw4;
typedef unsigned short kiln_raw2;
typedef unsigned char kiln_raw1;

#define KILN_INF_F __int_as_float(0x7f800000)
#define KILN_INF_D __longlong_as_double(0x7ff0000000000000LL)
#define KILN_NAN_D __longlong_as_double(0x7ff8000000000000LL)
#define KILN_D __device__ __forceinline__
#define KILN_CUDA_REDUCE_MAX_BLOCK 256  // threads a block of a reduction entry (abi.hpp too)

// f16 through the PTX conversions (round to nearest even); bf16 by hand,
// as ml_dtypes rounds it (nearest even, NaN -> the quiet NaN 0x7fc0 with
// the sign). A stored value is already rounded, so storing truncates.
#ifndef KILN_PRELUDE_ON_HOST
KILN_D float kiln_h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
KILN_D unsigned short kiln_f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
#else  // tests/cuda/prelude_host_test.cpp checks these helpers on the CPU
KILN_D float kiln_h2f(unsigned short h) { return kiln_host_h2f(h); }
KILN_D unsigned short kiln_f2h(float f) { return kiln_host_f2h(f); }
#endif
KILN_D float kiln_bf2f(unsigned short h) { return __uint_as_float((unsigned int)h << 16); }
KILN_D unsigned short kiln_f2bf(float v) { return (unsigned short)(__float_as_uint(v) >> 16); }
KILN_D float kiln_round_f16(float v) { return kiln_h2f(kiln_f2h(v)); }
KILN_D float kiln_round_bf16(float v) {
  const unsigned int b = __float_as_uint(v);
  if (v != v) return __uint_as_float((b & 0x80000000u) | 0x7fc00000u);
  return __uint_as_float((b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u);
}
// double -> float rounding to odd: a second rounding to f16/bf16 is then
// the correctly rounded one (the interpreter's to_float_odd).
KILN_D float kiln_to_float_odd(double d) {
  const float f = (float)d;
  const double back = (double)f;
  if (!(fabs(d) < KILN_INF_D) || back == d) return f;
  unsigned int fb = __float_as_uint(f);
  if (fabs(back) > fabs(d)) fb -= 1u;  // toward zero; |f| > 0 here
  return __uint_as_float(fb | 1u);
}

// Wrapping integer arithmetic: computed in an unsigned type wide enough that
// nothing overflows (signed overflow is undefined in C++), then truncated.
template <class T> struct kiln_wide { typedef unsigned int type; };
template <> struct kiln_wide<long long> { typedef unsigned long long type; };
template <class T> KILN_D T kiln_add(T a, T b) { typedef typename kiln_wide<T>::type U; return (T)((U)a + (U)b); }
template <class T> KILN_D T kiln_sub(T a, T b) { typedef typename kiln_wide<T>::type U; return (T)((U)a - (U)b); }
template <class T> KILN_D T kiln_mul(T a, T b) { typedef typename kiln_wide<T>::type U; return (T)((U)a * (U)b); }
template <class T> KILN_D T kiln_neg(T a) { typedef typename kiln_wide<T>::type U; return (T)((U)0 - (U)a); }
// Python's floor division and modulo (NumPy: x // 0 = x % 0 = 0; x // -1
// wraps instead of trapping on the minimum).
template <class T> KILN_D T kiln_floordiv_s(T a, T b) {
  if (b == 0) return 0;
  if (b == (T)-1) return kiln_neg(a);
  const T q = (T)(a / b);
  return (a % b != 0 && ((a < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <class T> KILN_D T kiln_mod_s(T a, T b) {
  if (b == 0 || b == (T)-1) return 0;
  const T r = (T)(a % b);
  return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;
}
template <class T> KILN_D T kiln_floordiv_u(T a, T b) { return b == 0 ? (T)0 : (T)(a / b); }
template <class T> KILN_D T kiln_mod_u(T a, T b) { return b == 0 ? (T)0 : (T)(a % b); }
// Exponentiation by squaring, wrapping; a negative exponent gives 0 but for
// the bases 1 and -1.
__device__ inline long long kiln_pow_i(long long a, long long b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  unsigned long long r = 1, base = (unsigned long long)a;
  for (unsigned long long e = (unsigned long long)b; e != 0; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return (long long)r;
}
// Shifts by a count outside [0, bits): 0, or -1 for a negative value shifted right.
template <class T> KILN_D T kiln_shl(T a, T s, int bits) {
  typedef typename kiln_wide<T>::type U;
  if ((long long)s < 0 || (long long)s >= bits) return 0;
  return (T)((U)a << (int)s);
}
template <class T> KILN_D T kiln_shr(T a, T s, int bits) {
  if ((long long)s < 0 || (long long)s >= bits) return a < 0 ? (T)-1 : (T)0;
  return (T)(a >> (int)s);
}
template <class T> KILN_D T kiln_shr_u(T a, T s, int bits) { return (long long)s >= bits ? (T)0 : (T)(a >> (int)s); }
// Float -> integer: truncation, NaN -> 0, saturated to [lo, hi].
template <class F> KILN_D long long kiln_f2i(F x, long long lo, long long hi) {
  if (x != x) return 0;
  if (x <= (F)lo) return lo;
  if (x >= (F)hi) return hi;
  return (long long)x;
}

// Float helpers, once for float (suffix f) and once for double.
#define KILN_FLOAT_HELPERS(T, S)                                                              \
  KILN_D T kiln_sign(T x) { return x != x ? x : x > (T)0 ? (T)1 : x < (T)0 ? (T)-1 : (T)0; } \
  /* NumPy's maximum/minimum: a NaN on either side wins; on ties the second. */               \
  KILN_D T kiln_max(T a, T b) { return (a > b || a != a) ? a : b; }                    \
  KILN_D T kiln_min(T a, T b) { return (a < b || a != a) ? a : b; }                    \
  /* one exp of -|x|: never overflows */                                                       \
  KILN_D T kiln_sigmoid(T x) {                                                         \
    const T e = exp##S(-fabs##S(x));                                                          \
    const T d = (T)1 + e;                                                                     \
    return x >= (T)0 ? (T)1 / d : e / d;                                                      \
  }                                                                                           \
  KILN_D T kiln_softplus(T x) {                                                        \
    const T l = log1p##S(exp##S(-fabs##S(x)));                                                \
    return x > (T)0 ? x + l : l;                                                              \
  }                                                                                           \
  /* log(1 - exp(x)) (Maechler 2012); x > 0 -> NaN */                                         \
  KILN_D T kiln_log1mexp(T x) {                                                        \
    const T r = x > (T)-0.69314718055994530942 ? log##S(-expm1##S(x)) : log1p##S(-exp##S(x)); \
    return x > (T)0 ? (T)KILN_NAN_D : r;                                                      \
  }                                                                                           \
  /* NumPy's npy_divmod */                                                                    \
  KILN_D T kiln_floordiv(T p, T q) {                                                   \
    const T quot = p / q;                                                                     \
    const T mod = fmod##S(p, q);                                                              \
    T div = (p - mod) / q;                                                                    \
    if (mod != (T)0 && ((q < (T)0) != (mod < (T)0))) div = div - (T)1;                        \
    T fl = floor##S(div);                                                                     \
    if (div - fl > (T)0.5) fl = fl + (T)1;                                                    \
    const T r = div == (T)0 ? copysign##S((T)0, quot) : fl;                                   \
    return q == (T)0 ? quot : r;                                                              \
  }                                                                                           \
  /* np.remainder: the sign of the divisor */                                                 \
  KILN_D T kiln_mod(T p, T q) {                                                        \
    const T mod = fmod##S(p, q);                                                              \
    const T nz = ((q < (T)0) != (mod < (T)0)) ? mod + q : mod;                                \
    const T r = mod != (T)0 ? nz : copysign##S((T)0, q);                                      \
    return q == (T)0 ? mod : r;                                                               \
  }
KILN_FLOAT_HELPERS(float, f)
KILN_FLOAT_HELPERS(double, )
#undef KILN_FLOAT_HELPERS

// Reduction folds (print.cpp's reduction entries). max/min: a NaN on either
// side wins and -0 < +0 (the CPU backend's llvm.maximum/minimum), so a fold
// in any order gives the same value.
template <class T> KILN_D T kiln_fold_max(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}
template <class T> KILN_D T kiln_fold_min(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}
// argmax (mx) / argmin: does (v, i) beat the best (bv, bi) so far? A NaN
// beats any number, then the extreme value, and on ties the lower index:
// a total order, so the first NaN or the first extreme wins whatever the
// order the pairs are folded in (the interpreter's sequential rule).
template <class T> KILN_D bool kiln_arg_beats_f(bool mx, T v, long long i, T bv, long long bi) {
  const bool vn = v != v, bn = bv != bv;
  if (vn || bn) return vn && (!bn || i < bi);
  if (v == bv) return i < bi;
  return mx ? v > bv : v < bv;
}
template <class T> KILN_D bool kiln_arg_beats_i(bool mx, T v, long long i, T bv, long long bi) {
  if (v == bv) return i < bi;
  return mx ? v > bv : v < bv;
}

// digamma (CUDA has none): the interpreter's poles and limits; reflection
// psi(x) = psi(1 - x) - pi cot(pi x) for x < 0, the recurrence
// psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
// ln x - 1/(2x) - sum B_2k / (2k x^2k) (7 terms: below 1e-16 there).
__device__ inline double kiln_digamma(double x) {
  if (x != x) return x;
  if (x == 0) return signbit(x) ? KILN_INF_D : -KILN_INF_D;
  if (isinf(x)) return x > 0 ? KILN_INF_D : KILN_NAN_D;
  if (x < 0 && x == floor(x)) return KILN_NAN_D;
  double r = 0;
  if (x < 0) {
    r = -3.141592653589793238 * cospi(x) / sinpi(x);
    x = 1 - x;
  }
  while (x < 10) {
    r -= 1 / x;
    x += 1;
  }
  const double f = 1 / (x * x);
  const double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132 +
                   f * (691.0 / 32760 + f * (-1.0 / 12)))))));
  return r + log(x) - 0.5 / x + t;
}
// polygamma(n, x), n >= 1: (-1)^(n+1) n! sum_k 1/(x+k)^(n+1), summed
// directly up to x >= 20 + n, then the asymptotic series
// (n-1)!/x^n + n!/(2x^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! x^(2k+n)).
// The interpreter's poles and limits; x below -1e6 (not an integer, so
// within 2^52 of zero) is not supported and gives NaN.
__device__ inline double kiln_polygamma(int n, double x) {
  if (n == 0) return kiln_digamma(x);
  if (x != x) return x;
  if (x <= 0 && x == floor(x)) return (n % 2 == 1) ? KILN_INF_D : KILN_NAN_D;
  if (isinf(x)) return x > 0 ? 0.0 : KILN_NAN_D;
  if (x < -1e6) return KILN_NAN_D;
  double fact = 1;  // n!
  for (int k = 2; k <= n; ++k) fact *= k;
  double direct = 0;
  while (x < 20 + n) {
    direct += pow(x, -(double)(n + 1));
    x += 1;
  }
  const double b2k[] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510};
  const double xn = pow(x, -(double)n);
  double s = fact / n * xn + fact / 2 * xn / x;
  double c = fact * (n + 1) / 2;  // (2k+n-1)!/(2k)! for k = 1
  double xp = xn / (x * x);       // x^-(2k+n)
  for (int k = 1; k <= 8; ++k) {
    s += b2k[k - 1] * c * xp;
    c *= (double)(2 * k + n) * (2 * k + n + 1) / ((2 * k + 1) * (2 * k + 2));
    xp /= x * x;
  }
  return (n % 2 == 1 ? 1.0 : -1.0) * (fact * direct + s);
}
// ---- end of the prelude ----
