/* CRC-32C with the SSE4.2 crc32 instruction: about 20x the table-driven Swift version
   (carry-less multiplication folding for long inputs, the crc32 instruction for the rest), which
   matters because every all-reduce chunk is checksummed on send and on receive. */
#include "crc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

int edgedistill_crc32c_hardware(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}

/* Carry-less multiplication folding (Intel, "Fast CRC Computation for Generic Polynomials Using
   PCLMULQDQ", the bit-reflected variant zlib and Linux use for CRC-32): four 128-bit lanes are each
   multiplied by x^(512 +- 32) mod P and folded into the next 64 bytes, then into one lane, which the
   crc32 instruction reduces. On AMD Zen 2, whose crc32 instruction issues once per 3 cycles, this
   is about 3x the instruction loop. The constants are (x^k mod P) bit-reflected into 33 bits,
   k = 4*128+32, 4*128-32, 128+32, 128-32, computed as zlib's
   multmodp does (x^k mod P, reflected, shifted left by one). */
#include <immintrin.h>

static int pclmul_state;   /* 0 unknown, 1 yes, 2 no */

static int has_pclmul(void) {
    int state = __atomic_load_n(&pclmul_state, __ATOMIC_RELAXED);
    if (state == 0) {
        unsigned a, b, c, d;
        state = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL) && (c & bit_SSE4_1) ? 1 : 2;
        __atomic_store_n(&pclmul_state, state, __ATOMIC_RELAXED);
    }
    return state == 1;
}

/* What the folding loop does with each 16-byte block it checksums, besides checksumming it. */
enum consume { CHECK_ONLY, COPY, ADD_FLOATS };

/* The raw CRC state after `count` bytes at `p` (a multiple of 16, at least 64); each block is also
   copied to `out` (COPY) or added into the floats at `out` (ADD_FLOATS) while it is in a register,
   so checksumming and moving the data is one pass over memory instead of two. */
__attribute__((target("sse4.2,pclmul,sse4.1"), always_inline))
static inline uint32_t crc_fold(uint32_t crc, const unsigned char *p, size_t count, unsigned char *out,
                                enum consume mode) {
    const __m128i k1k2 = _mm_set_epi64x(0x09e4addf8, 0x0740eef02);
    const __m128i k3k4 = _mm_set_epi64x(0x14cd00bd6, 0x0f20c0dfe);
#define TAKE(x, offset) do { \
        if (mode == COPY) _mm_storeu_si128((__m128i *)(out + (offset)), (x)); \
        if (mode == ADD_FLOATS) _mm_storeu_ps((float *)(out + (offset)), \
            _mm_add_ps(_mm_loadu_ps((const float *)(out + (offset))), _mm_castsi128_ps(x))); \
    } while (0)
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 0x00));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
    TAKE(x1, 0x00); TAKE(x2, 0x10); TAKE(x3, 0x20); TAKE(x4, 0x30);
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    p += 64;
    out += 64;
    count -= 64;
    while (count >= 64) {
        __m128i y1 = _mm_loadu_si128((const __m128i *)(p + 0x00));
        __m128i y2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
        __m128i y3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
        __m128i y4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
        TAKE(y1, 0x00); TAKE(y2, 0x10); TAKE(y3, 0x20); TAKE(y4, 0x30);
        __m128i l1 = _mm_clmulepi64_si128(x1, k1k2, 0x00), h1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        __m128i l2 = _mm_clmulepi64_si128(x2, k1k2, 0x00), h2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        __m128i l3 = _mm_clmulepi64_si128(x3, k1k2, 0x00), h3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        __m128i l4 = _mm_clmulepi64_si128(x4, k1k2, 0x00), h4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(l1, h1), y1);
        x2 = _mm_xor_si128(_mm_xor_si128(l2, h2), y2);
        x3 = _mm_xor_si128(_mm_xor_si128(l3, h3), y3);
        x4 = _mm_xor_si128(_mm_xor_si128(l4, h4), y4);
        p += 64;
        out += 64;
        count -= 64;
    }
    /* Four lanes into one, then the remaining 16-byte blocks. */
    __m128i next[3] = { x2, x3, x4 };
    for (int i = 0; i < 3; i++) {
        __m128i l = _mm_clmulepi64_si128(x1, k3k4, 0x00), h = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(l, h), next[i]);
    }
    while (count >= 16) {
        __m128i y = _mm_loadu_si128((const __m128i *)p);
        TAKE(y, 0);
        __m128i l = _mm_clmulepi64_si128(x1, k3k4, 0x00), h = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(l, h), y);
        p += 16;
        out += 16;
        count -= 16;
    }
#undef TAKE
    /* The last lane is a 16-byte message with the same CRC as everything folded into it. */
    uint64_t state = __builtin_ia32_crc32di(0, (uint64_t)_mm_extract_epi64(x1, 0));
    state = __builtin_ia32_crc32di(state, (uint64_t)_mm_extract_epi64(x1, 1));
    return (uint32_t)state;
}

__attribute__((target("sse4.2,pclmul,sse4.1")))
static uint32_t crc_fold_check(uint32_t crc, const unsigned char *p, size_t count) {
    return crc_fold(crc, p, count, NULL, CHECK_ONLY);
}

__attribute__((target("sse4.2,pclmul,sse4.1")))
static uint32_t crc_fold_copy(uint32_t crc, const unsigned char *p, size_t count, unsigned char *out) {
    return crc_fold(crc, p, count, out, COPY);
}

__attribute__((target("sse4.2,pclmul,sse4.1")))
static uint32_t crc_fold_add(uint32_t crc, const unsigned char *p, size_t count, unsigned char *out) {
    return crc_fold(crc, p, count, out, ADD_FLOATS);
}

__attribute__((target("sse4.2")))
uint32_t edgedistill_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t count) {
    size_t folded = count >= 256 && has_pclmul() ? count & ~(size_t)15 : 0;
    if (folded) crc = crc_fold_copy(crc, source, folded, destination);
    memcpy((unsigned char *)destination + folded, (const unsigned char *)source + folded, count - folded);
    return edgedistill_crc32c_update(crc, (const unsigned char *)source + folded, count - folded);
}

__attribute__((target("sse4.2")))
uint32_t edgedistill_crc32c_add_floats(uint32_t crc, float *destination, const void *source, size_t floats) {
    size_t bytes = floats * 4;
    size_t folded = bytes >= 256 && has_pclmul() ? bytes & ~(size_t)15 : 0;
    if (folded) crc = crc_fold_add(crc, source, folded, (unsigned char *)destination);
    for (size_t i = folded / 4; i < floats; i++) {
        float value;
        memcpy(&value, (const unsigned char *)source + 4 * i, 4);
        destination[i] += value;
    }
    return edgedistill_crc32c_update(crc, (const unsigned char *)source + folded, bytes - folded);
}

__attribute__((target("sse4.2")))
uint32_t edgedistill_crc32c_update(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = data;
    if (count >= 256 && has_pclmul()) {
        size_t folded = count & ~(size_t)15;
        crc = crc_fold_check(crc, p, folded);
        p += folded;
        count -= folded;
    }
    uint64_t state = crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = __builtin_ia32_crc32di(state, word);
        p += 8;
        count -= 8;
    }
    uint32_t small = (uint32_t)state;
    while (count--) small = __builtin_ia32_crc32qi(small, *p++);
    return small;
}
#else
int edgedistill_crc32c_hardware(void) { return 0; }
uint32_t edgedistill_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t count) {
    (void)crc; (void)destination; (void)source; (void)count;
    return crc;
}
uint32_t edgedistill_crc32c_add_floats(uint32_t crc, float *destination, const void *source, size_t floats) {
    (void)destination; (void)source; (void)floats;
    return crc;
}
uint32_t edgedistill_crc32c_update(uint32_t crc, const void *data, size_t count) {
    (void)data; (void)count;
    return crc;
}
#endif
