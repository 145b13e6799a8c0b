
// k: kernel rank=2 reduce=[_,r] (in0: f32[_,_]) -> out: f32[_,_]
extern "C" __global__ void __launch_bounds__(KILN_CUDA_REDUCE_MAX_BLOCK) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand out) {
  __shared__ float s1[KILN_CUDA_REDUCE_MAX_BLOCK / 32];
  __shared__ float s5[KILN_CUDA_REDUCE_MAX_BLOCK / 32];
  const float* p0 = (const float*)in0.data;
  float* po = (float*)out.data;
  const long long rows = space.shape[0];
  const long long n = space.shape[1];  // elements a row
  for (long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y; row < rows;
       row += (long long)gridDim.x * blockDim.y) {
    long long r0 = 0, ro = 0;
    r0 += row * in0.strides[0]; ro += row * out.strides[0];
    // pass 0: the reductions %1
    float a1 = (-KILN_INF_F);
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      long long e0 = r0;
      e0 += j * in0.strides[1];
      const float v0 = p0[e0];
      a1 = kiln_fold_max(a1, v0);
    }
    if (blockDim.x > 1) {
      for (int o = 16; o > 0; o >>= 1) {
        { const float ov = __shfl_xor_sync(0xffffffffu, a1, o); a1 = kiln_fold_max(a1, ov); }
      }
    }
    if (blockDim.x > 32) {
      if ((threadIdx.x & 31) == 0) {
        s1[threadIdx.x >> 5] = a1;
      }
      __syncthreads();
      a1 = s1[0];
      for (unsigned w = 1; w < blockDim.x / 32; ++w) {
        a1 = kiln_fold_max(a1, s1[w]);
      }
      __syncthreads();  // the slots are rewritten by the next row
    }
    const float v1 = a1;
    const float v2 = v1;
    // pass 1: the reductions %5
    float a5 = (float)0;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      long long e0 = r0;
      e0 += j * in0.strides[1];
      const float v0 = p0[e0];
      const float v3 = (v0 - v2);
      const float v4 = expf(v3);
      a5 = (a5 + v4);
    }
    if (blockDim.x > 1) {
      for (int o = 16; o > 0; o >>= 1) {
        { const float ov = __shfl_xor_sync(0xffffffffu, a5, o); a5 = (a5 + ov); }
      }
    }
    if (blockDim.x > 32) {
      if ((threadIdx.x & 31) == 0) {
        s5[threadIdx.x >> 5] = a5;
      }
      __syncthreads();
      a5 = s5[0];
      for (unsigned w = 1; w < blockDim.x / 32; ++w) {
        a5 = (a5 + s5[w]);
      }
      __syncthreads();  // the slots are rewritten by the next row
    }
    const float v5 = a5;
    // pass 2: the store
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      long long e0 = r0, eo = ro;
      e0 += j * in0.strides[1]; eo += j * out.strides[1];
      const float v0 = p0[e0];
      const float v3 = (v0 - v2);
      const float v4 = expf(v3);
      const float v6 = (v4 / v5);
      po[eo] = v6;
    }
  }
}
