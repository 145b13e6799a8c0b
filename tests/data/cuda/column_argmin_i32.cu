
// k: kernel rank=2 reduce=[r,_] (in0: i32[_,_]) -> out: i64[b,_]
extern "C" __global__ void __launch_bounds__(KILN_CUDA_REDUCE_MAX_BLOCK) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand out) {
  __shared__ int s1[KILN_CUDA_REDUCE_MAX_BLOCK / 32];
  __shared__ long long sx1[KILN_CUDA_REDUCE_MAX_BLOCK / 32];
  const int* p0 = (const int*)in0.data;
  long long* po = (long long*)out.data;
  const long long rows = space.shape[1];
  const long long n = space.shape[0];  // elements a row
  for (long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y; row < rows;
       row += (long long)gridDim.x * blockDim.y) {
    long long r0 = 0, ro = 0;
    r0 += row * in0.strides[1]; ro += row * out.strides[1];
    // pass 0: the reductions %1
    int a1 = (int)2147483647LL;
    long long x1 = 0;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      long long e0 = r0;
      e0 += j * in0.strides[0];
      const int v0 = p0[e0];
      if (kiln_arg_beats_i(false, v0, j, a1, x1)) { a1 = v0; x1 = j; }
    }
    if (blockDim.x > 1) {
      for (int o = 16; o > 0; o >>= 1) {
        {
          const int ov = (int)__shfl_xor_sync(0xffffffffu, (int)a1, o);
          const long long ox = __shfl_xor_sync(0xffffffffu, x1, o);
          if (kiln_arg_beats_i(false, ov, ox, a1, x1)) { a1 = ov; x1 = ox; }
        }
      }
    }
    if (blockDim.x > 32) {
      if ((threadIdx.x & 31) == 0) {
        s1[threadIdx.x >> 5] = a1;
        sx1[threadIdx.x >> 5] = x1;
      }
      __syncthreads();
      a1 = s1[0];
      x1 = sx1[0];
      for (unsigned w = 1; w < blockDim.x / 32; ++w) {
        if (kiln_arg_beats_i(false, s1[w], sx1[w], a1, x1)) { a1 = s1[w]; x1 = sx1[w]; }
      }
      __syncthreads();  // the slots are rewritten by the next row
    }
    const long long v1 = x1;
    if (threadIdx.x == 0) po[ro] = v1;
  }
}
