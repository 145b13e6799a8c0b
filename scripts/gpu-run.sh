#!/usr/bin/env bash
# Running kiln's CUDA tests on the lent GPU machine (/work/shared/GPU.md).
#
# NOT YET RUN ON A GPU. `pack` and `run` were rehearsed on the build machine
# (the GPU tests skip there); the first session that is lent a GPU runs it,
# fixes what breaks and removes this line.
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
#       (never into /), point LD_LIBRARY_PATH at them and run the CUDA tests
#       (driver, NVRTC/cuBLAS, the NumPy tables and random graphs on cuda:0,
#       the two-layer training), logs under $OUT;
#   scripts/gpu-run.sh tables   (there) the NumPy op tables on cuda:0;
#   scripts/gpu-run.sh bench    (there) the same set-up, then bench_gpu.
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
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_BUILD_BENCH=ON
    nice -n 10 ninja -C "$build" -j2 test_cuda test_runtime test_frontend test_passes bench_gpu example_two_layer_net
    exclude=$(cd "$root" && realpath -m "$(git rev-parse --git-path info/exclude)")
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.gpu-carry/' "$exclude" 2>/dev/null || echo '/.gpu-carry/' >>"$exclude"
    rm -rf "$carry" && mkdir -p "$carry/bin" "$carry/lib" "$carry/debs"
    cp "$build"/tests/test_{cuda,runtime,frontend,passes} "$build/bench/bench_gpu" "$build/examples/example_two_layer_net" \
      "$carry/bin/"
    cp -P "$build"/libkiln.so* "$carry/lib/"
    strip --strip-unneeded "$carry"/bin/* "$carry"/lib/libkiln.so.*.*.*  # ~2 MB less to carry
    # The tests read their data from the source folder they were built in.
    echo "$root" >"$carry/source_dir"
    # The libraries libkiln needs beyond glibc, libstdc++ and the CUDA
    # toolkit's (ldd libkiln.so; packages found with dpkg -S).
    (cd "$carry/debs" && apt-get download libllvm19 libopenblas0-pthread libtbb12 libz3-4 libgfortran5 \
      libquadmath0 libedit2 libbsd0 libmd0 libffi8 libxml2 libicu72)
    # The device tool carries 64 MiB in all, tracked files included.
    total=$(($(du -sb "$carry" | cut -f1) + $(git -C "$root" ls-files -z | (cd "$root" && xargs -0 du -cb) | tail -1 | cut -f1)))
    echo "carry + tracked files: $((total / 1048576)) MiB (limit 64)"
    [ "$total" -lt $((64 * 1048576)) ] || { echo "too much to carry" >&2; exit 1; }
    ;;
  run | tables | bench)
    out=${OUT:-/tmp/kiln-gpu-out}
    mkdir -p "$out" "$carry/root"
    for f in "$carry"/debs/*.deb; do dpkg -x "$f" "$carry/root"; done
    libs="$carry/lib:$carry/root/usr/lib/x86_64-linux-gnu:$carry/root/usr/lib/llvm-19/lib"
    libs="$libs:$carry/root/usr/lib/x86_64-linux-gnu/openblas-pthread:/usr/local/cuda/lib64"
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    src=$(cat "$carry/source_dir")
    if [ "$src" != "$root" ] && [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$root" "$src"; fi
    # Outside the carried folder (replaced by every call): kept while the machine stays warm.
    export KILN_CACHE_DIR=${KILN_CACHE_DIR:-/tmp/kiln-gpu-cache}
    {
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
      ldd "$carry/bin/test_cuda" "$carry/lib/libkiln.so" | grep -iE "not found|llvm|openblas|tbb" || true
    } >"$out/env.txt" 2>&1
    status=0
    b="$carry/bin"
    case "$1" in
      run)  # the CPU-side compile sweeps already run in CI: only what needs the GPU
        "$b/test_runtime" --gtest_filter='Cuda*' >"$out/test_runtime_cuda.txt" 2>&1 || status=1
        "$b/test_cuda" --gtest_filter='*Gpu*:CudaFunctionLt.*:Nvrtc*' >"$out/test_cuda_gpu.txt" 2>&1 || status=1
        "$b/example_two_layer_net" --cuda >"$out/two_layer_cuda.txt" 2>&1 || status=1
        KILN_RANDOM_CUDA_GRAPHS=120 "$b/test_passes" --gtest_filter='RandomGraphs.Cuda*' >"$out/random_cuda.txt" 2>&1 ||
          status=1
        ;;
      tables) timeout 550 "$b/test_frontend" --gtest_filter='*_cuda' >"$out/tables_cuda.txt" 2>&1 || status=1 ;;
      bench) "$b/bench_gpu" >"$out/bench_gpu.txt" 2>&1 || status=1 ;;
    esac
    tail -n 5 "$out"/*.txt
    exit $status
    ;;
  *)
    echo "usage: $0 pack|run|tables|bench" >&2
    exit 2
    ;;
esac
