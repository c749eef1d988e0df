#ifndef EDGEDISTILL_INT8GEMM_H
#define EDGEDISTILL_INT8GEMM_H
#include <stdint.h>

/* Packed int8 GEMM for dynamic int8 linear layers: C (M, N) int32 = A (M, K) uint8 * B^T, with
   B (N, K) int8 packed once by edgedistill_int8_pack_b, computed by one of three paths chosen at
   run time (one binary for every x86-64 CPU from Haswell on):

   - EDGEDISTILL_ISA_AVX512_VNNI: vpdpbusd, exact for any u8 activations (0..255);
   - EDGEDISTILL_ISA_AVX2: vpmaddubsw + vpmaddwd; A's codes must be in [0, 127], since vpmaddubsw
     saturates a pair of u8 x s8 products above 32767 (127 * 127 * 2 = 32258 does not);
   - EDGEDISTILL_ISA_GENERIC: plain C loops, any u8 activations.

   B must be in [-127, 127]. K is padded to a multiple of 4 (kp) and N to a multiple of 16; A rows
   have stride kp with zero padding. Every path gives the same exact integers. */

#define EDGEDISTILL_ISA_GENERIC 0
#define EDGEDISTILL_ISA_AVX2 1
#define EDGEDISTILL_ISA_AVX512_VNNI 2

/* The best path this CPU (and its OS) supports, from CPUID. */
int edgedistill_cpu_isa(void);
/* 1 when the CPU has AVX-512 BF16. */
int edgedistill_cpu_has_bf16(void);

/* Bytes of the packed B for n outputs and k inputs. */
long edgedistill_int8_packed_size(long n, long k);
/* The padded K (multiple of 4) an A row must have. */
long edgedistill_int8_padded_k(long k);

/* Packs B (n, k) row-major into `packed` (edgedistill_int8_packed_size bytes): blocks of 16
   columns, each as [kp / 4][16 columns][4 k], zero padded. */
void edgedistill_int8_pack_b(int8_t *packed, const int8_t *b, long n, long k);

/* C[i, j] for i < m and j in [j0, j1) (j0, j1 multiples of 16 or j1 = n), ldc the row stride of
   C; `a` rows have stride kp. Columns are split this way so callers can run ranges on threads.
   `isa` must be a path the CPU supports (edgedistill_cpu_isa() or lower). */
void edgedistill_int8_gemm(int isa, int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                           long m, long n, long k, long j0, long j1);

#endif
