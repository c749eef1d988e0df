#ifndef EDGEDISTILL_CZLIB_SHIM_H
#define EDGEDISTILL_CZLIB_SHIM_H
#include <zlib.h>
#endif
