
// k: kernel rank=2 (in0: i64[_,_], in1: i64[b,b]) -> out: i64[_,_]
static __device__ __forceinline__ long long k_elem(long long a0, long long a1) {
  const long long v0 = a0;
  const long long v1 = a1;
  const long long v2 = kiln_floordiv_s(v0, v1);
  const long long v3 = kiln_shl(v2, v0, 64);
  return v3;
}
extern "C" __global__ void __launch_bounds__(256) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand in1, KilnCudaOperand out) {
  const long long* p0 = (const long long*)in0.data;
  const long long* p1 = (const long long*)in1.data;
  long long* po = (long long*)out.data;
  const long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < space.numel; i += step) {
    long long r = i, c;
    long long f0 = 0, f1 = 0, fo = 0;
    c = r % space.shape[1]; r /= space.shape[1]; f0 += c * in0.strides[1]; fo += c * out.strides[1];
    c = r; f0 += c * in0.strides[0]; fo += c * out.strides[0];
    po[fo] = k_elem(p0[f0], p1[f1]);
  }
}
extern "C" __global__ void __launch_bounds__(256) k_vec(long long numel, const long long* __restrict__ p0, const long long* __restrict__ p1, long long* __restrict__ po) {
  const long long step = (long long)gridDim.x * blockDim.x;
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long s1 = p1[0];
  const long long nv = numel / 2;
  for (long long c = t; c < nv; c += step) {
    union { kiln_raw16 r; long long v[2]; } u0;
    u0.r = ((const kiln_raw16*)p0)[c];
    union { kiln_raw16 r; long long v[2]; } uo;
#pragma unroll
    for (int l = 0; l < 2; ++l) uo.v[l] = k_elem(u0.v[l], s1);
    ((kiln_raw16*)po)[c] = uo.r;
  }
  for (long long i = nv * 2 + t; i < numel; i += step) po[i] = k_elem(p0[i], s1);
}
