#!/usr/bin/env python3
"""Generates the NumPy-made fixtures for the kiln::Array runtime tests.

Run from anywhere:  python3 tests/data/gen_runtime_data.py
Needs numpy (>= 2.0) and ml_dtypes (for bfloat16). The outputs are committed;
tests/runtime/*.cpp read them and never run Python.

Writes
  tests/data/npy/*.npy             arrays saved by NumPy (every dtype kiln
                                   reads, big-endian, Fortran order, format
                                   versions 2.0 and 3.0, 0-d, zero-size)
  tests/data/npy/manifest.txt      the exact contents of each fixture
  tests/data/npy/conv_*.npy        f32/f64 inputs and their f16/bf16 bits
  tests/data/npy/astype_cases.txt  NumPy's astype() on defined inputs
  tests/data/print/cases.txt       arrays and NumPy's str() of them
"""

import io
import math
import os
import sys

import numpy as np

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    sys.exit("gen_runtime_data.py needs ml_dtypes (pip install ml_dtypes)")

HERE = os.path.dirname(os.path.abspath(__file__))
NPY = os.path.join(HERE, "npy")
PRINT = os.path.join(HERE, "print")
RNG = np.random.default_rng(20240611)

KILN_NAME = {
    np.dtype("float64"): "f64", np.dtype("float32"): "f32", np.dtype("float16"): "f16",
    np.dtype("int64"): "i64", np.dtype("int32"): "i32", np.dtype("int16"): "i16",
    np.dtype("int8"): "i8", np.dtype("uint8"): "u8", np.dtype("bool"): "bool",
}


def kname(dt):
    return KILN_NAME[np.dtype(dt).newbyteorder("=")]


def fmt_value(v, dt):
    """One element as text that C++ parses back exactly."""
    dt = np.dtype(dt)
    if dt.kind == "b":
        return "1" if v else "0"
    if dt.kind in "iu":
        return str(int(v))
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return repr(f)


def fmt_values(a):
    return " ".join(fmt_value(v, a.dtype) for v in np.asarray(a).reshape(-1))


# ---------------------------------------------------------------------------
# .npy fixtures

def write_fixtures():
    os.makedirs(NPY, exist_ok=True)
    fixtures = {}

    def save(name, a, version=None):
        path = os.path.join(NPY, name)
        with open(path, "wb") as f:
            if version is None:
                np.save(f, a)
            else:
                np.lib.format.write_array(f, a, version=version)
        fixtures[name] = a

    f8 = np.array([[1.5, -2.25, 0.1], [np.nan, np.inf, -0.0]])
    save("f8.npy", f8)
    save("f4.npy", np.array([[0.1, 1e-30], [-3.5, 65504.5]], dtype=np.float32))
    save("f2.npy", np.array([0.1, -2, 65504, 6e-8, np.nan, -np.inf], dtype=np.float16))
    save("i8.npy", np.array([-(2**63), 2**63 - 1, 0, 123456789012345], dtype=np.int64))
    save("i4.npy", np.array([[1, -2, 3], [2**31 - 1, -(2**31), 0]], dtype=np.int32))
    save("i2.npy", np.array([-32768, 32767, 5], dtype=np.int16))
    save("i1.npy", np.array([-128, 127, 0], dtype=np.int8))
    save("u1.npy", np.array([0, 255, 17], dtype=np.uint8))
    save("b1.npy", np.array([[True, False], [False, True]]))
    save("i4_1d.npy", np.arange(5, dtype=np.int32))
    save("f8_3d.npy", np.arange(24.0).reshape(2, 3, 4) / 4)
    save("f8_t.npy", np.ascontiguousarray(f8.T))  # what kiln writes for a transposed view
    save("scalar_f8.npy", np.array(3.5))
    save("scalar_i4.npy", np.array(-7, dtype=np.int32))
    save("empty_f4.npy", np.zeros((0, 3), dtype=np.float32))
    save("empty_i8.npy", np.zeros((2, 0), dtype=np.int64))
    # big-endian
    save("be_f8.npy", np.array([1.5, -2.0, 1e300], dtype=">f8"))
    save("be_f4.npy", np.array([[0.1, -7.25]], dtype=">f4"))
    save("be_f2.npy", np.array([0.1, -2.5, 65504], dtype=">f2"))
    save("be_i8.npy", np.array([-(2**63), 2**40 + 3], dtype=">i8"))
    save("be_i4.npy", np.array([-5, 2**31 - 1], dtype=">i4"))
    save("be_i2.npy", np.array([-2, 300], dtype=">i2"))
    # Fortran order
    save("fortran_f8.npy", np.asfortranarray(np.arange(12.0).reshape(3, 4) * 0.5))
    save("fortran_i4_3d.npy", np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)))
    save("fortran_be_i2.npy", np.asfortranarray(np.arange(6, dtype=">i2").reshape(2, 3)))
    # format versions 2.0 and 3.0
    save("v2_f8.npy", np.array([[1.0, 2.0], [3.0, 4.5]]), version=(2, 0))
    save("v3_i4.npy", np.array([7, -8, 9], dtype=np.int32), version=(3, 0))

    with open(os.path.join(NPY, "manifest.txt"), "w") as f:
        f.write("# file dtype shape(comma-separated, '-' for 0-d) values...  (gen_runtime_data.py)\n")
        for name, a in fixtures.items():
            shape = ",".join(str(d) for d in a.shape) if a.ndim else "-"
            f.write(f"{name} {kname(a.dtype)} {shape} {fmt_values(a)}".rstrip() + "\n")


# ---------------------------------------------------------------------------
# f32/f64 → f16/bf16 conversion tables

def encode(x, mant_bits, exp_bits):
    """Bits of the finite-or-infinite double x rounded (once, to nearest even)
    into a binary float format; exact rational arithmetic."""
    from fractions import Fraction
    bias = (1 << (exp_bits - 1)) - 1
    min_exp, max_exp = 1 - bias, bias
    inf_bits = ((1 << exp_bits) - 1) << mant_bits
    sign = (1 << (mant_bits + exp_bits)) if math.copysign(1.0, x) < 0 else 0
    if math.isinf(x):
        return sign | inf_bits
    v = Fraction(abs(x))
    if v == 0:
        return sign

    def floor_log2(q):
        e = q.numerator.bit_length() - q.denominator.bit_length()
        while Fraction(2) ** e > q:
            e -= 1
        while Fraction(2) ** (e + 1) <= q:
            e += 1
        return e

    e = max(floor_log2(v), min_exp)
    ulp = Fraction(2) ** (e - mant_bits)
    q, r = divmod(v, ulp)
    q = int(q)
    if r > ulp / 2 or (r == ulp / 2 and q % 2 == 1):
        q += 1
    value = q * ulp
    if value >= Fraction(2) ** (max_exp + 1):
        return sign | inf_bits
    if value == 0:
        return sign
    e = floor_log2(value)
    if e < min_exp:  # subnormal
        return sign | int(value / Fraction(2) ** (min_exp - mant_bits))
    frac = int(value / Fraction(2) ** (e - mant_bits)) - (1 << mant_bits)
    return sign | ((e - min_exp + 1) << mant_bits) | frac


def sample_f32(n):
    bits = RNG.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    a = bits.view(np.float32).copy()
    # values in and around the f16 range, and exact f16/bf16 ties
    k = n // 4
    a[:k] = (RNG.standard_normal(k) * 10.0 ** RNG.integers(-9, 6, size=k)).astype(np.float32)
    h = RNG.integers(0, 0x7C00, size=k).astype(np.uint16).view(np.float16).astype(np.float32)
    nxt = (h.view(np.uint32) + (1 << 12)).view(np.float32)  # halfway to the next f16 (normals)
    a[k:2 * k] = nxt
    b = RNG.integers(0, 0x7F80, size=k).astype(np.uint32) << 16
    a[2 * k:3 * k] = (b | (1 << 15)).view(np.float32)  # exact bf16 ties
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 65504, 65519.99, 65520, 65536, 2**-24, 2**-25,
                         2**-25 * 1.0000001, 3 * 2**-26, 2**-14, 2**-14 - 2**-25, 1e-45, 3.4028235e38],
                        dtype=np.float32)
    nan_bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0x7FC00001, 0x7F802000, 0xFFFFFFFF],
                        dtype=np.uint32).view(np.float32)
    return np.concatenate([a, specials, nan_bits])


def sample_f64(n):
    k = n // 3
    a = RNG.standard_normal(n) * 10.0 ** RNG.integers(-10, 7, size=n)
    # values just off f16 / bf16 ties (where rounding through f32 would go wrong)
    h = RNG.integers(0, 0x7BFF, size=k).astype(np.uint16).view(np.float16).astype(np.float64)
    ulp16 = np.spacing(h.astype(np.float16)).astype(np.float64)
    a[:k] = h + ulp16 / 2 + ulp16 * 2.0**-30 * RNG.choice([-1, 1, 0], size=k)
    b = (RNG.integers(0x0080, 0x7F7F, size=k).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    ulpb = np.array([math.ldexp(1.0, math.frexp(x)[1] - 8) for x in b])  # bf16 has 8 significant bits
    a[k:2 * k] = b + ulpb / 2 + ulpb * 2.0**-33 * RNG.choice([-1, 1, 0], size=k)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65519.999999, 65520.0, 1e300, -1e300, 1e-300,
                         2.0**-25, 2.0**-25 + 2.0**-80, 2.0**-134, 2.0**-133 * 1.5, 3.4e38, 3.3961e38])
    return np.concatenate([a, specials])


def write_conversion_tables():
    f32 = sample_f32(8192)
    np.save(os.path.join(NPY, "conv_f32_in.npy"), f32)
    np.save(os.path.join(NPY, "conv_f32_to_f16.npy"), f32.astype(np.float16))
    np.save(os.path.join(NPY, "conv_f32_to_bf16.npy"), f32.astype(ml_dtypes.bfloat16).view(np.int16))

    f64 = sample_f64(8192)
    f16_ref = np.array([encode(x, 10, 5) if not math.isnan(x) else 0x7E00 for x in f64], dtype=np.uint16)
    np_f16 = f64.astype(np.float16).view(np.uint16)
    finite = ~np.isnan(f64)
    assert (np_f16[finite] == f16_ref[finite]).all(), "reference rounding disagrees with NumPy's f64→f16"
    bf16_ref = np.array([encode(x, 7, 8) if not math.isnan(x) else 0x7FC0 for x in f64],
                        dtype=np.uint16)
    # ml_dtypes rounds f64→bf16 through f32 (two roundings); where that is
    # exact the reference must agree with it
    via_f32 = f64.astype(np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)
    exact32 = finite & (f64.astype(np.float32).astype(np.float64) == f64)
    assert (via_f32[exact32] == bf16_ref[exact32]).all(), "reference rounding disagrees with ml_dtypes"
    np.save(os.path.join(NPY, "conv_f64_in.npy"), f64)
    np.save(os.path.join(NPY, "conv_f64_to_f16.npy"), f64.astype(np.float16))
    np.save(os.path.join(NPY, "conv_f64_to_bf16.npy"), bf16_ref.view(np.int16))
    double_rounded = int((via_f32 != bf16_ref)[finite].sum())
    print(f"conv tables: {len(f32)} f32, {len(f64)} f64 samples "
          f"({double_rounded} where f64→f32→bf16 differs from one rounding)")


# ---------------------------------------------------------------------------
# astype cases (only inputs whose NumPy result is defined)

def write_astype_cases():
    import warnings
    lines = ["# src_dtype dst_dtype | src values | dst values   (NumPy astype; gen_runtime_data.py)"]
    dtypes = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]
    ints = [np.int64, np.int32, np.int16, np.int8, np.uint8]

    def floats_for(src):
        v = np.concatenate([RNG.standard_normal(12) * 10.0 ** RNG.integers(-3, 4, size=12),
                            [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.9999, -0.9999, 1e-40, 1 / 3]])
        return v.astype(src)

    for src in dtypes:
        for dst in dtypes:
            s = np.dtype(src)
            d = np.dtype(dst)
            if s.kind == "f":
                v = floats_for(src)
                if d.kind in "iu":
                    info = np.iinfo(dst)
                    lo, hi = float(info.min), float(info.max)
                    v = np.concatenate([v, np.array([lo + 0.75, hi - 0.75, lo, 100.7, -100.7]).astype(src)])
                    keep = [math.isfinite(float(x)) and info.min <= int(math.trunc(float(x))) <= info.max for x in v]
                    v = v[np.array(keep, dtype=bool)]
                else:
                    v = np.concatenate([v, np.array([np.nan, np.inf, -np.inf, 1e5, 7e4, 65519, 65520,
                                                     3e-8, 1e300]).astype(src)]) if s.itemsize > 2 else \
                        np.concatenate([v, np.array([np.nan, np.inf, -np.inf], dtype=src)])
            elif s.kind in "iu":
                info = np.iinfo(src)
                v = np.concatenate([RNG.integers(info.min, info.max, size=16, endpoint=True),
                                    [0, 1, -1 if s.kind == "i" else 2, info.min, info.max]]).astype(src)
            else:
                v = np.array([True, False, True])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = v.astype(dst)
            lines.append(f"{kname(s)} {kname(d)} | {fmt_values(v)} | {fmt_values(out)}")
    with open(os.path.join(NPY, "astype_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------
# printing

def write_print_cases():
    os.makedirs(PRINT, exist_ok=True)
    out = ["# NumPy str() / array2string() of arrays (gen_runtime_data.py). Each case:",
           "#   case NAME / dtype D / shape DIMS / precision P / separator 'S' / threshold T /",
           "#   edge_items E / values V... / expect N, then N lines of NumPy's output.",
           f"# numpy {np.__version__}"]

    def case(name, a, precision=8, separator=" ", threshold=1000, edge_items=3):
        a = np.asarray(a)
        with np.printoptions(precision=precision, threshold=threshold, edgeitems=edge_items):
            if a.ndim == 0 or separator == " ":
                s = str(a)
            else:
                s = np.array2string(a, separator=separator)
        lines = s.split("\n")
        out.extend([f"case {name}", f"dtype {kname(a.dtype)}",
                    "shape " + " ".join(str(d) for d in a.shape), f"precision {precision}",
                    f"separator '{separator}'", f"threshold {threshold}", f"edge_items {edge_items}",
                    "values " + fmt_values(a), f"expect {len(lines)}"])
        out.extend(lines)

    logistic = 1 / (1 + np.exp(-np.array([[0.0, 1.0], [-1.0, -2.0]])))
    case("logistic", logistic)
    case("logistic_repr_sep", logistic, separator=", ")
    case("one_and_a_half", np.array([1.0, 2.5]))
    case("ints", np.array([5, 12, 21, 32], dtype=np.int32))
    case("ints_neg", np.array([[-5, 12], [7, -1000]], dtype=np.int64))
    case("i64_extremes", np.array([-(2**63), 2**63 - 1, 0]))
    case("u8", np.array([0, 255, 7], dtype=np.uint8))
    case("i8", np.array([-128, 5], dtype=np.int8))
    case("bools", np.array([True, False]))
    case("bools_2d", np.array([[True, False, True], [False, False, True]]))
    case("floats_neg", np.array([-1.5, 2.0, -0.0, 3.25]))
    case("floats_int_valued", np.array([1.0, 2.0, 3.0]))
    case("big_exp", np.array([1e8, 1.0]))
    case("small_exp", np.array([1e-5, 1.0]))
    case("ratio_exp", np.array([1001.0, 1.0]))
    case("ratio_ok", np.array([999.0, 1.0]))
    case("nan_inf", np.array([np.nan, 1.5, np.inf, -np.inf]))
    case("nan_only", np.array([np.nan, np.nan]))
    case("inf_only", np.array([np.inf, -np.inf]))
    case("nan_exp", np.array([np.nan, 1e-7, 3.0]))
    case("zeros", np.zeros(3))
    case("zero_and_tiny", np.array([0.0, 1e-300]))
    case("tie_round_even", np.array([0.001953125, 0.1]))
    case("precision_cut", np.array([1 / 3, 2 / 3, 0.1 + 0.2]))
    case("precision3", np.array([1 / 3, 2 / 3, 10.0]), precision=3)
    case("precision4_exp", np.array([1 / 3, 2e-7]), precision=4)
    case("exp_mixed_digits", np.array([1e-5, 123456.789, 1.0]))
    case("exp_3digit", np.array([1e-100, 1e100]))
    case("f32_basic", np.array([0.1, 0.2, 0.3], dtype=np.float32))
    case("f32_1e-4", np.array([1e-4, 1.0], dtype=np.float32))
    case("f32_big", np.array([67108872.0, 1.0], dtype=np.float32))
    case("f32_9e9", np.array([9e9], dtype=np.float32))
    case("f16_basic", np.array([0.1, 65504, 1.0], dtype=np.float16))
    case("f16_small", np.array([6e-8, 1.0], dtype=np.float16))
    case("f16_ratio", np.array([1.0, 1000.5], dtype=np.float16))
    case("one_element", np.array([5.0]))
    case("arange30", np.arange(30.0))
    case("long_ints", np.arange(0, 4000, 97, dtype=np.int64))
    case("long_floats_sep", np.linspace(0, 1, 23), separator=", ")
    case("arr_3d", np.arange(24.0).reshape(2, 3, 4))
    case("arr_4d_ints", np.arange(16, dtype=np.int32).reshape(2, 2, 2, 2))
    case("summary_1d", np.arange(2000.0))
    case("summary_2d", np.arange(3000).reshape(30, 100))
    case("summary_3d", np.arange(1728, dtype=np.int32).reshape(12, 12, 12))
    case("summary_opts", np.arange(40.0).reshape(4, 10), threshold=10, edge_items=2)
    case("summary_sep", np.arange(30, dtype=np.int64), threshold=5, edge_items=1, separator=", ")
    case("wide_rows", np.arange(40.0).reshape(2, 20) * 1.25)
    case("empty_1d", np.zeros(0))
    case("empty_2d", np.zeros((2, 0), dtype=np.int32))
    case("one_by_one", np.array([[7]], dtype=np.int16))

    # 0-d arrays print the scalar's str()
    for name, v, dt in [("s_f64_tenth", 0.1, np.float64), ("s_f64_third", 1 / 3, np.float64),
                        ("s_f64_1e16", 1e16, np.float64), ("s_f64_1e15", 1e15, np.float64),
                        ("s_f64_1e-4", 1e-4, np.float64), ("s_f64_9e-5", 9e-5, np.float64),
                        ("s_f64_negzero", -0.0, np.float64), ("s_f64_nan", np.nan, np.float64),
                        ("s_f64_neginf", -np.inf, np.float64), ("s_f64_one", 1.0, np.float64),
                        ("s_f64_big", 1.5e300, np.float64),
                        ("s_f32_tenth", 0.1, np.float32), ("s_f32_1e6", 1e6, np.float32),
                        ("s_f32_999999", 999999, np.float32), ("s_f32_1e-4", 1e-4, np.float32),
                        ("s_f32_9e9", 9e9, np.float32), ("s_f32_2p24", 2.0**24, np.float32),
                        ("s_f16_max", 65504, np.float16), ("s_f16_999", 999.5, np.float16),
                        ("s_f16_1000", 1000, np.float16), ("s_f16_tenth", 0.1, np.float16),
                        ("s_f16_1e-4", 1e-4, np.float16), ("s_f16_sub", 6e-8, np.float16),
                        ("s_i32", -42, np.int32), ("s_i64", 2**62, np.int64), ("s_u8", 200, np.uint8),
                        ("s_true", True, np.bool_), ("s_false", False, np.bool_)]:
        case(name, np.array(v, dtype=dt))

    # random floats: shortest digits, cut-offs and layouts across magnitudes
    for dt in (np.float64, np.float32, np.float16):
        for i in range(60):
            n = int(RNG.integers(1, 7))
            scale = 10.0 ** RNG.integers(-9, 12)
            v = RNG.standard_normal(n) * scale * 10.0 ** RNG.integers(-2, 3, size=n)
            v = v.astype(dt)
            r = RNG.random()
            if r < 0.1:
                v[RNG.integers(0, n)] = 0
            elif r < 0.15:
                v[RNG.integers(0, n)] = np.nan
            elif r < 0.2:
                v[RNG.integers(0, n)] = -np.inf
            case(f"rand_{kname(dt)}_{i}", v)
        for i in range(40):  # random bit patterns (finite)
            width = np.dtype(dt).itemsize * 8
            bits = RNG.integers(0, 2**width - 1, size=int(RNG.integers(1, 5)), dtype=np.uint64)
            v = bits.astype({16: np.uint16, 32: np.uint32, 64: np.uint64}[width]).view(dt)
            v = np.where(np.isfinite(v), v, dt(1.5)).astype(dt)
            case(f"bits_{kname(dt)}_{i}", v)
        for i in range(30):  # scalars across magnitudes
            v = dt(RNG.standard_normal() * 10.0 ** RNG.integers(-8, 20))
            case(f"scalar_{kname(dt)}_{i}", np.array(v, dtype=dt))
    for i in range(20):
        dt = [np.int64, np.int32, np.int16, np.int8, np.uint8][i % 5]
        info = np.iinfo(dt)
        v = RNG.integers(info.min, info.max, size=(int(RNG.integers(1, 4)), int(RNG.integers(1, 9))),
                         endpoint=True, dtype=dt)
        case(f"rand_{kname(dt)}_{i}", v)

    with open(os.path.join(PRINT, "cases.txt"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    write_fixtures()
    write_conversion_tables()
    write_astype_cases()
    write_print_cases()
    print("wrote", NPY, "and", PRINT)
