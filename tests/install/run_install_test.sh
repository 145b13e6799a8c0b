#!/usr/bin/env bash
# Installs the already-built kiln into a temporary prefix, then configures,
# builds and runs a separate consumer project against that prefix only.
set -euo pipefail
src="$1"; build="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/include/kiln/kiln.hpp"
test -x "$tmp/prefix/bin/kilnc"
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$tmp/configure.log"
cmake --build "$tmp/consumer" > "$tmp/build.log"
LD_LIBRARY_PATH="$tmp/prefix/lib:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
# No internal header may be installed.
if find "$tmp/prefix/include" -name '*.hpp' | xargs grep -l '#include "ir/\|#include <llvm' ; then
  echo "an installed header includes an internal or LLVM header" >&2; exit 1
fi
echo "install test passed"
