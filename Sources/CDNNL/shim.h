#ifndef EDGEDISTILL_CDNNL_SHIM_H
#define EDGEDISTILL_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
/* oneDNN is built on OpenMP here; its thread count is OpenMP's. */
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);
#endif
