
// k: kernel rank=1 (in0: i32[_]) -> out: f16[_]
static __device__ __forceinline__ float k_elem(int a0) {
  const int v0 = a0;
  const int v1 = (int)0LL;
  const bool v2 = (v0 > v1);
  const float v3 = kiln_round_f16(kiln_to_float_odd((double)v0));
  const float v4 = (0x1p-1f);
  const float v5 = kiln_round_f16((v2 ? v3 : v4));
  return v5;
}
extern "C" __global__ void __launch_bounds__(256) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand out) {
  const int* p0 = (const int*)in0.data;
  unsigned short* po = (unsigned short*)out.data;
  const long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < space.numel; i += step) {
    long long r = i, c;
    long long f0 = 0, fo = 0;
    c = r; f0 += c * in0.strides[0]; fo += c * out.strides[0];
    po[fo] = kiln_f2h(k_elem(p0[f0]));
  }
}
extern "C" __global__ void __launch_bounds__(256) k_vec(long long numel, const int* __restrict__ p0, unsigned short* __restrict__ po) {
  const long long step = (long long)gridDim.x * blockDim.x;
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long nv = numel / 4;
  for (long long c = t; c < nv; c += step) {
    union { kiln_raw16 r; int v[4]; } u0;
    u0.r = ((const kiln_raw16*)p0)[c];
    union { kiln_raw8 r; unsigned short v[4]; } uo;
#pragma unroll
    for (int l = 0; l < 4; ++l) uo.v[l] = kiln_f2h(k_elem(u0.v[l]));
    ((kiln_raw8*)po)[c] = uo.r;
  }
  for (long long i = nv * 4 + t; i < numel; i += step) po[i] = kiln_f2h(k_elem(p0[i]));
}
