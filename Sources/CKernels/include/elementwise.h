#ifndef EDGEDISTILL_ELEMENTWISE_H
#define EDGEDISTILL_ELEMENTWISE_H
#include <stdint.h>

/* AVX-512 element-wise kernels of the forward pass (x86-64 with AVX-512 F/BW/VL/DQ only: callers
   check edgedistill_cpu_isa() first; on other CPUs the Swift loops of Kernels, compiled for AVX2,
   do the same work). Each mirrors a Swift function, named below, with the same arithmetic:
   quantization codes are bit-identical, GELU uses the same polynomials, sums of LayerNorm,
   softmax and attention run in another order (equal up to rounding; tolerances in KernelsTests).

   Shapes: rows of k (or n, c) floats, row strides given. */

/* quantizeRowsAsymmetric: per row, low = min(0, x), high = max(0, x), scale = (high - low) /
   levels (1 when high == low), zero = clamp(rint(-low / scale), 0, levels),
   q = clamp(rint(x * (1 / scale)) + zero, 0, levels) with ties to even; columns k..kp-1 of q set
   to 0. q rows have stride kp. */
void edgedistill_quantize_rows_avx512(uint8_t *q, float *scales, int32_t *zeros, const float *x,
                                      long rows, long k, long kp, float levels);

/* The int8 layer's epilogue (int8LinearForward):
     y = (float)(acc[r, j] - zeros[r] * colsum[j]) * (scales[r] * wscales[j]) + bias[j]
   then y = gelu(y) when gelu != 0, then y += residual[r, j] when residual is not NULL, for the
   columns j0 <= j < j1 (so each thread finishes the columns its GEMM call computed).
   out, acc and residual have row strides n. bias may be NULL. */
void edgedistill_dequantize_avx512(float *out, const int32_t *acc, long rows, long n, long j0, long j1,
                                   const float *scales, const int32_t *zeros, const float *wscales,
                                   const int32_t *colsum, const float *bias, int gelu,
                                   const float *residual);

/* geluForward: out = 0.5 x (1 + erf(x / sqrt 2)) with FastMath.swift's erf. */
void edgedistill_gelu_avx512(float *out, const float *x, long count);

/* layerNormForward: per row, mean, rstd = 1 / sqrt(var + eps), out = (x - mean) rstd gamma + beta. */
void edgedistill_layernorm_avx512(float *out, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, long rows, long c, float eps);

/* headForward without dropout, for one attention matrix: for each query row i < r,
     p = softmax((q_i / sqrt(hs)) . k_j for j < l),  out_i = sum_j p_j v_j,
   p written to probs + i * t (its first l entries). q rows have stride qs, k and v rows kvs, out
   rows os. Uses hs * 16 floats of stack. */
void edgedistill_attention_head_avx512(float *out, long os, const float *q, long qs, const float *k,
                                       const float *v, long kvs, long r, long l, long hs,
                                       float *probs, long t);

#endif
