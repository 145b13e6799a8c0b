#!/usr/bin/env bash
# Running kiln's CUDA tests on the lent GPU machine (/work/shared/GPU.md).
#
# DRAFT — NOT YET RUN ON A GPU. Written on a machine without one; the first
# session that is lent a GPU runs it, fixes what breaks and removes this line.
#
# Two halves, because the GPU machine has CUDA 13, CMake and ninja but not
# Debian's LLVM 19, OpenBLAS or oneTBB that kiln links:
#
#   scripts/gpu-run.sh pack     (here)  build with the toolkit, copy the
#       test binaries and libkiln into .gpu-carry/ (ignored through
#       .git/info/exclude) with the .debs of the run-time libraries the GPU
#       machine lacks (apt-get download: the .deb of libllvm19 is ~26 MB,
#       unpacked 129 MB — the .deb travels, not the .so);
#   scripts/gpu-run.sh run      (there) unpack the .debs into .gpu-carry/root
#       (never into /), point LD_LIBRARY_PATH at them and run the CUDA tests,
#       logs under $OUT.
#
# The device tool's call then looks like (one call, a few minutes):
#   run(command="bash scripts/gpu-run.sh run", carry=[".gpu-carry"], timeout_s=600)
# The tool sends the checkout of the session that calls it: from a helper's
# worktree, copy scripts/ and .gpu-carry/ into that checkout first.
# Everything carried must stay under 64 MiB (check `du -sh .gpu-carry`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"

case "${1:-}" in
  pack)
    build=${KILN_GPU_BUILD:-/tmp/build-gpu}
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_BUILD_EXAMPLES=OFF
    nice -n 10 ninja -C "$build" -j2 test_cuda test_runtime
    grep -qx '/.gpu-carry/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu-carry/' >>"$(git -C "$root" rev-parse --git-path info/exclude)"
    rm -rf "$carry" && mkdir -p "$carry/bin" "$carry/lib" "$carry/debs"
    cp "$build/tests/test_cuda" "$build/tests/test_runtime" "$carry/bin/"
    cp -P "$build"/libkiln.so* "$carry/lib/"
    # The libraries libkiln needs beyond glibc, libstdc++ and the CUDA
    # toolkit's (ldd libkiln.so; packages found with dpkg -S).
    (cd "$carry/debs" && apt-get download libllvm19 libopenblas0-pthread libtbb12 libz3-4 libgfortran5 \
      libquadmath0 libedit2 libbsd0 libffi8 libxml2 libicu72)
    du -sh "$carry"
    ;;
  run)
    out=${OUT:-/tmp/kiln-gpu-out}
    mkdir -p "$out" "$carry/root"
    for f in "$carry"/debs/*.deb; do dpkg -x "$f" "$carry/root"; done
    libs="$carry/lib:$carry/root/usr/lib/x86_64-linux-gnu:$carry/root/usr/lib/llvm-19/lib"
    libs="$libs:$carry/root/usr/lib/x86_64-linux-gnu/openblas-pthread:/usr/local/cuda/lib64"
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    {
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
      ldd "$carry/bin/test_cuda" | grep "not found" || echo "all libraries found"
    } >"$out/env.txt" 2>&1
    # Not run there: the source goldens (KILN_TEST_DATA is the build
    # machine's path) and the CPU-side compile sweeps (already run here).
    status=0
    "$carry/bin/test_runtime" --gtest_filter='Cuda*' >"$out/test_runtime_cuda.txt" 2>&1 || status=1
    "$carry/bin/test_cuda" --gtest_filter='*Gpu*' >"$out/test_cuda_gpu.txt" 2>&1 || status=1
    "$carry/bin/test_cuda" --gtest_filter='Nvrtc.*:Cuda.Contiguous*' >"$out/test_cuda_nvrtc.txt" 2>&1 || status=1
    tail -n 5 "$out"/*.txt
    exit $status
    ;;
  *)
    echo "usage: $0 pack|run" >&2
    exit 2
    ;;
esac
