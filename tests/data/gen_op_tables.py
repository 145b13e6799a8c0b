#!/usr/bin/env python3
"""Generates tests/data/ops/*.txt: per-op, per-dtype value tables for kiln's
public API, computed with NumPy / SciPy (and ml_dtypes for bfloat16). The
tables are an independent oracle: nothing here calls or imports kiln.

How the committed tables were made (run from the repository root):

    python3 tests/data/gen_op_tables.py
    # Python 3.11.7, numpy 2.4.6, scipy 1.17.1, ml_dtypes 0.6.0, mpmath 1.3.0

The output is deterministic (fixed seeds, no dict-order or hash dependence);
the script checks the versions it runs under against the ones above and only
warns when they differ. Read by tests/frontend/table_reader.hpp, used by
tests/frontend/ops_numpy_test.cpp and tests/frontend/promotion_test.cpp.

----------------------------------------------------------------------------
Table format (line based, whitespace separated tokens, '#' starts a comment
line, blank lines ignored). A case is:

    case <op> <tag...>              starts a case; tag: free text for messages
    in <name> <dtype> <shape> v...  an input tensor (zero or more)
    arg <spec> <spec> ...           operands in order (optional; default: the
                                    inputs in order). A spec is an input name,
                                    or a weak C++ scalar: b:0 / b:1 (bool),
                                    i:<int> (int64), f:<float> (double)
    attr <key> <value>              op parameter (zero or more), see below
    out <dtype> <shape> v...        an expected output (one per output), or
    err                             building the graph must throw kiln::Error
    scale v...                      optional, after out: per-element magnitude
                                    of the terms that were accumulated into
                                    output 0 (e.g. sum |x|, |a| @ |b|); the
                                    float tolerance is relative to
                                    max(|expected|, scale)
    end

  dtype: bool i8 i16 i32 i64 u8 f16 bf16 f32 f64
  shape: [] (0-d), [5], [2,3], [0,3] (no spaces)
  values, C order: bool 0/1; integers in decimal; floats as a decimal
    integer when integral and |v| < 2^53 ("-0" for negative zero), else
    Python's float.hex() with trailing zero digits dropped ("0x1.8p+1"),
    or nan / inf / -inf. Every value is exactly representable in its dtype
    (f16/bf16/f32 values are exact doubles), so C++ reads the exact bits
    with strtod / strtoll.
  attr values: integer lists "0,2" ("-" = the empty list); "all";
    slices "1:3:1,::-1" (start:stop:step per axis, empty = omitted);
    index items "2,1:3,@idx" (int | slice | @input-name); dtype names.
    Common keys: axes keepdims ddof axis n axes_a axes_b shape perm sections
    indices slices items via dtype value start stop step m k form dyn.
    dyn 1: declare the inputs' dims unknown (-1) instead of static.

Files: unary binary ternary cast reduce linalg shape index create
(op cases) and promotion.txt (dtype rules, its own line format, see
write_promotion()).

----------------------------------------------------------------------------
How expected values are computed.

* Integer and bool results: NumPy itself, in the dtype (wrap-around on
  overflow is NumPy's).
* Float results: the inputs are exact values of their dtype; they are cast to
  the operation's computational dtype like NumPy does (exact in all cases
  used here), the function is evaluated in float64 with NumPy/SciPy, and the
  result is rounded once, to nearest-even, to the output dtype. For f32/f16
  this is what NumPy's f32/f16 loops approximate (they compute in float and
  round); it is the better oracle and the C++ side allows a few ULP.
  bfloat16: ml_dtypes' float64 -> bfloat16 cast rounds via float32 (double
  rounding), so this script rounds to bf16 (and f16) itself with exact
  rational arithmetic (round_to()); it agrees with ml_dtypes on everything
  ml_dtypes rounds once.
* Output dtypes come from NumPy (result of the real NumPy call on arrays of
  the input dtypes; the script asserts its own rules against NumPy). Pairs
  involving bf16 follow kiln's documented extension (NumPy has no bf16 and
  ml_dtypes does not promote it with f16 or ints wider than 8 bits):
  f16 with bf16 -> f32; bf16 with bool/i8/u8 -> bf16; with i16 -> f32; with
  i32/i64 -> f64; with f32 -> f32; with f64 -> f64; bf16 with a weak Python
  float stays bf16 (ml_dtypes gives f32 there); float-only functions keep
  bf16.
* SciPy's float64 special functions are cross-checked against mpmath (200
  bits); where SciPy is more than 2 ULP off (gammaln near its roots and for
  subnormal x, erfc's underflow, digamma at some negative x), the correctly
  rounded mpmath value is used. The script prints every such replacement.
* SciPy functions (erf, erfc, erfinv, gammaln, digamma, expit) have no f16
  loops and pick f32 for small ints; kiln follows NumPy's rule for
  float-only functions (np.exp: bool/i8/u8 -> f16, i16 -> f32, i32/i64 -> f64)
  and so does this table.

Deliberate differences from NumPy, adapted or skipped (as kiln documents):
* integer pow with a negative exponent: NumPy raises; kiln gives 0, or +-1
  for the bases +-1. The table uses kiln's rule for those elements.
* integer floor_div / mod by zero: 0 (NumPy's value; NumPy also warns).
* sum / prod of u8: kiln gives i64 (NumPy uint64; same values here).
* kiln has no uint64.
* float -> int casts of NaN, inf and out-of-range values: undefined in NumPy,
  skipped.
* matmul/dot/outer/tensordot of bool: kiln rejects them; skipped.
* clip of bool: kiln rejects it; skipped.
* logsumexp / softmax / log_softmax: floats only (SciPy's int handling is
  not NumPy's float-function rule).
* lgamma(-inf): SciPy gives -inf, C99 / Python's math.lgamma give +inf;
  skipped.
* argmax/argmin over several axes: not defined by NumPy; skipped.
* maximum/minimum/clip/relu and max/min reductions: which zero NumPy returns
  for (+0, -0) depends on its SIMD path, so the C++ side does not check the
  sign of zero for them.
"""

import math
import os
import sys
import warnings
import zlib
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import scipy
import scipy.special as sp

EXPECTED_VERSIONS = {"numpy": "2.4.6", "scipy": "1.17.1", "ml_dtypes": "0.6.0", "mpmath": "1.3.0"}

warnings.simplefilter("ignore")  # NumPy's divide-by-zero / invalid warnings are expected

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")

DTYPES = ["bool", "i8", "i16", "i32", "i64", "u8", "f16", "bf16", "f32", "f64"]
FLOATS = ["f16", "bf16", "f32", "f64"]
INTS = ["i8", "i16", "i32", "i64", "u8"]
NPT = {
    "bool": np.dtype(np.bool_), "i8": np.dtype(np.int8), "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32), "i64": np.dtype(np.int64), "u8": np.dtype(np.uint8),
    "f16": np.dtype(np.float16), "bf16": np.dtype(ml_dtypes.bfloat16),
    "f32": np.dtype(np.float32), "f64": np.dtype(np.float64),
}
TAG = {v: k for k, v in NPT.items()}
# precision (bits incl. the implicit one), min normal exponent, max exponent
FMT = {"f16": (11, -14, 15), "bf16": (8, -126, 127), "f32": (24, -126, 127), "f64": (53, -1022, 1023)}
INF = math.inf
NAN = math.nan


def is_float(t):
    return t in FLOATS


def is_int(t):
    return t in INTS


def irange(t):
    if t == "bool":
        return 0, 1
    i = np.iinfo(NPT[t])
    return int(i.min), int(i.max)


def seed_of(name):
    return zlib.crc32(name.encode())


# ---------------------------------------------------------------- rounding

def _pow2(k):
    return Fraction(2) ** k if k >= 0 else Fraction(1, 2 ** (-k))


def round_frac(q, t):
    """Rounds the exact rational q to dtype t (nearest, ties to even)."""
    p, emin, emax = FMT[t]
    if q == 0:
        return 0.0
    sign = -1.0 if q < 0 else 1.0
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while _pow2(e) > a:
        e -= 1
    while _pow2(e + 1) <= a:
        e += 1
    e = max(e, emin)
    quantum = _pow2(e - (p - 1))
    r = round(a / quantum) * quantum  # round() on a Fraction: ties to even
    if r >= _pow2(emax + 1):
        return sign * INF
    return sign * float(r)


def round_scalar(v, t):
    v = float(v)
    if t == "f64" or math.isnan(v) or math.isinf(v) or v == 0:
        return v
    return round_frac(Fraction(v), t)


def round_to(x, t):
    """float64 array -> float64 array of values exactly representable in float dtype t."""
    x = np.asarray(x, dtype=np.float64)
    if t == "f64":
        return x.copy()
    if t == "f32":
        return x.astype(np.float32).astype(np.float64)
    flat = [round_scalar(v, t) for v in x.ravel()]
    r = np.array(flat, dtype=np.float64).reshape(x.shape)
    if t == "f16":  # cross-check against NumPy's (direct, single rounding) cast
        chk = x.astype(np.float16).astype(np.float64)
        assert np.array_equal(chk, r, equal_nan=True), (x, r, chk)
    return r


def exact_in(v, t):
    """Is the Python number v exactly representable in dtype t?"""
    if t == "bool":
        return v in (0, 1)
    if is_int(t):
        lo, hi = irange(t)
        return float(v) == int(v) and lo <= int(v) <= hi
    return math.isnan(v) or round_scalar(v, t) == v


# ---------------------------------------------------------------- values

class V:
    """A tensor value: tag dtype + numpy array (float64 for floats, int64 for
    integers, bool for bool) holding exact values of the dtype."""

    def __init__(self, t, arr):
        self.t = t
        if t == "bool":
            self.a = np.asarray(arr, dtype=np.bool_)
        elif is_int(t):
            a = np.asarray(arr)
            if a.dtype.kind == "f":
                assert np.all(a == np.round(a)), a
            self.a = a.astype(np.int64)
            lo, hi = irange(t)
            assert self.a.size == 0 or (self.a.min() >= lo and self.a.max() <= hi), (t, self.a)
        else:
            self.a = np.asarray(arr, dtype=np.float64)
            assert np.array_equal(round_to(self.a, t), self.a, equal_nan=True), (t, self.a)

    @property
    def shape(self):
        return self.a.shape

    def np(self):
        """The array in its real dtype."""
        return self.a.astype(NPT[self.t])

    def f64(self):
        return self.np().astype(np.float64)


def vf(t, arr):
    """A float V from float64 values, rounded to t first."""
    return V(t, round_to(np.asarray(arr, dtype=np.float64), t))


def from_np(arr, t=None):
    """V from a NumPy result array; float results are rounded to their dtype."""
    arr = np.asarray(arr)
    t = t or TAG[arr.dtype]
    if is_float(t):
        return V(t, round_to(arr.astype(np.float64), t))
    if t == "u8" and arr.dtype == np.uint64:  # kiln: u8 sums are i64
        t = "i64"
    return V(t, arr.astype(np.int64) if t != "bool" else arr)


def fmt_float(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if v == int(v) and abs(v) < 2.0 ** 53:
        return str(int(v))
    h = v.hex()  # [-]0x1.hhhhp+e
    mant, exp = h.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return mant + "p" + exp


def fmt_vals(v):
    if v.t == "bool":
        return " ".join("1" if b else "0" for b in v.a.ravel())
    if is_int(v.t):
        return " ".join(str(int(x)) for x in v.a.ravel())
    return " ".join(fmt_float(x) for x in v.a.ravel())


def fmt_shape(shape):
    return "[" + ",".join(str(int(s)) for s in shape) + "]"


def fmt_scalar(s):
    kind, val = s
    if kind == "bool":
        return "b:%d" % int(bool(val))
    if kind == "int":
        return "i:%d" % int(val)
    return "f:" + fmt_float(val)


def ints_attr(xs):
    xs = list(xs)
    return ",".join(str(int(x)) for x in xs) if xs else "-"


# ---------------------------------------------------------------- tables

class Table:
    def __init__(self, name, doc):
        self.name = name
        self.lines = ["# kiln op table '%s' -- generated by tests/data/gen_op_tables.py; do not edit." % name,
                      "# numpy %s, scipy %s, ml_dtypes %s" % (np.__version__, scipy.__version__,
                                                              ml_dtypes.__version__)]
        for d in doc.strip().splitlines():
            self.lines.append("# " + d)
        self.count = 0
        self.per_op = {}

    def case(self, op, tag, inputs=(), args=None, attrs=(), outs=(), err=False, scale=None):
        """inputs: [(name, V)]; args: [name | (kind, value)]; attrs: [(k, v)];
        outs: [V]."""
        L = self.lines
        L.append("case %s %s" % (op, tag))
        for name, v in inputs:
            L.append(("in %s %s %s %s" % (name, v.t, fmt_shape(v.shape), fmt_vals(v))).rstrip())
        if args is not None:
            L.append("arg " + " ".join(a if isinstance(a, str) else fmt_scalar(a) for a in args))
        for k, val in attrs:
            L.append("attr %s %s" % (k, val))
        if err:
            L.append("err")
        else:
            assert outs
            for o in outs:
                L.append(("out %s %s %s" % (o.t, fmt_shape(o.shape), fmt_vals(o))).rstrip())
            if scale is not None:
                s = np.broadcast_to(np.asarray(scale, dtype=np.float64), outs[0].shape)
                L.append("scale " + " ".join(fmt_float(x) for x in s.ravel()))
        L.append("end")
        self.count += 1
        self.per_op[op] = self.per_op.get(op, 0) + 1

    def write(self):
        os.makedirs(OUT_DIR, exist_ok=True)
        with open(os.path.join(OUT_DIR, self.name + ".txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


# ---------------------------------------------------------------- dtype rules

def promote(a, b):
    """Strong promotion of two dtypes: NumPy's, extended to bf16 as kiln documents."""
    if a == b:
        return a
    if "bf16" in (a, b):
        o = b if a == "bf16" else a
        return {"bool": "bf16", "i8": "bf16", "u8": "bf16", "i16": "f32", "i32": "f64", "i64": "f64",
                "f16": "f32", "f32": "f32", "f64": "f64"}[o]
    return TAG[np.result_type(NPT[a], NPT[b])]


def float_fn(t):
    """dtype of a float-only function (np.exp) applied to t."""
    if t == "bf16":
        return "bf16"
    return TAG[np.exp(np.zeros(1, NPT[t])).dtype]


def promote_weak(t, kind):
    """NEP 50: tensor dtype t with a Python scalar of kind bool/int/float."""
    if t == "bf16":
        return "bf16"  # ml_dtypes gives f32 for a Python float; kiln keeps bf16 (as for f16)
    val = {"bool": True, "int": 2, "float": 2.5}[kind]
    return TAG[(np.zeros(2, NPT[t]) + val).dtype]


def common_dtype(operands):
    """operands: list of V or (kind, value). Returns the promoted dtype."""
    strong = None
    for o in operands:
        if isinstance(o, V):
            strong = o.t if strong is None else promote(strong, o.t)
    if strong is None:
        kinds = [o[0] for o in operands]
        return "f64" if "float" in kinds else "i64" if "int" in kinds else "bool"
    t = strong
    for o in operands:
        if not isinstance(o, V):
            t = promote_weak(t, o[0])
    return t


def cast_operand(o, t):
    """A V or weak scalar converted to dtype t (as NumPy converts operands)."""
    if isinstance(o, V):
        if is_float(t):
            return V(t, round_to(o.f64(), t))
        return V(t, o.np().astype(NPT[t]).astype(np.int64) if t != "bool" else o.np().astype(np.bool_))
    kind, val = o
    if is_float(t):
        return V(t, np.array(round_scalar(val, t)))
    if t == "bool":
        return V(t, np.array(bool(val)))
    lo, hi = irange(t)
    assert lo <= int(val) <= hi
    return V(t, np.array(int(val)))


def np_operand(o):
    if isinstance(o, V):
        return o.np()
    return {"bool": bool, "int": int, "float": float}[o[0]](o[1])


# ---------------------------------------------------------------- inputs

def float_specials(t, extra=()):
    fi = ml_dtypes.finfo(NPT[t]) if t == "bf16" else np.finfo(NPT[t])
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 10.0, INF, -INF, NAN,
            float(fi.max), -float(fi.max), float(fi.tiny), float(fi.smallest_subnormal)]
    vals += list(extra)
    return vf(t, vals)


def int_specials(t):
    if t == "bool":
        return V(t, [False, True])
    lo, hi = irange(t)
    cand = [0, 1, -1, 2, -2, 7, -7, 100, lo, hi, lo + 1, hi - 1]
    out = []
    for c in cand:
        if lo <= c <= hi and c not in out:
            out.append(c)
    return V(t, out)


def rand_float(rng, t, shape, scale=3.0, loc=0.0):
    return vf(t, rng.standard_normal(shape) * scale + loc)


def rand_uniform(rng, t, shape, lo, hi):
    return vf(t, rng.uniform(lo, hi, shape))


def rand_int(rng, t, shape, lo=None, hi=None):
    if t == "bool":
        return V(t, rng.integers(0, 2, shape).astype(bool))
    a, b = irange(t)
    lo = a if lo is None else max(lo, a)
    hi = b if hi is None else min(hi, b)
    return V(t, rng.integers(lo, hi, shape, endpoint=True))


def rand_any(rng, t, shape, scale=3.0, ilo=-20, ihi=20):
    if is_float(t):
        return rand_float(rng, t, shape, scale)
    return rand_int(rng, t, shape, ilo, ihi)


def rand_short(rng, t, shape, lo=-50, hi=50):
    """Values with a short exact text form (floats: multiples of 1/4) for ops that only move data."""
    if is_float(t):
        return vf(t, rng.integers(lo * 4, hi * 4, shape, endpoint=True) / 4.0)
    return rand_int(rng, t, shape, lo, hi)


# ================================================================ unary

# float64 reference implementations of the float-only functions
FLOAT_FNS = {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x), "reciprocal": lambda x: 1.0 / x,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "sigmoid": sp.expit,
    "softplus": lambda x: np.logaddexp(0.0, x), "erf": sp.erf, "erfc": sp.erfc,
    "erfinv": sp.erfinv, "lgamma": sp.gammaln, "digamma": sp.digamma,
}

# extra interesting inputs (float64, rounded to each dtype) and a random domain per function
DOMAIN = {
    "exp": ([-745.2, -708.5, 709.7, 710.0, 88.7, 89.0, 11.0, 1e-10, -20.0], (-10, 10)),
    "exp2": ([-1075.0, -1074.0, 1023.9, 1024.0, 128.0, 16.0, -24.0, 0.1], (-20, 20)),
    "expm1": ([1e-10, -1e-10, 1e-5, -40.0, 709.0, 710.0], (-5, 5)),
    "log": ([1e-10, 0.999, 1.001, 2.718281828459045], (0.01, 100)),
    "log2": ([1024.0, 0.125, 1e-10, 3.0], (0.01, 100)),
    "log10": ([1000.0, 1e-5, 0.1], (0.01, 100)),
    "log1p": ([1e-10, -1e-10, -0.999, -1.5, 1e10], (-0.9, 10)),
    "sqrt": ([4.0, 2.0, 1e-10, 1e300], (0, 100)),
    "rsqrt": ([4.0, 2.0, 1e-10, 0.25], (0.01, 100)),
    "reciprocal": ([3.0, -7.0, 1e-300, 1e308], (-10, 10)),
    "sin": ([math.pi, math.pi / 2, 1e5, -100.0, 1e-8], (-10, 10)),
    "cos": ([math.pi, math.pi / 2, 1e5, -100.0, 1e-8], (-10, 10)),
    "tan": ([1.0, 1.5, -1.5, 1e-8, 100.0], (-1.5, 1.5)),
    "asin": ([0.999, -0.999, 1.5, -1.5, 1e-8], (-1, 1)),
    "acos": ([0.999, -0.999, 1.5, -1.5, 1e-8], (-1, 1)),
    "atan": ([1e10, -1e10, 1e-8], (-10, 10)),
    "sinh": ([710.0, -710.0, 1e-8, 20.0, 12.0], (-5, 5)),
    "cosh": ([710.0, -710.0, 1e-8, 20.0, 12.0], (-5, 5)),
    "tanh": ([20.0, -20.0, 1e-8, 0.25], (-4, 4)),
    "asinh": ([1e10, -1e10, 1e-8], (-10, 10)),
    "acosh": ([1.0001, 0.5, 1e10, 2.0], (1, 20)),
    "atanh": ([0.999, -0.999, 1.5, -1.5, 1e-8], (-1, 1)),
    "sigmoid": ([40.0, -40.0, 800.0, -800.0, 1e-8], (-8, 8)),
    "softplus": ([40.0, -40.0, 800.0, -800.0, 1e-8], (-8, 8)),
    "erf": ([6.0, -6.0, 1e-8, 0.1], (-3, 3)),
    "erfc": ([6.0, -6.0, 26.0, 27.0, 1e-8], (-3, 5)),
    "erfinv": ([0.999999, -0.999999, 0.9, 1e-8, 1.5, -1.5, 0.5], (-1, 1)),
    "lgamma": ([2.0, -0.5, -2.5, -3.7, 1e10, 171.5, 0.1, 1e-8, -1.0, -2.0], (0.05, 20)),
    "digamma": ([2.0, -0.5, -2.5, -3.7, 1e10, 0.1, 1e-8, -1.0, -2.0], (0.05, 20)),
}


# SciPy's special functions are not always within a few ULP in float64 (e.g.
# gammaln(-2.5) is 6 ULP off, erfc(27) underflows to 0 instead of 5.2e-319,
# gammaln(5e-324) gives inf instead of 744.44). Their float64 results are
# checked against mpmath at 200 bits; where SciPy is more than 2 ULP off, the
# correctly rounded mpmath value is used instead (counted in REFINED).
MP_FNS = {
    "erf": lambda x: mpmath.erf(x), "erfc": lambda x: mpmath.erfc(x), "erfinv": lambda x: mpmath.erfinv(x),
    "lgamma": lambda x: mpmath.log(abs(mpmath.gamma(x))), "digamma": lambda x: mpmath.digamma(x),
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)), "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
}
REFINED = []


def refine(op, x, y):
    """x, y: float64 arrays (inputs and SciPy's outputs). Returns y with SciPy's large errors fixed."""
    if op not in MP_FNS:
        return y
    y = np.array(y, dtype=np.float64)
    mpmath.mp.prec = 200
    for k, xv in enumerate(x.ravel()):
        if not math.isfinite(xv) or abs(xv) > 1e100:
            continue
        try:
            v = MP_FNS[op](mpmath.mpf(float(xv)))
        except (ValueError, ZeroDivisionError, OverflowError):
            continue  # poles: SciPy's convention stays
        if not isinstance(v, mpmath.mpf):
            continue
        ref = float(v)  # rounds to nearest (inf on overflow)
        got = y.ravel()[k]
        if math.isnan(got) or math.isinf(ref) != math.isinf(got) or \
                (math.isfinite(ref) and abs(ref - got) > 2 * (math.ulp(ref) if ref else 5e-324)):
            REFINED.append((op, float(xv), float(got), ref))
            y.ravel()[k] = ref
    return y


def unary_float_case(tab, op, t, rng):
    """A float-only function on dtype t."""
    out_t = float_fn(t)
    fn = FLOAT_FNS[op]
    extra, (lo, hi) = DOMAIN[op]
    if is_float(t):
        x = float_specials(t, extra)
        xs = [("special", x), ("random", rand_uniform(rng, t, (10,), lo, hi))]
        if op == "lgamma":  # SciPy's gammaln(-inf) = -inf differs from C99's +inf: skipped
            x = V(t, x.a[~(np.isinf(x.a) & (x.a < 0))])
            xs[0] = ("special", x)
    else:
        xs = [("special", int_specials(t))]
        if t != "bool":
            ilo, ihi = irange(t)
            xs.append(("random", rand_int(rng, t, (8,), max(ilo, int(lo) - 1), min(ihi, int(hi) + 1))))
    for name, x in xs:
        y = refine(op, x.f64(), fn(x.f64()))
        tab.case(op, "%s %s" % (t, name), [("x", x)], outs=[from_np(round_to(y, out_t), out_t)])


def numpy_unary(op, x):
    """NumPy's result for the non-float-only unary ops, or None when NumPy raises."""
    f = {"neg": np.negative, "abs": np.abs, "sign": np.sign, "square": np.square, "floor": np.floor,
         "ceil": np.ceil, "round": np.round, "trunc": np.trunc, "isnan": np.isnan, "isinf": np.isinf,
         "isfinite": np.isfinite, "logical_not": np.logical_not, "bitwise_not": np.invert,
         "relu": lambda a: np.maximum(a, 0), "stop_gradient": lambda a: a.copy()}[op]
    try:
        r = f(x.np())
    except TypeError:
        return None
    out_t = TAG[r.dtype]
    if is_float(out_t) and x.t != "bf16":
        # recompute in float64 (the f16 loops compute in float) and round once
        r64 = f(x.f64()) if out_t == x.t else f(x.np().astype(NPT[out_t]).astype(np.float64))
        return from_np(round_to(np.asarray(r64, np.float64), out_t), out_t)
    if x.t == "bf16":  # ml_dtypes: same dtype; compute the (exact) op in float64
        r64 = f(x.f64())
        if np.asarray(r64).dtype == np.bool_:
            return V("bool", r64)
        return from_np(round_to(r64, "bf16"), "bf16")
    return from_np(r, out_t)


def gen_unary():
    tab = Table("unary", """
Elementwise unary ops: case <op> <dtype> <special|random>; input x.
Float-only functions on bool/ints give NumPy's float dtype (np.exp rule).""")
    for op in FLOAT_FNS:
        rng = np.random.default_rng(seed_of("unary-" + op))
        for t in DTYPES:
            unary_float_case(tab, op, t, rng)
    for op in ["neg", "abs", "sign", "square", "floor", "ceil", "round", "trunc", "isnan", "isinf",
               "isfinite", "logical_not", "bitwise_not", "relu", "stop_gradient"]:
        rng = np.random.default_rng(seed_of("unary-" + op))
        for t in DTYPES:
            if is_float(t):
                extra = [0.49999999999999994, 1.5, 2.5, -0.5, -1.5, 3.5, -2.7, 1e15 + 0.5, 4503599627370497.0]
                xs = [("special", float_specials(t, extra)), ("random", rand_float(rng, t, (8,)))]
            else:
                xs = [("special", int_specials(t))]
                if t != "bool":
                    xs.append(("random", rand_int(rng, t, (8,))))
            for name, x in xs:
                r = numpy_unary(op, x)
                if r is None:
                    tab.case(op, "%s %s (NumPy raises TypeError)" % (t, name), [("x", x)], err=True)
                else:
                    tab.case(op, "%s %s" % (t, name), [("x", x)], outs=[r])
    # broadcasting-free but shaped: a 2-D and a 0-d input
    rng = np.random.default_rng(seed_of("unary-shapes"))
    x = rand_float(rng, "f32", (2, 3))
    tab.case("exp", "f32 2-D", [("x", x)], outs=[from_np(round_to(np.exp(x.f64()), "f32"), "f32")])
    x = vf("f64", 0.75)
    tab.case("tanh", "f64 0-d", [("x", x)], outs=[from_np(np.tanh(x.f64()), "f64")])
    x = rand_int(rng, "i32", (3, 2))
    tab.case("neg", "i32 2-D dyn", [("x", x)], attrs=[("dyn", 1)], outs=[from_np(-x.np())])
    return tab


# ================================================================ binary

BIN_F64 = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floor_div": np.floor_divide, "mod": np.mod, "pow": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal, "ne": np.not_equal, "lt": np.less,
    "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor, "left_shift": np.left_shift,
    "right_shift": np.right_shift,
}
ARITH = ["add", "sub", "mul", "div", "floor_div", "mod", "pow", "maximum", "minimum", "atan2"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor"]
SHIFT = ["left_shift", "right_shift"]


def binary_dtypes(op, ops):
    """(computational dtype, output dtype) for a binary op, or None if it is an error."""
    c = common_dtype(ops)
    if op in ARITH:
        if op == "div":
            return (c, c) if is_float(c) else ("f64", "f64")
        if op == "atan2":
            strong = [o.t for o in ops if isinstance(o, V)]
            if len(strong) == 2 and "bf16" not in strong:
                # NumPy picks the first float loop both inputs cast to safely: atan2(i8, u8) -> f16,
                # not float_fn(promote(i8, u8) = i16) = f32
                f = TAG[np.arctan2(np.zeros(1, NPT[strong[0]]), np.zeros(1, NPT[strong[1]])).dtype]
                return f, f
            return float_fn(c), float_fn(c)
        if c == "bool":
            if op == "sub":
                return None
            if op in ("add", "mul", "maximum", "minimum"):
                return "bool", "bool"
            return "i8", "i8"  # floor_div, mod, pow of bools: int8, like NumPy
        return c, c
    if op in COMPARE or op in LOGICAL:
        return c, "bool"
    if op in BITWISE:
        return None if is_float(c) else (c, c)
    if op in SHIFT:
        if is_float(c):
            return None
        return ("i8", "i8") if c == "bool" else (c, c)
    raise KeyError(op)


def int_pow(a, b, t):
    """kiln's integer pow: NumPy's (wrapping) for b >= 0; 0 / +-1 for b < 0."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    bb = np.where(b64 < 0, 0, b64).astype(NPT[t])
    r = np.power(a64.astype(NPT[t]), bb).astype(np.int64)
    neg = b64 < 0
    r = np.where(neg & (a64 == 1), 1, r)
    r = np.where(neg & (a64 == -1), np.where(b64 % 2 == 0, 1, -1), r)
    r = np.where(neg & (a64 != 1) & (a64 != -1), 0, r)
    return r


def binary_expected(op, x, y):
    """x, y: V or weak scalar (kind, value). Returns V, or None for an error."""
    d = binary_dtypes(op, [x, y])
    for o in (x, y):  # a weak int that does not fit an integer dtype: NumPy 2 raises OverflowError
        if d and not isinstance(o, V) and o[0] == "int" and is_int(d[0]):
            lo, hi = irange(d[0])
            if not lo <= o[1] <= hi:
                if op in COMPARE:
                    # NumPy 2 compares an out-of-range Python int exactly (i8 == 300 is False)
                    ex = [o2.a if isinstance(o2, V) else np.int64(o2[1]) for o2 in (x, y)]
                    return V("bool", BIN_F64[op](ex[0], ex[1]))
                d = None
    # cross-check the dtype rule (and the error) against NumPy where NumPy can say
    if not any(isinstance(o, V) and o.t == "bf16" for o in (x, y)):
        check = True
        try:
            with np.errstate(all="ignore"):
                ax, ay = np_operand(x), np_operand(y)
                if op == "pow" and isinstance(ay, np.ndarray) and ay.dtype.kind == "i":
                    ay = np.where(ay < 0, 0, ay).astype(ay.dtype)  # NumPy raises for negative int exponents
                r = BIN_F64[op](ax, ay)
            nd = TAG[np.asarray(r).dtype]
        except (TypeError, OverflowError):
            nd = None
        except ValueError:  # "Integers to negative integer powers are not allowed" (kiln: 0 / +-1)
            check = False
        if check:
            assert (d[1] if d else None) == nd, (op, x if not isinstance(x, V) else x.t,
                                                 y if not isinstance(y, V) else y.t, d, nd)
    if d is None:
        return None
    comp, out = d
    cx, cy = cast_operand(x, comp), cast_operand(y, comp)
    f = BIN_F64[op]
    if is_float(comp):
        with np.errstate(all="ignore"):
            r = f(cx.a, cy.a)
        if out == "bool":
            res = V("bool", r)
        else:
            res = from_np(round_to(r, out), out)
    else:
        with np.errstate(all="ignore"):
            if op == "pow":
                r = int_pow(cx.np(), cy.np(), comp)
            else:
                r = f(cx.np(), cy.np())
        res = from_np(np.asarray(r).astype(NPT[out]) if out != "bool" else r, out)
    # bool/integer results must be exactly NumPy's own (where NumPy computes it)
    if (out == "bool" or is_int(out)) and not any(isinstance(o, V) and o.t == "bf16" for o in (x, y)) \
            and op != "pow":
        with np.errstate(all="ignore"):
            direct = np.asarray(f(np_operand(x), np_operand(y)))
        assert np.array_equal(direct.astype(np.int64), res.a.astype(np.int64)), (op, x, y, direct, res.a)
    return res


def cross(a, b):
    """All pairs of the values of two 1-D V's by broadcasting: [n,1] and [1,m]."""
    return V(a.t, a.a.reshape(-1, 1)), V(b.t, b.a.reshape(1, -1))


def bin_specials(t, op):
    """Special operand values for a binary op on dtype t (1-D V)."""
    if is_float(t):
        fi = ml_dtypes.finfo(NPT[t]) if t == "bf16" else np.finfo(NPT[t])
        vals = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 7.0, INF, -INF, NAN, float(fi.max), float(fi.tiny)]
        if op == "pow":
            vals = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -2.0, 3.0, -8.0, INF, -INF, NAN, 1e10]
        return vf(t, vals)
    if t == "bool":
        return V(t, [False, True])
    lo, hi = irange(t)
    if op in SHIFT:
        a = [0, 1, -1, 5, -5, 64, lo, hi]
        return V(t, [v for v in dict.fromkeys(a) if lo <= v <= hi])
    if op == "pow":
        a = [0, 1, -1, 2, -2, 3, 7, -3, lo, hi]
        return V(t, [v for v in dict.fromkeys(a) if lo <= v <= hi])
    a = [0, 1, -1, 2, -3, 7, -7, lo, hi]
    return V(t, [v for v in dict.fromkeys(a) if lo <= v <= hi])


def shift_counts(t):
    bits = {"i8": 8, "u8": 8, "i16": 16, "i32": 32, "i64": 64, "bool": 1}[t]
    lo, hi = irange(t)
    c = [0, 1, 3, bits - 1, bits, bits + 1, -1, 2 * bits]
    return V(t, [v for v in dict.fromkeys(c) if lo <= v <= hi])


def gen_binary():
    tab = Table("binary", """
Elementwise binary ops: case <op> <dtype(s)> <what>; operands a, b (or weak
scalars via 'arg'). 'special' crosses special values (all pairs).""")
    for op in BIN_F64:
        rng = np.random.default_rng(seed_of("binary-" + op))

        def emit(tag, a, b, args=None, attrs=()):
            ins = [(n, v) for n, v in (("a", a), ("b", b)) if isinstance(v, V)]
            r = binary_expected(op, a, b)
            if args is None and not (isinstance(a, V) and isinstance(b, V)):
                args = [("a" if isinstance(a, V) else a), ("b" if isinstance(b, V) else b)]
            if r is None:
                tab.case(op, tag + " (NumPy raises)", ins, args=args, attrs=attrs, err=True)
            else:
                tab.case(op, tag, ins, args=args, attrs=attrs, outs=[r])

        for t in DTYPES:
            s = bin_specials(t, op)
            if op in SHIFT and t != "bool" and not is_float(t):
                a, b = cross(s, shift_counts(t))
            else:
                a, b = cross(s, s)
            emit("%s special [n,1]x[1,m]" % t, a, b)
            if t != "bool":
                if op in SHIFT and not is_float(t):
                    bits = {"i8": 8, "u8": 8, "i16": 16, "i32": 32, "i64": 64}[t]
                    ra = rand_int(rng, t, (3, 4))
                    rb = rand_int(rng, t, (4,), 0, bits - 1)
                elif op == "pow":
                    ra = rand_any(rng, t, (3, 4), 1.5, -4, 4) if not is_float(t) else rand_uniform(rng, t, (3, 4), 0.1, 4)
                    rb = rand_any(rng, t, (4,), 2.0, -3, 6)
                elif op in ("floor_div", "mod") and not is_float(t):
                    ra = rand_int(rng, t, (3, 4))
                    rb = rand_int(rng, t, (4,), -9, 9)
                else:
                    ra = rand_any(rng, t, (3, 4), 3.0, -100, 100)
                    rb = rand_any(rng, t, (4,), 3.0, -100, 100)
                emit("%s random broadcast [3,4]x[4]" % t, ra, rb)
            else:
                ra, rb = rand_int(rng, t, (3, 1)), rand_int(rng, t, (1, 4))
                emit("bool broadcast [3,1]x[1,4]", ra, rb)
        # broadcasting shapes, 0-d operands, dynamic dims
        t = "f64" if op not in BITWISE + SHIFT else "i32"
        lo, hi = (0, 5) if op in SHIFT else (-20, 20)
        a = rand_any(rng, t, (2, 1, 3), 2.0, lo, hi)
        b = rand_any(rng, t, (4, 1), 2.0, lo, hi)
        emit("%s broadcast [2,1,3]x[4,1]" % t, a, b)
        a0 = rand_any(rng, t, (), 2.0, lo, hi)
        b1 = rand_any(rng, t, (5,), 2.0, lo, hi)
        emit("%s 0-d x [5]" % t, a0, b1)
        emit("%s [5] x 0-d" % t, b1, a0)
        a = rand_any(rng, t, (2, 3), 2.0, lo, hi)
        b = rand_any(rng, t, (2, 3), 2.0, lo, hi)
        emit("%s [2,3] dyn" % t, a, b, attrs=[("dyn", 1)])
        # mixed dtypes (promotion)
        pairs = [("i8", "u8"), ("i32", "f32"), ("f16", "bf16"), ("bool", "i8"), ("u8", "f16"), ("i64", "f16"),
                 ("bf16", "i32"), ("i16", "f16"), ("bf16", "u8"), ("f32", "f64"), ("i16", "bf16"), ("bool", "f32"),
                 ("u8", "i32"), ("i8", "i64")]
        if op in SHIFT:
            pairs = [("i8", "u8"), ("bool", "i8"), ("u8", "i32"), ("i8", "i64"), ("u8", "bool")]
        for ta, tb in pairs:
            if op in SHIFT:
                a, b = rand_int(rng, ta, (6,), -20, 20), rand_int(rng, tb, (6,), 0, 6)
            elif op == "pow":
                a = rand_any(rng, ta, (6,), 1.5, -3, 3)
                b = rand_any(rng, tb, (6,), 1.5, 0, 4)
            else:
                a, b = rand_any(rng, ta, (6,), 3.0, -50, 50), rand_any(rng, tb, (6,), 3.0, -50, 50)
            emit("%s,%s mixed" % (ta, tb), a, b)
        # weak scalars (NEP 50): tensor op scalar and scalar op tensor
        for t in DTYPES:
            x = rand_any(rng, t, (3,), 3.0, -5, 5) if op not in SHIFT else rand_any(rng, t, (3,), 3.0, 0, 5)
            scalars = [("int", 2), ("float", 2.5), ("bool", True)]
            if op in SHIFT:
                scalars = [("int", 2), ("bool", True)]
            if op == "pow":
                scalars = [("int", 2), ("float", 0.5), ("bool", True), ("int", -1)]
            if t in ("f16", "bf16", "f32"):
                scalars.append(("float", 0.1))  # converted to the tensor's dtype first (NEP 50)
            commutative = op in ("add", "mul", "maximum", "minimum", "eq", "ne") + tuple(LOGICAL + BITWISE)
            for s in scalars:
                emit("%s tensor,%s scalar %s" % (t, s[0], fmt_scalar(s)), x, s)
                if not commutative or s[0] == "int":
                    emit("%s %s scalar,tensor %s" % (t, s[0], fmt_scalar(s)), s, x)
        # an int scalar that does not fit the tensor's dtype: NumPy 2 raises OverflowError
        if op in ("add", "mul", "eq", "lt", "maximum"):
            emit("i8 tensor,int scalar 300 (out of range)", rand_int(rng, "i8", (3,)), ("int", 300))
            emit("u8 tensor,int scalar -1 (out of range)", rand_int(rng, "u8", (3,)), ("int", -1))
    return tab


# ================================================================ where / clip

def gen_ternary():
    tab = Table("ternary", """
where(cond, a, b) and clip(x, lo, hi); weak scalars via 'arg'.""")
    rng = np.random.default_rng(seed_of("where"))

    def where_case(tag, c, a, b):
        ins = [(n, v) for n, v in (("c", c), ("a", a), ("b", b)) if isinstance(v, V)]
        args = [n if isinstance(v, V) else v for n, v in (("c", c), ("a", a), ("b", b))]
        t = common_dtype([a, b])
        if not any(isinstance(o, V) and o.t == "bf16" for o in (a, b)):
            nt = TAG[np.where(np_operand(c), np_operand(a), np_operand(b)).dtype]
            assert nt == t, (tag, nt, t)
        ca, cb = cast_operand(a, t), cast_operand(b, t)
        cc = np_operand(c)
        cond = (cc != 0) if isinstance(cc, np.ndarray) else bool(cc)  # NaN is true
        r = np.where(cond, ca.a, cb.a)
        tab.case("where", tag, ins, args=args, outs=[V(t, r)])

    for t in DTYPES:
        c = rand_int(rng, "bool", (3, 4))
        a, b = rand_any(rng, t, (3, 4)), rand_any(rng, t, (3, 4))
        where_case("%s same shape" % t, c, a, b)
        where_case("%s broadcast cond [4], a [3,1], b [3,4]" % t, rand_int(rng, "bool", (4,)),
                   rand_any(rng, t, (3, 1)), b)
    for ct in ["i32", "f64", "u8", "f16"]:
        c = float_specials(ct) if is_float(ct) else int_specials(ct)
        n = c.a.size
        where_case("cond %s (nonzero is true, NaN is true)" % ct, c, rand_float(rng, "f32", (n,)),
                   rand_float(rng, "f32", (n,)))
    for ta, tb in [("i8", "u8"), ("i32", "f32"), ("f16", "bf16"), ("bool", "i16"), ("i64", "f64"), ("bf16", "i8")]:
        where_case("mixed %s,%s" % (ta, tb), rand_int(rng, "bool", (5,)), rand_any(rng, ta, (5,)),
                   rand_any(rng, tb, (5,)))
    for t in ["i8", "f32", "bool", "bf16", "u8"]:
        c = rand_int(rng, "bool", (5,))
        x = rand_any(rng, t, (5,))
        where_case("%s tensor, int scalar" % t, c, x, ("int", 0))
        where_case("%s float scalar, tensor" % t, c, ("float", 1.5), x)
        where_case("%s tensor, bool scalar" % t, c, x, ("bool", True))
    where_case("scalar cond", ("bool", True), rand_float(rng, "f64", (3,)), rand_float(rng, "f64", (3,)))
    where_case("scalar branches int,float", rand_int(rng, "bool", (4,)), ("int", 1), ("float", 2.5))

    # clip: minimum(maximum(x, lo), hi), NaN propagates; lo > hi gives hi
    rng = np.random.default_rng(seed_of("clip"))

    def clip_case(tag, x, lo, hi):
        ins = [(n, v) for n, v in (("x", x), ("lo", lo), ("hi", hi)) if isinstance(v, V)]
        args = [n if isinstance(v, V) else v for n, v in (("x", x), ("lo", lo), ("hi", hi))]
        t = common_dtype([x, lo, hi])
        cx, cl, ch = cast_operand(x, t), cast_operand(lo, t), cast_operand(hi, t)
        if not any(isinstance(o, V) and o.t == "bf16" for o in (x, lo, hi)):
            nr = np.clip(np_operand(x), np_operand(lo), np_operand(hi))
            assert TAG[nr.dtype] == t, (tag, nr.dtype, t)
        if is_float(t):
            r = np.minimum(np.maximum(cx.a, cl.a), ch.a)
            res = from_np(r, t) if t == "f64" else V(t, r)
        else:
            res = from_np(np.clip(cx.np(), cl.np(), ch.np()), t)
        tab.case("clip", tag, ins, args=args, outs=[res])

    for t in DTYPES:
        if t == "bool":
            continue  # kiln rejects clip of bool (NumPy allows it)
        if is_float(t):
            x = float_specials(t, [0.25, -0.75])
            n = x.a.size
            clip_case("%s special, scalar bounds -1, 2.5" % t, x, ("int", -1), ("float", 2.5))
            clip_case("%s special, tensor bounds" % t, x, vf(t, [-1.0] * n), vf(t, [2.0] * n))
        else:
            x = int_specials(t)
            clip_case("%s special, int bounds" % t, x, ("int", 0), ("int", 7))
        x = rand_any(rng, t, (3, 4))
        lo = rand_any(rng, t, (4,), 1.0, -3, 0)
        hi = rand_any(rng, t, (3, 1), 1.0, 0, 3)
        clip_case("%s broadcast lo [4], hi [3,1]" % t, x, lo, hi)
        clip_case("%s lo > hi gives hi" % t, rand_any(rng, t, (4,)), ("int", 5), ("int", 1))
    clip_case("f64 NaN bound", vf("f64", [1.0, 5.0, -3.0]), vf("f64", [NAN, 0.0, 0.0]), vf("f64", [2.0, NAN, 2.0]))
    clip_case("i8 x with f32 bounds (promotes)", rand_int(rng, "i8", (5,), -10, 10), vf("f32", [-2.5] * 5),
              vf("f32", [3.5] * 5))
    clip_case("i32 x with float scalar bound (f64)", rand_int(rng, "i32", (5,), -10, 10), ("float", -2.5),
              ("int", 4))
    return tab


# ================================================================ cast

def cast_values(src, dst):
    """Source values for a cast src -> dst whose NumPy result is defined."""
    if src == "bool":
        return V("bool", [False, True])
    if is_int(src):
        lo, hi = irange(src)
        c = [0, 1, -1, 2, 7, -7, 100, 127, 128, 255, 256, -128, -129, 300, 1000, 2047, 2049, 4097, 32767,
             65504, 65520, 70000, 2 ** 24 + 1, 2 ** 31 - 1, -2 ** 31, 2 ** 53 + 1, 2 ** 62 + 2 ** 40 + 1,
             lo, hi]
        return V(src, [v for v in dict.fromkeys(c) if lo <= v <= hi])
    fi = ml_dtypes.finfo(NPT[src]) if src == "bf16" else np.finfo(NPT[src])
    c = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.7, -0.7, 1.5, 2.5, -2.5, 3.999, -2.7, 100.9, 127.0, 127.9, 128.0,
         -128.0, -128.9, 255.0, 255.5, 256.0, 300.0, 2047.0, 2049.0, 32767.0, 65504.0, 65519.0, 65520.0, 70000.0,
         1e-8, 1e-5, 6e-8, 3e-8, 1.0 / 3.0, 2.0 ** 31 - 1, -2.0 ** 31, 2.0 ** 53 + 2, 2.0 ** 62, -2.0 ** 63,
         3.4e38, 3.5e38, 1e300, -1e300, 1e-300, 1e-40, 5e-324,
         1 + 2.0 ** -11 + 2.0 ** -40,   # f64 -> f16: direct rounding goes up, rounding via f32 ties to 1
         1 + 2.0 ** -8 + 2.0 ** -40,    # f64 -> bf16: likewise
         1 + 2.0 ** -24 + 2.0 ** -60,   # f64 -> f32 midpoint + epsilon
         INF, -INF, NAN, float(fi.max), -float(fi.max), float(fi.tiny), float(fi.smallest_subnormal)]
    vals = sorted(set(round_scalar(v, src) for v in c if not math.isnan(v)), key=lambda v: (v, math.copysign(1, v)))
    vals = [v for v in vals if not (v == 0 and math.copysign(1, v) < 0)] + [-0.0, NAN]
    if is_int(dst) or dst == "bool":
        if dst == "bool":
            return V(src, vals)
        lo, hi = irange(dst)
        ok = [v for v in vals if not math.isnan(v) and not math.isinf(v) and lo <= math.trunc(v) <= hi]
        return V(src, ok)
    return V(src, vals)


def cast_expected(x, dst):
    if dst == "bool":
        return V("bool", x.a != 0)  # NaN is true
    if is_float(dst):
        if is_int(x.t) or x.t == "bool":
            return V(dst, [round_frac(Fraction(int(v)), dst) if dst != "f64" or abs(int(v)) <= 2 ** 53
                           else float(np.int64(v).astype(np.float64)) for v in x.a.ravel()])
        return V(dst, round_to(x.a, dst))
    if is_float(x.t):
        return V(dst, np.trunc(x.a).astype(np.int64))
    return V(dst, x.np().astype(NPT[dst]).astype(np.int64))  # int -> int: wraps (C cast)


def gen_cast():
    tab = Table("cast", """
cast(x, dtype) / x.astype(dtype) for every pair of dtypes: case cast <src>-><dst>.
float -> int: truncation toward zero; NaN/inf/out-of-range skipped (undefined in NumPy).
int -> int wraps; x -> bool is x != 0 (NaN is true); rounding to floats is to nearest even, once.""")
    for src in DTYPES:
        for dst in DTYPES:
            x = cast_values(src, dst)
            r = cast_expected(x, dst)
            # cross-check with NumPy / ml_dtypes where they round once
            if not (src == "bf16" or dst == "bf16"):
                n = x.np().astype(NPT[dst])
                if is_float(dst):
                    assert np.array_equal(n.astype(np.float64), r.a, equal_nan=True), (src, dst, x.a, n, r.a)
                else:
                    assert np.array_equal(n.astype(np.int64 if dst != "bool" else np.bool_), r.a), (src, dst)
            tab.case("cast", "%s->%s" % (src, dst), [("x", x)], attrs=[("dtype", dst)], outs=[r])
    return tab


# ================================================================ reductions

def red_axes(ndim, op=""):
    """(axes attr, numpy axis) pairs to test for a given rank."""
    out = [("all", None)]
    if ndim >= 1:
        out += [("0", 0), ("-1", -1)]
    if ndim >= 2:
        out += [("1", 1)]
    if ndim >= 3:
        out += [("0,2", (0, 2))]
        if op in ("sum", "max", "var", "mean", "logsumexp", "any"):
            out += [("-1,-3", (0, 2)), ("0,1,2", None), ("-", ())]
    return out


def reduce_expected(op, x, axis, keepdims, ddof=0):
    """Returns (V, scale or None)."""
    t = x.t
    kw = dict(axis=axis, keepdims=keepdims)
    if op in ("sum", "prod"):
        if is_float(t):
            f = np.sum if op == "sum" else np.prod
            r = f(x.a, **kw)
            scale = np.sum(np.abs(x.a), **kw) if op == "sum" else None
            return from_np(round_to(r, t), t), scale
        f = np.sum if op == "sum" else np.prod
        r = f(x.np(), dtype=np.int64, **kw)  # NumPy: int64 (uint64 for u8; kiln i64)
        nd = f(x.np(), **kw).dtype
        assert nd in (np.int64, np.uint64), nd
        return V("i64", r), None
    if op in ("max", "min"):
        f = np.max if op == "max" else np.min
        if is_float(t):
            return V(t, f(x.a, **kw)), None
        return from_np(f(x.np(), **kw), t), None
    if op in ("argmax", "argmin"):
        f = np.argmax if op == "argmax" else np.argmin
        r = f(x.a if is_float(t) else x.np(), axis=axis, keepdims=keepdims)
        return V("i64", r), None
    if op == "mean":
        out = t if is_float(t) else "f64"
        nd = TAG[np.mean(x.np() if t != "bf16" else np.zeros(2), **kw).dtype] if t != "bf16" else "bf16"
        assert nd == out, (t, nd)
        r = np.mean(x.f64(), **kw)
        return from_np(round_to(r, out), out), np.mean(np.abs(x.f64()), **kw)
    if op in ("all", "any"):
        f = np.all if op == "all" else np.any
        return V("bool", f(x.np() if t != "bf16" else x.a, **kw)), None
    if op in ("var", "std"):
        out = t if is_float(t) else "f64"
        if t != "bf16":
            assert TAG[getattr(np, op)(x.np(), **kw).dtype] == out
        r = getattr(np, op)(x.f64(), ddof=ddof, **kw)
        return from_np(round_to(r, out), out), None
    if op == "logsumexp":
        r = sp.logsumexp(x.f64(), axis=axis, keepdims=keepdims)
        scale = np.max(np.abs(np.where(np.isfinite(x.a), x.a, 0)), **kw) if x.a.size else None
        return from_np(round_to(r, t), t), scale
    raise KeyError(op)


def gen_reduce():
    tab = Table("reduce", """
Reductions: case <op> <dtype> <shape> axes=<axes> keepdims=<0|1> [<what>].
attr axes: all | list | '-' (the empty list: reduces nothing). sum/prod of
ints and bool give i64; mean/var/std of ints and bool give f64.""")
    base_ops = ["sum", "prod", "max", "min", "mean", "all", "any", "argmax", "argmin"]
    for op in base_ops:
        rng = np.random.default_rng(seed_of("reduce-" + op))
        for t in DTYPES:
            if op == "prod":
                xs = {1: rand_any(rng, t, (6,), 1.2, -3, 3), 2: rand_any(rng, t, (3, 4), 1.2, -3, 3),
                      3: rand_any(rng, t, (2, 3, 4), 1.2, -2, 2)}
            elif op in ("sum", "mean"):
                xs = {1: rand_any(rng, t, (7,)), 2: rand_any(rng, t, (3, 4)), 3: rand_any(rng, t, (2, 3, 4))}
            else:  # order / truth only: short values (ties included)
                xs = {1: rand_short(rng, t, (7,), -9, 9), 2: rand_short(rng, t, (3, 4), -9, 9),
                      3: rand_short(rng, t, (2, 3, 4), -9, 9)}
            if op in ("argmax", "argmin", "max", "min") and not is_float(t) and t != "bool":
                xs[2] = V(t, np.array([[1, 5, 5, 2], [3, 3, 0, 3], [0, 0, 0, 0]]))  # ties: first wins
            for nd, x in xs.items():
                if nd == 3 and t in ("i8", "i16", "i64"):
                    continue  # rank 3 for the other dtypes only (table size)
                for axes_attr, axis in red_axes(nd, op):
                    if op in ("argmax", "argmin") and (isinstance(axis, tuple) or axes_attr in ("0,1,2", "-")):
                        continue  # NumPy's argmax takes one axis or None
                    for keep in (False, True):
                        if keep and axes_attr not in ("all", "1", "0,2"):
                            continue
                        r, scale = reduce_expected(op, x, axis, keep)
                        tab.case(op, "%s %s axes=%s keepdims=%d" % (t, fmt_shape(x.shape), axes_attr, keep),
                                 [("x", x)], attrs=[("axes", axes_attr), ("keepdims", int(keep))],
                                 outs=[r], scale=scale)
            if is_float(t):
                x = vf(t, [[1.0, NAN, 3.0, NAN], [INF, -INF, 2.0, 0.0], [-INF, -1.0, -INF, 5.0],
                           [0.0, -0.0, 0.0, -0.0]])
                for axes_attr, axis in [("all", None), ("1", 1), ("0", 0)]:
                    if op in ("prod",) and axes_attr == "all":
                        pass
                    r, scale = reduce_expected(op, x, axis, False)
                    tab.case(op, "%s special (nan/inf) axes=%s" % (t, axes_attr), [("x", x)],
                             attrs=[("axes", axes_attr), ("keepdims", 0)], outs=[r], scale=scale)
            if t in ("f16", "bf16") and op in ("sum", "mean"):
                # accumulation must not round to the 16-bit format at each step (NumPy accumulates
                # f16 in float: 60000 + 60000 - 60000 is 60000, not inf; 256 + 1 + ... is not stuck at 256)
                x = vf(t, [60000.0, 60000.0, -60000.0, 4.0] if t == "f16" else [256.0] + [1.0] * 8)
                r, scale = reduce_expected(op, x, None, False)
                tab.case(op, "%s accumulation precision" % t, [("x", x)], attrs=[("axes", "all"), ("keepdims", 0)],
                         outs=[r], scale=scale)
            if is_int(t) and op in ("sum", "prod"):
                lo, hi = irange(t)
                x = V(t, [hi, hi, hi, lo, 2] if op == "sum" else [hi, hi, hi, hi, hi, lo])
                r, _ = reduce_expected(op, x, None, False)
                tab.case(op, "%s extremes (i64 accumulation)" % t, [("x", x)],
                         attrs=[("axes", "all"), ("keepdims", 0)], outs=[r])
        # int64 wrap-around
        if op in ("sum", "prod"):
            x = V("i64", [2 ** 62, 2 ** 62, 2 ** 62, 3] if op == "sum" else [2 ** 40, 2 ** 30, 3, 5])
            r, _ = reduce_expected(op, x, None, False)
            tab.case(op, "i64 overflow wraps", [("x", x)], attrs=[("axes", "all"), ("keepdims", 0)], outs=[r])
        # empty reductions with an identity
        if op in ("sum", "prod", "all", "any", "mean"):
            for t in ["f32", "i32", "bool"]:
                x = rand_any(rng, t, (0, 3))
                r, _ = reduce_expected(op, x, 0, False)
                tab.case(op, "%s empty [0,3] axes=0" % t, [("x", x)], attrs=[("axes", "0"), ("keepdims", 0)],
                         outs=[r])
                x = rand_any(rng, t, (2, 0))
                r, _ = reduce_expected(op, x, 1, True)
                tab.case(op, "%s empty [2,0] axes=1 keepdims" % t, [("x", x)],
                         attrs=[("axes", "1"), ("keepdims", 1)], outs=[r])
        # unknown dims
        x = rand_any(rng, "f64", (3, 5)) if op not in ("all", "any") else rand_any(rng, "i32", (3, 5), 1, -1, 1)
        for axes_attr, axis in [("all", None), ("1", 1)]:
            r, scale = reduce_expected(op, x, axis, False)
            tab.case(op, "%s [3,5] dyn axes=%s" % (x.t, axes_attr), [("x", x)],
                     attrs=[("axes", axes_attr), ("keepdims", 0), ("dyn", 1)], outs=[r], scale=scale)

    # var / std
    for op in ["var", "std"]:
        rng = np.random.default_rng(seed_of("reduce-" + op))
        for t in DTYPES:
            loc = 10.0 if t in ("f32", "f64") else 0.0
            x3 = vf(t, rng.standard_normal((2, 3, 4)) * 2 + loc) if is_float(t) else rand_any(rng, t, (2, 3, 4))
            x2 = vf(t, rng.standard_normal((3, 5)) * 2 + loc) if is_float(t) else rand_any(rng, t, (3, 5))
            for x in ((x2, x3) if t in ("f64", "f32", "f16", "i32", "bf16") else (x2,)):
                for axes_attr, axis in red_axes(x.a.ndim, op):
                    if axes_attr == "-":
                        continue
                    for ddof in (0, 1):
                        for keep in (False, True):
                            if keep and axes_attr not in ("all", "1"):
                                continue
                            if ddof == 1 and x.a.ndim == 3 and axes_attr not in ("all", "0,2", "-1"):
                                continue
                            r, _ = reduce_expected(op, x, axis, keep, ddof)
                            tab.case(op, "%s %s axes=%s keepdims=%d ddof=%d" % (t, fmt_shape(x.shape), axes_attr,
                                                                                 keep, ddof),
                                     [("x", x)], attrs=[("axes", axes_attr), ("keepdims", int(keep)),
                                                        ("ddof", ddof)], outs=[r])
            for ddof in (0, 1):  # unknown dims: the count is computed at run time
                r, _ = reduce_expected(op, x2, 1, False, ddof)
                tab.case(op, "%s [3,5] dyn axes=1 ddof=%d" % (t, ddof), [("x", x2)],
                         attrs=[("axes", "1"), ("keepdims", 0), ("ddof", ddof), ("dyn", 1)], outs=[r])
                r, _ = reduce_expected(op, x2, None, False, ddof)
                tab.case(op, "%s [3,5] dyn axes=all ddof=%d" % (t, ddof), [("x", x2)],
                         attrs=[("axes", "all"), ("keepdims", 0), ("ddof", ddof), ("dyn", 1)], outs=[r])
        x = vf("f64", [[2.0, 2.0, 2.0], [1.0, NAN, 3.0], [INF, 1.0, 2.0]])
        r, _ = reduce_expected(op, x, 1, False, 0)
        tab.case(op, "f64 constant/nan/inf rows axes=1", [("x", x)], attrs=[("axes", "1"), ("keepdims", 0),
                                                                            ("ddof", 0)], outs=[r])
        x = vf("f64", [1.0, 2.0])
        r, _ = reduce_expected(op, x, None, False, 2)
        tab.case(op, "f64 ddof = N (divides by 0)", [("x", x)], attrs=[("axes", "all"), ("keepdims", 0),
                                                                         ("ddof", 2)], outs=[r])

    # logsumexp / softmax / log_softmax (floats)
    rng = np.random.default_rng(seed_of("reduce-logsumexp"))
    for t in FLOATS:
        x2 = rand_float(rng, t, (3, 5), 2.0)
        x3 = rand_float(rng, t, (2, 3, 4), 2.0)
        for x in (x2, x3):
            for axes_attr, axis in red_axes(x.a.ndim, "logsumexp"):
                if axes_attr == "-":
                    continue
                for keep in (False, True):
                    r, scale = reduce_expected("logsumexp", x, axis, keep)
                    tab.case("logsumexp", "%s %s axes=%s keepdims=%d" % (t, fmt_shape(x.shape), axes_attr, keep),
                             [("x", x)], attrs=[("axes", axes_attr), ("keepdims", int(keep))], outs=[r],
                             scale=scale)
        big = 60000.0 if t == "f16" else 1000.0
        xs = vf(t, [[big, big - 1, big - 2], [-INF, -INF, -INF], [-INF, 0.0, 1.0], [INF, 1.0, 2.0], [NAN, 1.0, 2.0],
                    [INF, -INF, 0.0], [-big, -big, -big]])
        r, scale = reduce_expected("logsumexp", xs, 1, False)
        tab.case("logsumexp", "%s special rows axes=1" % t, [("x", xs)], attrs=[("axes", "1"), ("keepdims", 0)],
                 outs=[r], scale=scale)
        r, scale = reduce_expected("logsumexp", x2, 1, False)
        tab.case("logsumexp", "%s [3,5] dyn axes=1" % t, [("x", x2)],
                 attrs=[("axes", "1"), ("keepdims", 0), ("dyn", 1)], outs=[r], scale=scale)

        for op in ("softmax", "log_softmax"):
            f = sp.softmax if op == "softmax" else sp.log_softmax
            cases = [(x2, -1), (x2, 0), (x3, 1), (x3, -1), (x3, 0)]
            for x, axis in cases:
                xf = x.f64()
                r = f(xf, axis=axis)
                m = np.max(xf, axis=axis, keepdims=True)
                lse = sp.logsumexp(xf, axis=axis, keepdims=True)
                scale = r * (1 + np.abs(xf - m)) if op == "softmax" else np.abs(xf) + np.abs(lse)
                tab.case(op, "%s %s axis=%d" % (t, fmt_shape(x.shape), axis), [("x", x)], attrs=[("axis", axis)],
                         outs=[from_np(round_to(r, t), t)], scale=scale)
            # stability and -inf entries (rows with only finite maxima)
            xs = vf(t, [[big, big - 1, big - 2], [-INF, 0.0, 1.0], [-big, -big, -big], [0.0, 0.0, 0.0]])
            xf = xs.f64()
            r = f(xf, axis=1)
            m = np.max(xf, axis=1, keepdims=True)
            lse = sp.logsumexp(xf, axis=1, keepdims=True)
            fin = np.where(np.isfinite(xf), xf, 0)
            scale = np.abs(r) * (1 + np.abs(fin - m)) if op == "softmax" else np.abs(fin) + np.abs(lse)
            tab.case(op, "%s large / -inf entries axis=1" % t, [("x", xs)], attrs=[("axis", 1)],
                     outs=[from_np(round_to(r, t), t)], scale=scale)
    return tab


# ================================================================ linear algebra

def product_expected(fn, a, b, absfn=None):
    """fn on a, b cast to their common dtype; float results rounded once."""
    t = promote(a.t, b.t)
    ca, cb = cast_operand(a, t), cast_operand(b, t)
    if is_float(t):
        r = fn(ca.a, cb.a)
        scale = fn(np.abs(ca.a), np.abs(cb.a))
        return from_np(round_to(r, t), t), scale
    r = fn(ca.np(), cb.np())  # integer products wrap in the dtype (NumPy's loops)
    if a.t != "bf16" and b.t != "bf16":
        assert TAG[np.asarray(fn(a.np(), b.np())).dtype] == t
    return from_np(np.asarray(r).astype(NPT[t]), t), None


def gen_linalg():
    tab = Table("linalg", """
matmul / dot / outer / tensordot: case <op> <dtypes> <shapes>. bool operands
are skipped (kiln rejects them). 'scale' is |a| op |b|.""")
    rng = np.random.default_rng(seed_of("linalg"))
    mm_shapes = [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((2, 4), (4, 3)), ((2, 3, 4), (4, 5)),
                 ((2, 1, 3, 4), (3, 4, 2)), ((3, 4), (2, 4, 2)), ((1, 1), (1, 1)), ((2, 0), (0, 3))]
    for t in DTYPES:
        if t == "bool":
            continue
        for sa, sb in mm_shapes:
            a, b = rand_any(rng, t, sa, 1.5, -4, 4), rand_any(rng, t, sb, 1.5, -4, 4)
            r, scale = product_expected(np.matmul, a, b)
            tab.case("matmul", "%s %sx%s" % (t, fmt_shape(sa), fmt_shape(sb)), [("a", a), ("b", b)], outs=[r],
                     scale=scale)
        a, b = rand_any(rng, t, (3, 4), 1.5, -4, 4), rand_any(rng, t, (4, 2), 1.5, -4, 4)
        r, scale = product_expected(np.matmul, a, b)
        tab.case("matmul", "%s [3,4]x[4,2] method form" % t, [("a", a), ("b", b)], attrs=[("form", "method")],
                 outs=[r], scale=scale)
        for sa, sb in [((4,), (4,)), ((2, 4), (4, 3)), ((3,), (3, 2)), ((2, 3, 4), (4, 2)), ((2, 3, 4), (4,)),
                       ((2, 3, 4), (5, 4, 2)), ((), (3,)), ((2, 2), ())]:
            a, b = rand_any(rng, t, sa, 1.5, -4, 4), rand_any(rng, t, sb, 1.5, -4, 4)
            r, scale = product_expected(np.dot, a, b)
            tab.case("dot", "%s %s.%s" % (t, fmt_shape(sa), fmt_shape(sb)), [("a", a), ("b", b)], outs=[r],
                     scale=scale)
        for sa, sb in [((3,), (4,)), ((2, 2), (3,))]:
            a, b = rand_any(rng, t, sa, 1.5, -4, 4), rand_any(rng, t, sb, 1.5, -4, 4)
            r, _ = product_expected(np.outer, a, b)
            tab.case("outer", "%s %s,%s" % (t, fmt_shape(sa), fmt_shape(sb)), [("a", a), ("b", b)], outs=[r])
        for sa, sb, n in [((2, 3, 4), (3, 4, 5), 2), ((3, 4), (4, 2), 1), ((2, 3), (4,), 0), ((3, 4), (3, 4), 2)]:
            a, b = rand_any(rng, t, sa, 1.5, -4, 4), rand_any(rng, t, sb, 1.5, -4, 4)
            r, scale = product_expected(lambda x, y: np.tensordot(x, y, n), a, b)
            tab.case("tensordot", "%s %s,%s n=%d" % (t, fmt_shape(sa), fmt_shape(sb), n), [("a", a), ("b", b)],
                     attrs=[("n", n)], outs=[r], scale=scale)
        for sa, sb, aa, bb in [((2, 3, 4), (4, 3, 5), (1, 2), (1, 0)), ((3, 4), (5, 3), (0,), (1,)),
                               ((2, 3, 4), (2, 5), (-3,), (0,))]:
            a, b = rand_any(rng, t, sa, 1.5, -4, 4), rand_any(rng, t, sb, 1.5, -4, 4)
            r, scale = product_expected(lambda x, y: np.tensordot(x, y, (aa, bb)), a, b)
            tab.case("tensordot", "%s %s,%s axes=%s/%s" % (t, fmt_shape(sa), fmt_shape(sb), aa, bb),
                     [("a", a), ("b", b)], attrs=[("axes_a", ints_attr(aa)), ("axes_b", ints_attr(bb))], outs=[r],
                     scale=scale)
    # integer overflow wraps; mixed dtypes promote; special values; unknown dims
    a = V("i8", [[100, 100], [-128, 127]])
    b = V("i8", [[2, 1], [1, 3]])
    r, _ = product_expected(np.matmul, a, b)
    tab.case("matmul", "i8 overflow wraps", [("a", a), ("b", b)], outs=[r])
    for ta, tb in [("i32", "f32"), ("i8", "u8"), ("f16", "bf16"), ("bf16", "f32"), ("u8", "f64"), ("i16", "f16")]:
        a, b = rand_any(rng, ta, (2, 3), 1.5, -4, 4), rand_any(rng, tb, (3, 2), 1.5, -4, 4)
        r, scale = product_expected(np.matmul, a, b)
        tab.case("matmul", "mixed %s@%s" % (ta, tb), [("a", a), ("b", b)], outs=[r], scale=scale)
        r, scale = product_expected(np.dot, a, b)
        tab.case("dot", "mixed %s.%s" % (ta, tb), [("a", a), ("b", b)], outs=[r], scale=scale)
    a = vf("f64", [[1.0, INF], [NAN, 1.0], [0.0, 1.0]])
    b = vf("f64", [[1.0, 0.0], [2.0, -1.0]])
    r, scale = product_expected(np.matmul, a, b)
    tab.case("matmul", "f64 inf/nan", [("a", a), ("b", b)], outs=[r], scale=scale)
    for t in ["f64", "f32", "i64"]:
        a, b = rand_any(rng, t, (3, 4)), rand_any(rng, t, (4, 2))
        r, scale = product_expected(np.matmul, a, b)
        tab.case("matmul", "%s [3,4]x[4,2] dyn" % t, [("a", a), ("b", b)], attrs=[("dyn", 1)], outs=[r], scale=scale)
        a, b = rand_any(rng, t, (2, 3, 4)), rand_any(rng, t, (4, 3, 5))
        r, scale = product_expected(lambda x, y: np.tensordot(x, y, ((1, 2), (1, 0))), a, b)
        tab.case("tensordot", "%s [2,3,4],[4,3,5] axes=1,2/1,0 dyn" % t, [("a", a), ("b", b)],
                 attrs=[("axes_a", "1,2"), ("axes_b", "1,0"), ("dyn", 1)], outs=[r], scale=scale)
    return tab


# ================================================================ shapes

def gen_shape():
    tab = Table("shape", """
Shape ops (values are copied exactly): reshape transpose expand_dims squeeze
broadcast_to concatenate stack split flip.""")
    rng = np.random.default_rng(seed_of("shape"))
    dts = ["f32", "i64", "bool", "bf16", "u8", "f16", "i8", "f64", "i16", "i32"]

    def x_of(t, shape):
        return rand_short(rng, t, shape)

    for i, t in enumerate(dts):
        x = x_of(t, (2, 3, 4))
        for shp in [(6, 4), (-1,), (4, -1, 2), (2, 12), (24,), (1, 2, 1, 12), (2, 3, 4)]:
            tab.case("reshape", "%s [2,3,4]->%s" % (t, shp), [("x", x)], attrs=[("shape", ints_attr(shp))],
                     outs=[V(t, x.a.reshape(shp))])
        tab.case("reshape", "%s method form" % t, [("x", x)], attrs=[("shape", "3,-1"), ("form", "method")],
                 outs=[V(t, x.a.reshape(3, -1))])
        for perm in [None, (0, 2, 1), (2, 0, 1), (1, 0, 2), (-1, 0, 1)]:
            r = np.transpose(x.a, perm)
            tab.case("transpose", "%s perm=%s" % (t, perm), [("x", x)],
                     attrs=[("perm", ints_attr(perm))] if perm is not None else [], outs=[V(t, r)])
        tab.case("transpose", "%s .T() method form" % t, [("x", x)], attrs=[("form", "method")],
                 outs=[V(t, x.a.T)])
        x2 = x_of(t, (3, 4))
        for ax in [(0,), (1,), (2,), (-1,), (0, 2), (0, 1, 3), (-1, -4)]:
            r = np.expand_dims(x2.a, ax)
            tab.case("expand_dims", "%s [3,4] axes=%s" % (t, ax), [("x", x2)], attrs=[("axes", ints_attr(ax))],
                     outs=[V(t, r)])
        x1 = x_of(t, (1, 3, 1, 4, 1))
        for ax in [None, (0,), (2,), (-1,), (0, 4), (0, 2, 4)]:
            r = np.squeeze(x1.a, ax)
            tab.case("squeeze", "%s [1,3,1,4,1] axes=%s" % (t, ax), [("x", x1)],
                     attrs=[("axes", ints_attr(ax))] if ax is not None else [], outs=[V(t, r)])
        xb = x_of(t, (3, 1))
        for shp in [(3, 4), (2, 3, 5), (3, 1), (1, 3, 0)]:
            tab.case("broadcast_to", "%s [3,1]->%s" % (t, shp), [("x", xb)], attrs=[("shape", ints_attr(shp))],
                     outs=[V(t, np.broadcast_to(xb.a, shp))])
        x0 = x_of(t, ())
        tab.case("broadcast_to", "%s []->[2,3]" % t, [("x", x0)], attrs=[("shape", "2,3")],
                 outs=[V(t, np.broadcast_to(x0.a, (2, 3)))])
        a, b, c = x_of(t, (2, 3)), x_of(t, (1, 3)), x_of(t, (4, 3))
        tab.case("concatenate", "%s axis=0" % t, [("a", a), ("b", b), ("c", c)], attrs=[("axis", 0)],
                 outs=[V(t, np.concatenate([a.a, b.a, c.a], 0))])
        a2, b2 = x_of(t, (2, 3)), x_of(t, (2, 2))
        tab.case("concatenate", "%s axis=-1" % t, [("a", a2), ("b", b2)], attrs=[("axis", -1)],
                 outs=[V(t, np.concatenate([a2.a, b2.a], -1))])
        tab.case("concatenate", "%s single input" % t, [("a", a2)], attrs=[("axis", 1)], outs=[V(t, a2.a)])
        s1, s2, s3 = x_of(t, (2, 3)), x_of(t, (2, 3)), x_of(t, (2, 3))
        for ax in [0, 1, 2, -1, -3]:
            tab.case("stack", "%s 3x[2,3] axis=%d" % (t, ax), [("a", s1), ("b", s2), ("c", s3)],
                     attrs=[("axis", ax)], outs=[V(t, np.stack([s1.a, s2.a, s3.a], ax))])
        xs = x_of(t, (6, 4))
        for sec, ax in [(3, 0), (2, 1), (1, 0), (2, -1)]:
            parts = np.split(xs.a, sec, ax)
            tab.case("split", "%s [6,4] sections=%d axis=%d" % (t, sec, ax), [("x", xs)],
                     attrs=[("sections", sec), ("axis", ax)], outs=[V(t, p) for p in parts])
        for idx, ax in [((1, 4), 0), ((2, 2), 0), ((1, 3), 1), ((5,), 0), ((-2,), 0), ((0, 10), 0), ((3, 1), 0)]:
            parts = np.split(xs.a, list(idx), ax)
            tab.case("split", "%s [6,4] indices=%s axis=%d" % (t, idx, ax), [("x", xs)],
                     attrs=[("indices", ints_attr(idx)), ("axis", ax)], outs=[V(t, p) for p in parts])
        for ax in [None, (0,), (1,), (-1,), (0, 2), ()]:
            r = np.flip(x.a, ax) if ax != () else x.a
            tab.case("flip", "%s [2,3,4] axes=%s" % (t, ax), [("x", x)],
                     attrs=[("axes", ints_attr(ax))] if ax is not None else [], outs=[V(t, r)])
    # mixed dtypes promote
    for ta, tb in [("i8", "u8"), ("i32", "f32"), ("f16", "bf16"), ("bool", "i16"), ("bf16", "i64")]:
        a, b = x_of(ta, (2, 2)), x_of(tb, (1, 2))
        t = promote(ta, tb)
        if "bf16" not in (ta, tb):
            assert TAG[np.concatenate([a.np(), b.np()]).dtype] == t
        r = np.concatenate([cast_operand(a, t).a, cast_operand(b, t).a], 0)
        tab.case("concatenate", "mixed %s,%s" % (ta, tb), [("a", a), ("b", b)], attrs=[("axis", 0)], outs=[V(t, r)])
        a2 = x_of(ta, (2, 2))
        b2 = x_of(tb, (2, 2))
        r = np.stack([cast_operand(a2, t).a, cast_operand(b2, t).a], 1)
        tab.case("stack", "mixed %s,%s" % (ta, tb), [("a", a2), ("b", b2)], attrs=[("axis", 1)], outs=[V(t, r)])
    # unknown dims
    x = x_of("f64", (3, 4))
    tab.case("reshape", "f64 [3,4] dyn ->-1,2", [("x", x)], attrs=[("shape", "-1,2"), ("dyn", 1)],
             outs=[V("f64", x.a.reshape(-1, 2))])
    tab.case("transpose", "f64 [3,4] dyn", [("x", x)], attrs=[("dyn", 1)], outs=[V("f64", x.a.T)])
    tab.case("flip", "f64 [3,4] dyn axes=1", [("x", x)], attrs=[("axes", "1"), ("dyn", 1)],
             outs=[V("f64", x.a[:, ::-1])])
    tab.case("concatenate", "f64 dyn axis=0", [("a", x), ("b", x)], attrs=[("axis", 0), ("dyn", 1)],
             outs=[V("f64", np.concatenate([x.a, x.a]))])
    parts = np.split(x.a, [1, 3], 0)
    tab.case("split", "f64 [3,4] dyn indices=1,3", [("x", x)], attrs=[("indices", "1,3"), ("axis", 0), ("dyn", 1)],
             outs=[V("f64", p) for p in parts])
    return tab


# ================================================================ indexing

def slices_attr(sl):
    def one(s):
        a = "" if s.start is None else str(s.start)
        b = "" if s.stop is None else str(s.stop)
        c = "" if s.step is None else str(s.step)
        return "%s:%s:%s" % (a, b, c)
    return ",".join(one(s) for s in sl)


def items_attr(items):
    out = []
    for it in items:
        if isinstance(it, slice):
            out.append(slices_attr([it]))
        elif isinstance(it, str):
            out.append("@" + it)
        else:
            out.append(str(it))
    return ",".join(out)


def gen_index():
    tab = Table("index", """
Indexing: slice(x, slices), x[items] (operator[]), take(x, idx, axis),
set_subtensor / inc_subtensor through a slice, x[items] or take (attr via).
With an index array, inc accumulates repeated indices (np.add.at) and set
keeps the last value. Values set into an integer tensor are cast to it.""")
    rng = np.random.default_rng(seed_of("index"))
    S = slice
    slice_sets = [
        [S(1, 3, None)], [S(None, None, -1)], [S(-1, None, -2)], [S(-3, -1, None)], [S(None, None, 2), S(1, None, None)],
        [S(10, None, None)], [S(-10, 2, None)], [S(None, None, -1), S(None, None, -1), S(1, 3, None)],
        [S(2, 0, -1), S(None, None, 3)], [S(0, 100, None)], [S(1, 1, None)], [S(None, -4, -1)], [S(-100, 100, 2)],
    ]
    for t in ["f32", "i64", "bool", "bf16", "u8", "f64", "i8", "f16", "i16", "i32"]:
        x = rand_short(rng, t, (4, 5, 3))
        full = t in ("f32", "i64", "bool", "bf16")
        for sl in (slice_sets if full else slice_sets[:5]):
            tab.case("slice", "%s [4,5,3] %s" % (t, slices_attr(sl)), [("x", x)],
                     attrs=[("slices", slices_attr(sl))], outs=[V(t, x.a[tuple(sl)])])
        for items in [[2], [-1], [1, S(0, 3, None)], [-2, -1], [S(None, None, -1), 0], [S(1, 3, None), S(None, None, 2), -1],
                      [3, 4, 2], [0, S(None, None, -2)]]:
            tab.case("index", "%s [4,5,3] x[%s]" % (t, items_attr(items)), [("x", x)],
                     attrs=[("items", items_attr(items))], outs=[V(t, x.a[tuple(items)])])
        for it in (["i64", "i32", "i8", "u8"] if full else ["i64"]):
            for ax in [0, 2, -1] if it in ("i64", "i32") and full else [0]:
                n = x.shape[ax]  # in-range indices, negative ones from -n (NumPy raises beyond)
                idx = V(it, [2, 0, 3, 0] if it == "u8" else [2, -1, 0, -n, n - 1, n - 1, -2])
                r = np.take(x.a, idx.a, axis=ax)
                tab.case("take", "%s [4,5,3] idx %s axis=%d" % (t, it, ax), [("x", x), ("idx", idx)],
                         attrs=[("axis", ax)], outs=[V(t, r)])
        idx2 = V("i64", [[1, -1], [0, 2]])
        r = np.take(x.a, idx2.a % 5, axis=1)
        tab.case("take", "%s [4,5,3] 2-D idx axis=1" % t, [("x", x), ("idx", idx2)], attrs=[("axis", 1)],
                 outs=[V(t, r)])
        idx0 = V("i32", -2)
        tab.case("take", "%s [4,5,3] 0-d idx axis=0" % t, [("x", x), ("idx", idx0)], attrs=[("axis", 0)],
                 outs=[V(t, np.take(x.a, 2, axis=0))])
        idx = V("i64", [3, -1, 0])
        tab.case("index", "%s [4,5,3] x[:, idx]" % t, [("x", x), ("idx", idx)], attrs=[("items", ":,@idx")],
                 outs=[V(t, x.a[:, idx.a % 5])])
        tab.case("index", "%s [4,5,3] x[1:3, :, idx]" % t, [("x", x), ("idx", V("i64", [2, 0]))],
                 attrs=[("items", "1:3:,:,@idx")], outs=[V(t, x.a[1:3, :, [2, 0]])])

    # set_subtensor / inc_subtensor
    def upd(x, key_fn, val, inc, t):
        """key_fn(y) assigns/increments in numpy; arith for floats in f64 then rounded."""
        y = x.a.copy() if is_float(t) else x.np().copy()
        key_fn(y, val, inc)
        if is_float(t):
            return V(t, round_to(y, t))
        return from_np(y, t)

    def value_of(v, t):
        """Value operand (V or weak scalar) as the tensor's dtype (kiln casts it; NumPy's assignment casts)."""
        if isinstance(v, V):
            if is_float(t):
                return round_to(v.f64(), t)
            return (np.trunc(v.f64()) if is_float(v.t) else v.a).astype(NPT[t])
        kind, val = v
        return round_scalar(val, t) if is_float(t) else np.asarray(int(val)).astype(NPT[t])

    for t in ["f64", "f32", "i32", "i8", "u8", "bf16", "f16", "i64", "bool", "i16"]:
        x = rand_any(rng, t, (4, 5), 3.0, -10, 10) if not is_float(t) or t in ("f64", "f32") else \
            vf(t, rng.integers(-8, 8, (4, 5)) / 2.0)
        small = (lambda s: vf(t, rng.integers(-8, 8, s) / 2.0)) if is_float(t) else (lambda s: rand_any(rng, t, s, 3.0, -10, 10))
        if t in ("f64", "f32"):
            small = lambda s: rand_float(rng, t, s)  # noqa: E731
        cases = []
        # (name, attrs, inputs-besides-x, value spec, numpy key)
        cases.append(("slice rows 1:3", [("via", "slice"), ("slices", "1:3:")], [], small((2, 5)), (S(1, 3),)))
        cases.append(("slice ::-2 cols, value broadcast [5]->[2,5]", [("via", "slice"), ("slices", "::-2")], [], small((5,)),
                      (S(None, None, -2),)))
        cases.append(("slice [:, 1:4:2] value [4,1]", [("via", "slice"), ("slices", ":,1:4:2")], [], small((4, 1)),
                      (S(None), S(1, 4, 2))))
        cases.append(("slice [-1:] weak int scalar", [("via", "slice"), ("slices", "-1::")], [], ("int", 1), (S(-1, None),)))
        cases.append(("index x[1] row value [5]", [("via", "index"), ("items", "1")], [], small((5,)), (1,)))
        cases.append(("index x[-1, 2] scalar value", [("via", "index"), ("items", "-1,2")], [], small(()), (-1, 2)))
        cases.append(("index x[1:3, -1] value [2]", [("via", "index"), ("items", "1:3:,-1")], [], small((2,)),
                      (S(1, 3), -1)))
        cases.append(("index x[2] weak scalar", [("via", "index"), ("items", "2")], [], ("bool", True) if t == "bool" else ("int", 3),
                      (2,)))
        for name, attrs, _, val, key in cases:
            for inc in (False, True):
                if inc and t == "bool":
                    continue
                op = "inc_subtensor" if inc else "set_subtensor"
                vv = value_of(val, t)

                def kf(y, v, inc_, key=key):
                    if inc_:
                        y[key] += v
                    else:
                        y[key] = v
                r = upd(x, kf, vv, inc, t)
                ins = [("x", x)] + ([("y", val)] if isinstance(val, V) else [])
                args = ["x", "y" if isinstance(val, V) else val]
                tab.case(op, "%s [4,5] %s" % (t, name), ins, args=args, attrs=attrs, outs=[r])
        # take-based, repeated indices
        for idx_vals, ax, vshape in [([1, 3, 1, -4, 1], 0, (5, 5)), ([4, 0, -1, 2], 1, (4, 4)), ([2, 2], 0, (5,)),
                                     ([[0, 1], [1, 0]], 0, (2, 2, 5))]:
            idx = V("i64", idx_vals)
            val = small(vshape)
            vv = value_of(val, t)
            for inc in (False, True):
                if inc and t == "bool":
                    continue
                op = "inc_subtensor" if inc else "set_subtensor"
                ii = np.asarray(idx_vals) % x.shape[ax]
                key = (S(None),) * ax + (ii,)

                def kf(y, v, inc_, key=key):
                    vb = np.broadcast_to(v, y[key].shape)
                    if inc_:
                        np.add.at(y, key, vb)
                    else:
                        # last wins: assign one index position at a time, in C order
                        flat = ii.ravel()
                        vflat = vb.reshape((y[key].shape[:ax]) + (flat.size,) + y[key].shape[ax + ii.ndim:])
                        for j, k in enumerate(flat):
                            sel = (S(None),) * ax + (k,)
                            y[sel] = vflat[(S(None),) * ax + (j,)]
                r = upd(x, kf, vv, inc, t)
                scale = None
                if inc and is_float(t):
                    ya = np.abs(x.f64())
                    np.add.at(ya, key, np.broadcast_to(np.abs(vv), ya[key].shape))
                    scale = ya
                tab.case(op, "%s [4,5] take idx=%s axis=%d" % (t, idx_vals, ax), [("x", x), ("idx", idx), ("y", val)],
                         args=["x", "idx", "y"], attrs=[("via", "take"), ("axis", ax)], outs=[r], scale=scale)
        # x[:, idx] (operator[] with an index array)
        idx = V("i32", [0, -1, 0])
        val = small((4, 3))
        vv = value_of(val, t)
        for inc in (False, True):
            if inc and t == "bool":
                continue
            op = "inc_subtensor" if inc else "set_subtensor"
            ii = np.asarray([0, 4, 0])
            y = x.a.copy() if is_float(t) else x.np().copy()
            if inc:
                np.add.at(y, (S(None), ii), vv)
            else:
                for j, k in enumerate(ii):
                    y[:, k] = np.asarray(vv)[:, j]
            r = V(t, round_to(y, t)) if is_float(t) else from_np(y, t)
            tab.case(op, "%s [4,5] x[:, idx] repeated" % t, [("x", x), ("idx", idx), ("y", val)], args=["x", "idx", "y"],
                     attrs=[("via", "index"), ("items", ":,@idx")], outs=[r])
    # a float value into an int tensor is cast (truncated), like NumPy's assignment
    x = V("i32", np.arange(6).reshape(2, 3))
    val = vf("f64", [2.7, -1.9, 100.5])
    y = x.np().copy()
    y[1] = val.a
    tab.case("set_subtensor", "i32 x[1] = f64 value (cast)", [("x", x), ("y", val)], args=["x", "y"],
             attrs=[("via", "index"), ("items", "1")], outs=[from_np(y, "i32")])
    # unknown dims
    x = rand_float(rng, "f64", (4, 5))
    y = x.a.copy()
    y[1:3] = 0.5
    tab.case("set_subtensor", "f64 [4,5] dyn slice 1:3 scalar", [("x", x)], args=["x", ("float", 0.5)],
             attrs=[("via", "slice"), ("slices", "1:3:"), ("dyn", 1)], outs=[V("f64", y)])
    tab.case("slice", "f64 [4,5] dyn ::-1,1:", [("x", x)], attrs=[("slices", "::-1,1::"), ("dyn", 1)],
             outs=[V("f64", x.a[::-1, 1:])])
    idx = V("i64", [-1, 0, -1])
    tab.case("take", "f64 [4,5] dyn idx axis=1", [("x", x), ("idx", idx)], attrs=[("axis", 1), ("dyn", 1)],
             outs=[V("f64", x.a[:, [4, 0, 4]])])
    return tab


# ================================================================ creation

def gen_create():
    tab = Table("create", """
Tensors without inputs (and *_like): fill zeros ones zeros_like ones_like
full_like arange eye.""")
    rng = np.random.default_rng(seed_of("create"))
    for t in DTYPES:
        for shp, val in [((2, 3), 2.0), ((4,), -1.0), ((), 0.5), ((0, 2), 1.0), ((3,), -0.0)]:
            if (is_int(t) or t == "bool") and (val < 0 and t == "u8"):
                continue
            nv = np.full(shp, val, dtype=NPT[t] if t != "bf16" else np.float64)
            r = V(t, round_to(nv, t)) if is_float(t) else from_np(nv, t)
            tab.case("fill", "%s %s value=%s" % (t, fmt_shape(shp), fmt_float(val)), [],
                     attrs=[("shape", ints_attr(shp)), ("value", fmt_float(val)), ("dtype", t)], outs=[r])
        if is_float(t):
            for val in [NAN, INF, 0.1, 1e10, 2.7]:
                r = V(t, round_to(np.full((2,), val), t))
                tab.case("fill", "%s value=%s" % (t, fmt_float(val)), [],
                         attrs=[("shape", "2"), ("value", fmt_float(val)), ("dtype", t)], outs=[r])
        else:
            for val in [2.7, -2.7, 1.0] if t != "u8" else [2.7, 1.0]:
                r = from_np(np.full((2,), val).astype(NPT[t]), t)
                tab.case("fill", "%s value=%s (truncated)" % (t, fmt_float(val)), [],
                         attrs=[("shape", "2"), ("value", fmt_float(val)), ("dtype", t)], outs=[r])
        for op, v in [("zeros", 0), ("ones", 1)]:
            nv = (np.zeros if v == 0 else np.ones)((2, 2), dtype=NPT[t] if t != "bf16" else np.float64)
            r = V(t, nv.astype(np.float64)) if is_float(t) else from_np(nv, t)
            tab.case(op, "%s [2,2]" % t, [], attrs=[("shape", "2,2"), ("dtype", t)], outs=[r])
        x = rand_any(rng, t, (2, 3))
        for op, v in [("zeros_like", 0.0), ("ones_like", 1.0)]:
            r = V(t, np.full((2, 3), v)) if is_float(t) else from_np(np.full((2, 3), v).astype(NPT[t]), t)
            tab.case(op, "%s" % t, [("x", x)], outs=[r])
            r2 = V("f32", np.full((2, 3), v))
            tab.case(op, "%s dtype=f32" % t, [("x", x)], attrs=[("dtype", "f32")], outs=[r2])
            tab.case(op, "%s dyn" % t, [("x", x)], attrs=[("dyn", 1)], outs=[r])
        for val in [2.5, -3.0, NAN]:
            if not is_float(t) and (math.isnan(val) or (t == "u8" and val < 0)):
                continue
            nv = np.full((2, 3), val)
            r = V(t, round_to(nv, t)) if is_float(t) else from_np(nv.astype(NPT[t]), t)
            tab.case("full_like", "%s value=%s" % (t, fmt_float(val)), [("x", x)], attrs=[("value", fmt_float(val))],
                     outs=[r])
        r = V("i16", np.full((2, 3), 7))
        tab.case("full_like", "%s value=7 dtype=i16" % t, [("x", x)], attrs=[("value", "7"), ("dtype", "i16")],
                 outs=[r])
    for start, stop, step, t in [(0, 10, 1, "i64"), (0, 10, 3, "i32"), (10, 0, -3, "i64"), (5, 0, 1, "i64"),
                                 (-3, 3, 1, "i8"), (0, 1, 0.1, "f64"), (0.5, 1.5, 0.1, "f64"), (0, 1, 0.1, "f32"),
                                 (1, -1, -0.25, "f64"), (0, 5, 1, "f16"), (0, 2, 0.5, "bf16"), (0, 5, 1.5, "f64"),
                                 (0, 300, 50, "u8"), (0, 5, 1, "i16"), (-1e-3, 1e-3, 5e-4, "f64")]:
        if t == "bf16":
            r = vf(t, np.arange(start, stop, step, dtype=np.float64))
        else:
            r = from_np(np.arange(start, stop, step, dtype=NPT[t]), t)
        tab.case("arange", "%s (%s,%s,%s)" % (t, start, stop, step), [],
                 attrs=[("start", fmt_float(start)), ("stop", fmt_float(stop)), ("step", fmt_float(step)), ("dtype", t)],
                 outs=[r])
    for n, m, k, t in [(3, None, 0, "f64"), (3, 4, 0, "f32"), (4, 3, 1, "i32"), (3, 3, -1, "bool"), (3, 3, 5, "f64"),
                       (2, 5, -1, "bf16"), (4, 2, 2, "f16"), (0, 3, 0, "f64"), (3, 3, -2, "u8"), (1, None, 0, "i64")]:
        r = np.eye(n, m, k, dtype=NPT[t] if t != "bf16" else np.float64)
        r = V(t, r.astype(np.float64)) if is_float(t) else from_np(r, t)
        attrs = [("n", n), ("k", k), ("dtype", t)]
        if m is not None:
            attrs.insert(1, ("m", m))
        tab.case("eye", "%s n=%d m=%s k=%d" % (t, n, m, k), [], attrs=attrs, outs=[r])
    return tab


# ================================================================ promotion

def write_promotion():
    """promotion.txt: one rule per line,
         promote <a> <b> <result>      tensor(a) + tensor(b) (np.result_type; bf16 per kiln, see above)
         weak <dtype> <bool|int|float> <result>   tensor op Python scalar under NEP 50
         float_fn <dtype> <result>     np.exp / np.sqrt of that dtype
         truediv <a> <b> <result>      tensor(a) / tensor(b)
         sum <dtype> <result>          np.sum (u8: kiln i64, NumPy uint64); prod likewise
         mean <dtype> <result>         np.mean; var/std likewise
         compare <a> <b> bool          comparisons give bool
         float_fn2 <a> <b> <result>    a binary float-only function (np.arctan2) of tensor(a), tensor(b);
                                       NumPy picks the first float loop both cast to safely, so
                                       arctan2(i8, u8) is f16, not float_fn(promote(i8, u8) = i16) = f32
    """
    lines = ["# kiln dtype-promotion table -- generated by tests/data/gen_op_tables.py; do not edit.",
             "# numpy %s, scipy %s, ml_dtypes %s" % (np.__version__, scipy.__version__, ml_dtypes.__version__)]
    lines += ["# " + l.strip() for l in write_promotion.__doc__.strip().splitlines()[1:]]
    lines.append("# Pairs with bf16: NumPy has no bf16 and ml_dtypes only promotes it with bool/i8/u8/f32/f64;")
    lines.append("# kiln's rule: f16+bf16 -> f32; bf16 with bool/i8/u8 -> bf16, i16 -> f32, i32/i64 -> f64.")
    lines.append("# ml_dtypes' answers are given in trailing comments where it has one.")
    lines.append("# weak bf16 with a Python float: ml_dtypes gives f32; kiln keeps bf16 (like f16).")
    n = 0
    for a in DTYPES:
        for b in DTYPES:
            r = promote(a, b)
            note = ""
            if "bf16" in (a, b):
                try:
                    note = "  # ml_dtypes: %s" % TAG.get(np.result_type(NPT[a], NPT[b]), "?")
                except Exception:
                    note = "  # ml_dtypes: no common dtype"
            else:
                assert r == TAG[(np.zeros(2, NPT[a]) + np.zeros(2, NPT[b])).dtype]
            lines.append("promote %s %s %s%s" % (a, b, r, note))
            n += 1
    for t in DTYPES:
        for kind in ("bool", "int", "float"):
            r = promote_weak(t, kind)
            if t != "bf16":
                val = {"bool": True, "int": 2, "float": 2.5}[kind]
                assert r == TAG[(np.zeros(2, NPT[t]) * val).dtype] == TAG[(val * np.zeros(2, NPT[t])).dtype]
            lines.append("weak %s %s %s" % (t, kind, r))
            n += 1
    for t in DTYPES:
        r = float_fn(t)
        if t != "bf16":
            assert r == TAG[np.sqrt(np.zeros(1, NPT[t])).dtype]
        lines.append("float_fn %s %s" % (t, r))
        n += 1
    for a in DTYPES:
        for b in DTYPES:
            c = promote(a, b)
            r = c if is_float(c) else "f64"
            if "bf16" not in (a, b):
                assert r == TAG[(np.ones(2, NPT[a]) / np.ones(2, NPT[b])).dtype]
            lines.append("truediv %s %s %s" % (a, b, r))
            lines.append("compare %s %s bool" % (a, b))
            if "bf16" in (a, b):
                f2 = float_fn(c)
            else:
                f2 = TAG[np.arctan2(np.zeros(1, NPT[a]), np.zeros(1, NPT[b])).dtype]
            lines.append("float_fn2 %s %s %s" % (a, b, f2))
            n += 3
    for t in DTYPES:
        for op in ("sum", "prod"):
            if is_float(t):
                r = t
            else:
                nd = getattr(np, op)(np.zeros(2, NPT[t])).dtype
                assert nd in (np.int64, np.uint64)
                r = "i64"  # u8: NumPy uint64, kiln has no uint64
            lines.append("%s %s %s" % (op, t, r))
            n += 1
        for op in ("mean", "var", "std"):
            r = t if is_float(t) else "f64"
            if t != "bf16":
                assert TAG[getattr(np, op)(np.zeros(2, NPT[t])).dtype] == r
            lines.append("%s %s %s" % (op, t, r))
            n += 1
    with open(os.path.join(OUT_DIR, "promotion.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return n


def main():
    vers = {"numpy": np.__version__, "scipy": scipy.__version__, "ml_dtypes": ml_dtypes.__version__,
            "mpmath": mpmath.__version__}
    if vers != EXPECTED_VERSIONS:
        print("warning: running under %s, the committed tables were made with %s" % (vers, EXPECTED_VERSIONS),
              file=sys.stderr)
    total = 0
    for gen in (gen_unary, gen_binary, gen_ternary, gen_cast, gen_reduce, gen_linalg, gen_shape, gen_index,
                gen_create):
        tab = gen()
        tab.write()
        total += tab.count
        print("%-8s %5d cases: %s" % (tab.name, tab.count, " ".join("%s=%d" % kv for kv in sorted(tab.per_op.items()))))
    n = write_promotion()
    print("promotion %d rules" % n)
    print("SciPy values replaced by mpmath (op, x, scipy, mpmath): %d" % len(REFINED))
    for r in sorted(set(REFINED)):
        print("  %s(%r): %r -> %r" % r)
    print("total %d cases" % total)


if __name__ == "__main__":
    main()
