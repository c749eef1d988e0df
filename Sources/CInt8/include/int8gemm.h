#ifndef EDGEDISTILL_INT8GEMM_H
#define EDGEDISTILL_INT8GEMM_H
#include <stdint.h>

/* Packed int8 GEMM for dynamic int8 linear layers: C (M, N) int32 = A (M, K) uint8 * B^T, with
   B (N, K) int8 packed once by edgedistill_int8_pack_b.

   A's codes must be in [0, 127]: the AVX2 kernel multiplies with vpmaddubsw, which saturates a
   pair of u8 x s8 products above 32767 (127 * 127 * 2 = 32258 does not). B must be in [-127, 127].
   K is padded to a multiple of 4 (kp) and N to a multiple of 16 (np); A rows have stride kp with
   zero padding. The result is exact integer arithmetic. */

/* Bytes of the packed B for n outputs and k inputs. */
long edgedistill_int8_packed_size(long n, long k);
/* The padded K (multiple of 4) an A row must have. */
long edgedistill_int8_padded_k(long k);

/* Packs B (n, k) row-major into `packed` (edgedistill_int8_packed_size bytes): blocks of 16
   columns, each as [kp / 4][16 columns][4 k], zero padded. */
void edgedistill_int8_pack_b(int8_t *packed, const int8_t *b, long n, long k);

/* C[i, j] for i < m and j in [j0, j1) (j0, j1 multiples of 16 or j1 = n), ldc the row stride of
   C; `a` rows have stride kp. Columns are split this way so callers can run ranges on threads. */
void edgedistill_int8_gemm(int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                           long m, long n, long k, long j0, long j1);

#endif
