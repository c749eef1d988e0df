#ifndef EDGEDISTILL_CRC32C_H
#define EDGEDISTILL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU has the SSE4.2 crc32 instruction (CRC-32C in hardware), else 0. */
int edgedistill_crc32c_hardware(void);

/* Raw CRC-32C update with the hardware instruction: `crc` is the running (already inverted)
   state; the caller inverts before and after, as with a table-driven CRC. Call only when
   edgedistill_crc32c_hardware() is 1. */
uint32_t edgedistill_crc32c_update(uint32_t crc, const void *data, size_t count);
#endif
