#ifndef EDGEDISTILL_CDNNL_SHIM_H
#define EDGEDISTILL_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN is built on OpenMP here; its thread count is OpenMP's. */
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
/* libgomp's entry point for a parallel region: runs fn(data) on num_threads threads of the same
   pool oneDNN uses, so element-wise kernels share threads with GEMM instead of competing. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
/* Macros Swift cannot import, as constants. */
static const int64_t edgedistill_runtime_dim = DNNL_RUNTIME_DIM_VAL;
static inline void *edgedistill_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
#endif
