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

/* The update over `count` bytes of `source`, which are also copied to `destination` in the same
   pass over memory (the buffers must not overlap). Hardware only, as above. */
uint32_t edgedistill_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t count);

/* The update over the `4 * floats` bytes of `source` (little-endian floats, any alignment), which
   are also added element by element into `destination` in the same pass. Hardware only. */
uint32_t edgedistill_crc32c_add_floats(uint32_t crc, float *destination, const void *source, size_t floats);
#endif
