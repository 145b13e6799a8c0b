#!/usr/bin/env bash
# Tests of the kilnc command-line tool (run by ctest as kilnc_cli):
#
#   bash tests/kilnc_test.sh PATH/TO/kilnc PATH/TO/tests/data
#
# Exits non-zero if any check fails. Needs bash and coreutils only (no
# Python, no NumPy): the expected results are committed files.
#
# Test data, in tests/data/text/ (the graphs for opt are written below):
#   affine.kiln            a hand-written graph, deliberately not in normal
#                          form (named refs, comments, spacing): y = x*2+1,
#                          x @ w with a shared w, and x > 0
#   affine.expected.kiln   its normal form (what `kilnc print` must write)
#   bad_op.kiln, mismatch.kiln
#                          graphs that must be rejected with a message
#   broadcast.kiln         a graph that parses but fails at run time on
#                          inputs of different lengths
#   sumdot.kiln            loss = sum(x @ w), for `kilnc grad`
#   *.npy                  made once with NumPy 2.4 (np.save, format 1.0):
#       import numpy as np
#       x = np.array([[1., 2., 3.], [4., 5., -6.]])
#       w = np.array([[1., 0.], [0., 1.], [2., -1.]])
#       np.save('x.npy', x); np.save('w.npy', w)
#       np.save('expected_y.npy', x * 2 + 1)
#       np.save('expected_output1.npy', x @ w)
#       np.save('expected_pos.npy', x > 0)
#       np.save('a3.npy', np.arange(3.)); np.save('b4.npy', np.arange(4.))
#       np.save('expected_grad_w.npy', x.T @ np.ones((2, 2)))  # d sum(x @ w) / d w
#     Every value is a small integer, exact in float64, so kilnc's result
#     files must equal NumPy's byte for byte (header included: kiln writes
#     the same .npy 1.0 header as NumPy).
set -u

if [ $# -ne 2 ]; then
  echo "usage: bash $0 PATH/TO/kilnc PATH/TO/tests/data" >&2
  exit 2
fi
KILNC=$1
DATA=$2/text
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failures=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run_kilnc ARGS...: runs kilnc, leaving the status in $rc and the output
# in $TMP/out and $TMP/err.
run_kilnc() {
  "$KILNC" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}

# expect_ok NAME ARGS...
expect_ok() {
  local name=$1
  shift
  checks=$((checks + 1))
  run_kilnc "$@"
  if [ "$rc" -ne 0 ]; then
    fail "$name: kilnc $* exited with $rc; stderr:"
    sed 's/^/    /' "$TMP/err" >&2
    return 1
  fi
  return 0
}

# expect_error NAME MESSAGE ARGS...: kilnc must exit with status 1 (not a
# crash), print nothing on stdout, and print "kilnc: error: " and MESSAGE
# (a fixed string) on stderr.
expect_error() {
  local name=$1 message=$2
  shift 2
  checks=$((checks + 1))
  run_kilnc "$@"
  if [ "$rc" -ne 1 ]; then
    fail "$name: kilnc $* exited with $rc, expected 1; stderr:"
    sed 's/^/    /' "$TMP/err" >&2
  elif ! grep -q '^kilnc: error: ' "$TMP/err"; then
    fail "$name: no 'kilnc: error: ' line on stderr:"
    sed 's/^/    /' "$TMP/err" >&2
  elif ! grep -qF -- "$message" "$TMP/err"; then
    fail "$name: stderr does not contain '$message':"
    sed 's/^/    /' "$TMP/err" >&2
  elif [ -s "$TMP/out" ]; then
    fail "$name: wrote to stdout on failure"
  fi
}

# same_file NAME ACTUAL EXPECTED
same_file() {
  checks=$((checks + 1))
  if [ ! -f "$2" ]; then
    fail "$1: $2 was not written"
  elif ! cmp -s "$2" "$3"; then
    fail "$1: $2 differs from $3"
    echo "    actual:" >&2
    od -A d -t x1 "$2" | sed 's/^/      /' >&2
    echo "    expected:" >&2
    od -A d -t x1 "$3" | sed 's/^/      /' >&2
  fi
}

# contains NAME FILE STRING
contains() {
  checks=$((checks + 1))
  grep -qF -- "$3" "$2" || {
    fail "$1: output does not contain '$3':"
    sed 's/^/    /' "$2" >&2
  }
}

# ---- help ----
expect_ok "--help" --help && {
  contains "--help lists print" "$TMP/out" "print"
  contains "--help lists run" "$TMP/out" "run"
  contains "--help has an example" "$TMP/out" "example:"
}
expect_ok "help run" help run && {
  contains "help run" "$TMP/out" "usage: kilnc run FILE"
  contains "help run" "$TMP/out" "--input NAME=PATH"
  contains "help run" "$TMP/out" "--output-dir DIR"
}
expect_ok "print --help" print --help && contains "print --help" "$TMP/out" "usage: kilnc print"
expect_ok "help" help && contains "help" "$TMP/out" "commands:"

# ---- print ----
expect_ok "print" print "$DATA/affine.kiln" && same_file "print normalises" "$TMP/out" "$DATA/affine.expected.kiln"
cp "$TMP/out" "$TMP/printed.kiln"
expect_ok "print is idempotent" print "$TMP/printed.kiln" && same_file "print is idempotent" "$TMP/out" "$DATA/affine.expected.kiln"
expect_ok "print from stdin" print - <"$DATA/affine.kiln" && same_file "print from stdin" "$TMP/out" "$DATA/affine.expected.kiln"
(cd "$DATA" && "$KILNC" print --locations affine.kiln >"$TMP/loc.txt" 2>&1)
checks=$((checks + 1))
[ $? -eq 0 ] || fail "print --locations failed"
contains "print --locations" "$TMP/loc.txt" '%5 = add(%3, %4) : f64[?,3] loc="affine.kiln":13'

# ---- run ----
OUT=$TMP/results/nested   # does not exist yet: run must create it
if expect_ok "run" run "$DATA/affine.kiln" --input x="$DATA/x.npy" --input "w=$DATA/w.npy" --output-dir "$OUT"; then
  same_file "run: named output y" "$OUT/y.npy" "$DATA/expected_y.npy"
  same_file "run: unnamed output 1" "$OUT/output1.npy" "$DATA/expected_output1.npy"
  same_file "run: bool output pos" "$OUT/pos.npy" "$DATA/expected_pos.npy"
  checks=$((checks + 1))
  [ "$(ls "$OUT" | wc -l)" -eq 3 ] || fail "run: expected exactly 3 files in $OUT, got: $(ls "$OUT")"
fi
# --input=NAME=PATH and --output-dir=DIR spellings, into an existing directory.
if expect_ok "run (= spellings)" run --input="x=$DATA/x.npy" --output-dir="$OUT" "$DATA/affine.kiln" --input="w=$DATA/w.npy"; then
  same_file "run (= spellings)" "$OUT/y.npy" "$DATA/expected_y.npy"
fi
# Without --output-dir the outputs are printed.
if expect_ok "run to stdout" run "$DATA/affine.kiln" --input x="$DATA/x.npy" --input w="$DATA/w.npy"; then
  contains "run to stdout" "$TMP/out" "y = "
  contains "run to stdout" "$TMP/out" "11."
  contains "run to stdout" "$TMP/out" "pos = "
fi

# ---- grad: the gradient graph, then evaluated by run ----
if expect_ok "grad" grad "$DATA/sumdot.kiln" --of loss --wrt w; then
  contains "grad" "$TMP/out" 'output "grad_w" = '
  cp "$TMP/out" "$TMP/sumdot_grad.kiln"
  if expect_ok "run the gradient graph" run "$TMP/sumdot_grad.kiln" --input x="$DATA/x.npy" --input w="$DATA/w.npy" \
      --output-dir "$TMP/grad"; then
    same_file "grad: grad_w" "$TMP/grad/grad_w.npy" "$DATA/expected_grad_w.npy"
  fi
fi
expect_error "grad: missing --wrt" "missing --wrt" grad "$DATA/sumdot.kiln" --of loss
expect_error "grad: unknown output" "no output named or numbered 'nope'" grad "$DATA/sumdot.kiln" --of nope --wrt w
expect_error "grad: unknown wrt" "no input or shared variable named 'q'" grad "$DATA/sumdot.kiln" --of loss --wrt q
expect_error "grad: non-scalar output" "must be a float scalar" grad "$DATA/affine.kiln" --of y --wrt x

# ---- opt: the rewrite pipeline; rules: the rule sets ----
cat >"$TMP/stab.kiln" <<'EOF2'
kiln.graph v1
%x = input "x" id=1 : f64[?,3]
%one = constant 1 : f64[]
%s = add(%one, %x) : f64[?,3]
%l = log(%s) : f64[?,3]
%d = sub(%x, %x) : f64[?,3]
output "l" = %l
output "d" = %d
EOF2
if expect_ok "opt" opt "$TMP/stab.kiln"; then
  contains "opt: log(1 + x) becomes log1p(x)" "$TMP/out" "log1p(%0)"
  contains "opt keeps the output names" "$TMP/out" 'output "d" = '
  checks=$((checks + 1))
  grep -q ' = log(\| = sub(' "$TMP/out" && fail "opt: log or sub left in the optimised graph:" && sed 's/^/    /' "$TMP/out" >&2
  cp "$TMP/out" "$TMP/stab.opt.kiln"
  expect_ok "opt output parses" print "$TMP/stab.opt.kiln"
  expect_ok "opt is idempotent" opt "$TMP/stab.opt.kiln" && same_file "opt is idempotent" "$TMP/out" "$TMP/stab.opt.kiln"
fi
if expect_ok "opt --strict-ieee" opt --strict-ieee "$TMP/stab.kiln"; then
  contains "opt --strict-ieee keeps x - x" "$TMP/out" "sub(%0, %0)"
fi
if expect_ok "opt --counts" opt "$TMP/stab.kiln" --counts; then
  contains "opt --counts: nodes" "$TMP/out" "# nodes: 5 before, 3 after"
  contains "opt --counts: ops" "$TMP/out" "# op log: 1 before, 0 after"
  contains "opt --counts: rules" "$TMP/out" "# fired log1p: 1"
  cp "$TMP/out" "$TMP/counts.kiln"
  expect_ok "opt --counts output parses" print "$TMP/counts.kiln"
fi
if expect_ok "opt --dump-after" opt "$TMP/stab.kiln" --dump-after canonicalize; then
  contains "opt --dump-after canonicalize" "$TMP/err" "# kiln IR after canonicalize"
  checks=$((checks + 1))
  grep -q "after stabilize" "$TMP/err" && fail "opt --dump-after canonicalize also dumped stabilize"
fi
if expect_ok "opt --dump-after all" opt "$TMP/stab.kiln" --dump-after=all; then
  for stage in canonicalize stabilize cleanup specialize; do
    contains "opt --dump-after all: $stage" "$TMP/err" "# kiln IR after $stage"
  done
fi
# The optimised gradient graph computes the same gradient.
if expect_ok "grad for opt" grad "$DATA/sumdot.kiln" --of loss --wrt w; then
  cp "$TMP/out" "$TMP/sumdot_grad.kiln"
  if expect_ok "opt the gradient graph" opt "$TMP/sumdot_grad.kiln"; then
    cp "$TMP/out" "$TMP/sumdot_grad.opt.kiln"
    if expect_ok "run the optimised gradient graph" run "$TMP/sumdot_grad.opt.kiln" --input x="$DATA/x.npy" \
        --input w="$DATA/w.npy" --output-dir "$TMP/grad_opt"; then
      same_file "opt: grad_w" "$TMP/grad_opt/grad_w.npy" "$DATA/expected_grad_w.npy"
    fi
  fi
fi
expect_ok "help opt" help opt && contains "help opt" "$TMP/out" "usage: kilnc opt FILE"
expect_error "opt without FILE" "opt: missing FILE" opt
expect_error "opt: unknown stage" "unknown stage 'canonicalise'" opt "$TMP/stab.kiln" --dump-after canonicalise
expect_error "opt: unknown option" "opt: unknown option '--fast'" opt "$TMP/stab.kiln" --fast

if expect_ok "rules" rules; then
  checks=$((checks + 1))
  grep -Eq '^canonicalize +add_zero +add\(x, 0\) -> x$' "$TMP/out" || fail "rules: no add_zero line in canonicalize"
  checks=$((checks + 1))
  grep -Eq '^stabilize +log1p +log\(add\(1, x\)\) -> log1p\(x\)$' "$TMP/out" || fail "rules: no log1p line in stabilize"
  checks=$((checks + 1))
  grep -Eq '^specialize +[a-z_0-9]+ +' "$TMP/out" || fail "rules: no specialize rules"
  checks=$((checks + 1))
  grep -Evq '^(canonicalize|stabilize|specialize) +[a-z_0-9]+ +[^ ]' "$TMP/out" && fail "rules: a line is not 'set  name  text'"
  cp "$TMP/out" "$TMP/rules.txt"
fi
# Some rules hold only for finite values; strict IEEE leaves them out.
if expect_ok "rules --strict-ieee" rules --strict-ieee; then
  checks=$((checks + 1))
  [ "$(wc -l <"$TMP/out")" -lt "$(wc -l <"$TMP/rules.txt")" ] || fail "rules --strict-ieee lists as many rules as rules"
fi
expect_ok "help rules" help rules && contains "help rules" "$TMP/out" "usage: kilnc rules"
expect_error "rules: unexpected argument" "rules: unexpected argument 'x'" rules x

# ---- errors: status 1 and a message, never a crash ----
expect_error "no command" "missing COMMAND"
expect_error "unknown command" "unknown command 'frob'" frob
expect_error "help for an unknown command" "unknown command 'frob'" help frob
expect_error "print without FILE" "print: missing FILE" print
expect_error "print: missing file" "nope.kiln: cannot open file" print "$DATA/nope.kiln"
expect_error "print: a directory" "is a directory" print "$DATA"
expect_error "print: unknown option" "unknown option '--frob'" print --frob "$DATA/affine.kiln"
expect_error "parse error: unknown op" "bad_op.kiln:3:6: unknown op 'frobnicate'" print "$DATA/bad_op.kiln"
expect_error "parse error: type mismatch" \
  "mismatch.kiln:3:40: type mismatch: sum here has type f64[?], but the line says f64[?,3]" print "$DATA/mismatch.kiln"
expect_error "run without FILE" "run: missing FILE" run --input x="$DATA/x.npy"
expect_error "run: missing binding" "no value for shared 'w' f64[3,2] (add --input w=PATH.npy)" \
  run "$DATA/affine.kiln" --input x="$DATA/x.npy" --output-dir "$TMP/never"
expect_error "run: unknown input name" "the graph has no input named 'z' (its inputs: w, x)" \
  run "$DATA/affine.kiln" --input x="$DATA/x.npy" --input w="$DATA/w.npy" --input z="$DATA/x.npy"
expect_error "run: bad --input" "--input expects NAME=PATH.npy, got 'x'" run "$DATA/affine.kiln" --input x
expect_error "run: --input without value" "option --input needs a value" run "$DATA/affine.kiln" --input
expect_error "run: --input twice" "--input x is given twice" \
  run "$DATA/affine.kiln" --input x="$DATA/x.npy" --input x="$DATA/x.npy"
expect_error "run: bad npy" "not a .npy file" run "$DATA/affine.kiln" --input x="$DATA/affine.kiln" --input w="$DATA/w.npy"
expect_error "run: missing npy" "nope.npy" run "$DATA/affine.kiln" --input x="$DATA/nope.npy" --input w="$DATA/w.npy"
expect_error "run: wrong shape" "input 'x' has type f64[?,3], but $DATA/w.npy holds f64 values of shape [3, 2]" \
  run "$DATA/affine.kiln" --input x="$DATA/w.npy" --input w="$DATA/w.npy"
expect_error "run: wrong dtype" "holds bool values of shape [2, 3]" \
  run "$DATA/affine.kiln" --input x="$DATA/expected_pos.npy" --input w="$DATA/w.npy"
expect_error "run: run-time shape error" "broadcast.kiln:5: add: cannot broadcast" \
  run "$DATA/broadcast.kiln" --input a="$DATA/a3.npy" --input b="$DATA/b4.npy"
checks=$((checks + 1))
[ ! -e "$TMP/never" ] || fail "run created its output directory although the run failed"
echo 'not a directory' >"$TMP/file"
expect_error "run: output dir is a file" "$TMP/file" \
  run "$DATA/affine.kiln" --input x="$DATA/x.npy" --input w="$DATA/w.npy" --output-dir "$TMP/file"

if [ "$failures" -ne 0 ]; then
  echo "kilnc_test: $failures of $checks checks failed" >&2
  exit 1
fi
echo "kilnc_test: all $checks checks passed"
