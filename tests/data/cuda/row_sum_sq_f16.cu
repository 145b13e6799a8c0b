
// k: kernel rank=2 reduce=[_,r] (in0: f16[_,_]) -> out: f16[_,b]@(0)
extern "C" __global__ void __launch_bounds__(KILN_CUDA_REDUCE_MAX_BLOCK) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand out) {
  __shared__ float s2[KILN_CUDA_REDUCE_MAX_BLOCK / 32];
  const unsigned short* p0 = (const unsigned short*)in0.data;
  unsigned short* po = (unsigned short*)out.data;
  const long long rows = space.shape[0];
  const long long n = space.shape[1];  // elements a row
  for (long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y; row < rows;
       row += (long long)gridDim.x * blockDim.y) {
    long long r0 = 0, ro = 0;
    r0 += row * in0.strides[0]; ro += row * out.strides[0];
    // pass 0: the reductions %2
    float a2 = (float)0;
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      long long e0 = r0;
      e0 += j * in0.strides[1];
      const float v0 = kiln_h2f(p0[e0]);
      const float v1 = kiln_round_f16((v0 * v0));
      a2 = (a2 + v1);
    }
    if (blockDim.x > 1) {
      for (int o = 16; o > 0; o >>= 1) {
        { const float ov = __shfl_xor_sync(0xffffffffu, a2, o); a2 = (a2 + ov); }
      }
    }
    if (blockDim.x > 32) {
      if ((threadIdx.x & 31) == 0) {
        s2[threadIdx.x >> 5] = a2;
      }
      __syncthreads();
      a2 = s2[0];
      for (unsigned w = 1; w < blockDim.x / 32; ++w) {
        a2 = (a2 + s2[w]);
      }
      __syncthreads();  // the slots are rewritten by the next row
    }
    const float v2 = kiln_round_f16(a2);
    if (threadIdx.x == 0) po[ro] = kiln_f2h(v2);
  }
}
