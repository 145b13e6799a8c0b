
// k: kernel rank=2 (in0: f32[_,b], in1: f32[b,_]) -> out: f32[_,_]
static __device__ __forceinline__ float k_elem(float a0, float a1) {
  const float v0 = a0;
  const float v1 = expf(v0);
  const float v2 = a1;
  const float v3 = (v1 * v2);
  const float v4 = (0x1p+1f);
  const float v5 = (v3 + v4);
  return v5;
}
extern "C" __global__ void __launch_bounds__(256) k(KilnCudaSpace space, KilnCudaOperand in0, KilnCudaOperand in1, KilnCudaOperand out) {
  const float* p0 = (const float*)in0.data;
  const float* p1 = (const float*)in1.data;
  float* po = (float*)out.data;
  const long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < space.numel; i += step) {
    long long r = i, c;
    long long f0 = 0, f1 = 0, fo = 0;
    c = r % space.shape[1]; r /= space.shape[1]; f1 += c * in1.strides[1]; fo += c * out.strides[1];
    c = r; f0 += c * in0.strides[0]; fo += c * out.strides[0];
    po[fo] = k_elem(p0[f0], p1[f1]);
  }
}
