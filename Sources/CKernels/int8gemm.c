#include "int8gemm.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

long edgedistill_int8_padded_k(long k) { return (k + 3) / 4 * 4; }

long edgedistill_int8_packed_size(long n, long k) {
    return (n + 15) / 16 * 16 * edgedistill_int8_padded_k(k);
}

void edgedistill_int8_pack_b(int8_t *packed, const int8_t *b, long n, long k) {
    long kp = edgedistill_int8_padded_k(k), blocks = (n + 15) / 16;
    memset(packed, 0, (size_t)(blocks * 16 * kp));
    for (long blk = 0; blk < blocks; blk++) {
        int8_t *dst = packed + blk * 16 * kp;
        for (long q = 0; q < kp / 4; q++)
            for (long col = 0; col < 16; col++)
                for (long e = 0; e < 4; e++) {
                    long j = blk * 16 + col, p = q * 4 + e;
                    dst[(q * 16 + col) * 4 + e] = (j < n && p < k) ? b[j * k + p] : 0;
                }
    }
}

int edgedistill_cpu_isa(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni"))
        return EDGEDISTILL_ISA_AVX512_VNNI;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return EDGEDISTILL_ISA_AVX2;
#endif
    return EDGEDISTILL_ISA_GENERIC;
}

int edgedistill_cpu_has_bf16(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") ? 1 : 0;
#else
    return 0;
#endif
}

/* Portable: the same packed layout, plain loops; any u8 activations. The 16 sums of a block are
   kept side by side and every packed step is read once, in order, so compilers vectorize it. */
static void gemm_generic(int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                         long m, long n, long kp, long j0, long j1) {
    long steps = kp / 4;
    for (long j = j0; j < j1; j += 16) {
        const int8_t *bp = packed + (j / 16) * 16 * kp;
        long valid = n - j < 16 ? n - j : 16;
        for (long i = 0; i < m; i++) {
            const uint8_t *ai = a + i * kp;
            int32_t s[16] = {0};
            for (long q = 0; q < steps; q++) {
                const int8_t *b = bp + q * 64;
                int32_t a0 = ai[q * 4], a1 = ai[q * 4 + 1], a2 = ai[q * 4 + 2], a3 = ai[q * 4 + 3];
                for (long col = 0; col < 16; col++)
                    s[col] += a0 * b[col * 4] + a1 * b[col * 4 + 1] + a2 * b[col * 4 + 2] + a3 * b[col * 4 + 3];
            }
            memcpy(c + i * ldc + j, s, (size_t)valid * sizeof(int32_t));
        }
    }
}

#if defined(__x86_64__)
/* AVX2: vpmaddubsw + vpmaddwd; activations must be in [0, 127] (see the header). */
__attribute__((target("avx2,fma")))
static inline void store16_avx2(int32_t *c, __m256i lo, __m256i hi, long valid) {
    if (valid >= 16) {
        _mm256_storeu_si256((__m256i *)c, lo);
        _mm256_storeu_si256((__m256i *)(c + 8), hi);
    } else {
        int32_t tmp[16];
        _mm256_storeu_si256((__m256i *)tmp, lo);
        _mm256_storeu_si256((__m256i *)(tmp + 8), hi);
        memcpy(c, tmp, (size_t)valid * sizeof(int32_t));
    }
}

__attribute__((target("avx2,fma")))
static void gemm_avx2(int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                      long m, long n, long kp, long j0, long j1) {
    long steps = kp / 4;
    const __m256i ones = _mm256_set1_epi16(1);
#define EDGEDISTILL_AVX2_ROW(acc0, acc1, row)                                                   \
    memcpy(&w, (row) + q * 4, 4);                                                               \
    x = _mm256_set1_epi32(w);                                                                   \
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));        \
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
    for (long j = j0; j < j1; j += 16) {
        const int8_t *bp = packed + (j / 16) * 16 * kp;
        long valid = n - j < 16 ? n - j : 16;
        long i = 0;
        for (; i + 4 <= m; i += 4) {
            const uint8_t *a0 = a + i * kp, *a1 = a0 + kp, *a2 = a1 + kp, *a3 = a2 + kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
            __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (long q = 0; q < steps; q++) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)(bp + q * 64));
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + q * 64 + 32));
                int32_t w;
                __m256i x;
                EDGEDISTILL_AVX2_ROW(c00, c01, a0)
                EDGEDISTILL_AVX2_ROW(c10, c11, a1)
                EDGEDISTILL_AVX2_ROW(c20, c21, a2)
                EDGEDISTILL_AVX2_ROW(c30, c31, a3)
            }
            store16_avx2(c + i * ldc + j, c00, c01, valid);
            store16_avx2(c + (i + 1) * ldc + j, c10, c11, valid);
            store16_avx2(c + (i + 2) * ldc + j, c20, c21, valid);
            store16_avx2(c + (i + 3) * ldc + j, c30, c31, valid);
        }
        for (; i < m; i++) {
            const uint8_t *a0 = a + i * kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00;
            for (long q = 0; q < steps; q++) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)(bp + q * 64));
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + q * 64 + 32));
                int32_t w;
                __m256i x;
                EDGEDISTILL_AVX2_ROW(c00, c01, a0)
            }
            store16_avx2(c + i * ldc + j, c00, c01, valid);
        }
    }
#undef EDGEDISTILL_AVX2_ROW
}

/* AVX-512 VNNI: vpdpbusd multiplies 64 u8 x s8 pairs and adds each group of 4 into an int32
   lane exactly, so any u8 activations (0..255) are exact. One 64-byte packed step is the 16
   columns of a block times 4 k: one vpdpbusd per row per step. Rows go 4 at a time over 4 blocks
   (16 accumulators, 4 loads of B and 4 broadcasts per step), then in pairs and alone, then
   single blocks 4 rows at a time. */
#define EDGEDISTILL_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

EDGEDISTILL_VNNI_TARGET
static inline void store16_vnni(int32_t *c, __m512i v, long valid) {
    if (valid >= 16) _mm512_storeu_si512((void *)c, v);
    else _mm512_mask_storeu_epi32(c, (__mmask16)((1u << valid) - 1), v);
}

EDGEDISTILL_VNNI_TARGET
static inline __m512i broadcast4(const uint8_t *p) {
    int32_t w;
    memcpy(&w, p, 4);
    return _mm512_set1_epi32(w);
}

/* The 64-byte packed step q of 4 consecutive blocks (64 columns), `block` bytes apart. */
EDGEDISTILL_VNNI_TARGET
static inline void load_b4(__m512i out[4], const int8_t *b, long block, long q) {
    for (int u = 0; u < 4; u++) out[u] = _mm512_loadu_si512((const void *)(b + u * block + q * 64));
}

EDGEDISTILL_VNNI_TARGET
static void gemm_vnni(int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                      long m, long n, long kp, long j0, long j1) {
    long steps = kp / 4, block = 16 * kp;
    long j = j0;
    for (; j + 64 <= j1; j += 64) {
        const int8_t *b = packed + (j / 16) * block;
        long i = 0;
        for (; i + 4 <= m; i += 4) {
            const uint8_t *a0 = a + i * kp;
            __m512i acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int u = 0; u < 4; u++) acc[r][u] = _mm512_setzero_si512();
            for (long q = 0; q < steps; q++) {
                __m512i bq[4];
                load_b4(bq, b, block, q);
                for (int r = 0; r < 4; r++) {
                    __m512i x = broadcast4(a0 + r * kp + q * 4);
                    for (int u = 0; u < 4; u++) acc[r][u] = _mm512_dpbusd_epi32(acc[r][u], x, bq[u]);
                }
            }
            for (int r = 0; r < 4; r++) {
                int32_t *row = c + (i + r) * ldc + j;
                store16_vnni(row, acc[r][0], n - j); store16_vnni(row + 16, acc[r][1], n - j - 16);
                store16_vnni(row + 32, acc[r][2], n - j - 32); store16_vnni(row + 48, acc[r][3], n - j - 48);
            }
        }
        for (; i + 2 <= m; i += 2) {
            const uint8_t *a0 = a + i * kp, *a1 = a0 + kp;
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00;
            __m512i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
            for (long q = 0; q < steps; q++) {
                __m512i bq[4];
                load_b4(bq, b, block, q);
                __m512i x0 = broadcast4(a0 + q * 4), x1 = broadcast4(a1 + q * 4);
                c00 = _mm512_dpbusd_epi32(c00, x0, bq[0]); c01 = _mm512_dpbusd_epi32(c01, x0, bq[1]);
                c02 = _mm512_dpbusd_epi32(c02, x0, bq[2]); c03 = _mm512_dpbusd_epi32(c03, x0, bq[3]);
                c10 = _mm512_dpbusd_epi32(c10, x1, bq[0]); c11 = _mm512_dpbusd_epi32(c11, x1, bq[1]);
                c12 = _mm512_dpbusd_epi32(c12, x1, bq[2]); c13 = _mm512_dpbusd_epi32(c13, x1, bq[3]);
            }
            int32_t *r0 = c + i * ldc + j, *r1 = r0 + ldc;
            long v0 = n - j, v1 = n - j - 16, v2 = n - j - 32, v3 = n - j - 48;
            store16_vnni(r0, c00, v0); store16_vnni(r0 + 16, c01, v1); store16_vnni(r0 + 32, c02, v2); store16_vnni(r0 + 48, c03, v3);
            store16_vnni(r1, c10, v0); store16_vnni(r1 + 16, c11, v1); store16_vnni(r1 + 32, c12, v2); store16_vnni(r1 + 48, c13, v3);
        }
        for (; i < m; i++) {
            const uint8_t *a0 = a + i * kp;
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00;
            for (long q = 0; q < steps; q++) {
                __m512i x0 = broadcast4(a0 + q * 4);
                c00 = _mm512_dpbusd_epi32(c00, x0, _mm512_loadu_si512((const void *)(b + q * 64)));
                c01 = _mm512_dpbusd_epi32(c01, x0, _mm512_loadu_si512((const void *)(b + block + q * 64)));
                c02 = _mm512_dpbusd_epi32(c02, x0, _mm512_loadu_si512((const void *)(b + 2 * block + q * 64)));
                c03 = _mm512_dpbusd_epi32(c03, x0, _mm512_loadu_si512((const void *)(b + 3 * block + q * 64)));
            }
            int32_t *r0 = c + i * ldc + j;
            store16_vnni(r0, c00, n - j); store16_vnni(r0 + 16, c01, n - j - 16);
            store16_vnni(r0 + 32, c02, n - j - 32); store16_vnni(r0 + 48, c03, n - j - 48);
        }
    }
    for (; j < j1; j += 16) {
        const int8_t *b = packed + (j / 16) * block;
        long valid = n - j < 16 ? n - j : 16;
        long i = 0;
        for (; i + 4 <= m; i += 4) {
            const uint8_t *a0 = a + i * kp, *a1 = a0 + kp, *a2 = a1 + kp, *a3 = a2 + kp;
            __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
            for (long q = 0; q < steps; q++) {
                __m512i b0 = _mm512_loadu_si512((const void *)(b + q * 64));
                c0 = _mm512_dpbusd_epi32(c0, broadcast4(a0 + q * 4), b0);
                c1 = _mm512_dpbusd_epi32(c1, broadcast4(a1 + q * 4), b0);
                c2 = _mm512_dpbusd_epi32(c2, broadcast4(a2 + q * 4), b0);
                c3 = _mm512_dpbusd_epi32(c3, broadcast4(a3 + q * 4), b0);
            }
            store16_vnni(c + i * ldc + j, c0, valid);
            store16_vnni(c + (i + 1) * ldc + j, c1, valid);
            store16_vnni(c + (i + 2) * ldc + j, c2, valid);
            store16_vnni(c + (i + 3) * ldc + j, c3, valid);
        }
        for (; i < m; i++) {
            const uint8_t *a0 = a + i * kp;
            __m512i c0 = _mm512_setzero_si512();
            for (long q = 0; q < steps; q++)
                c0 = _mm512_dpbusd_epi32(c0, broadcast4(a0 + q * 4), _mm512_loadu_si512((const void *)(b + q * 64)));
            store16_vnni(c + i * ldc + j, c0, valid);
        }
    }
}
#endif

void edgedistill_int8_gemm(int isa, int32_t *c, long ldc, const uint8_t *a, const int8_t *packed,
                           long m, long n, long k, long j0, long j1) {
    long kp = edgedistill_int8_padded_k(k);
#if defined(__x86_64__)
    if (isa == EDGEDISTILL_ISA_AVX512_VNNI) { gemm_vnni(c, ldc, a, packed, m, n, kp, j0, j1); return; }
    if (isa == EDGEDISTILL_ISA_AVX2) { gemm_avx2(c, ldc, a, packed, m, n, kp, j0, j1); return; }
#endif
    (void)isa;
    gemm_generic(c, ldc, a, packed, m, n, kp, j0, j1);
}
