/* What a zero-copy send could save (issue 23): the ring sends each piece of a gradient through
   CRC32C.copy (checksum and copy into the frame in one pass). This times that pass and the checksum
   alone over 16 MiB in 1 MiB pieces; a zero-copy send still needs the checksum, so the difference is
   all it could save.

       gcc -O2 -ISources/CChecksum/include scripts/crc_copy_probe.c Sources/CChecksum/crc32c.c -o /tmp/crc_copy_probe
       /tmp/crc_copy_probe
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
uint32_t edgedistill_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t count);
uint32_t edgedistill_crc32c_update(uint32_t crc, const void *data, size_t count);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  size_t total=16u<<20, piece=1u<<20; char*src=malloc(total),*dst=malloc(piece+64);
  memset(src,1,total); volatile uint32_t c=0; double best1=1e9,best2=1e9;
  for(int r=0;r<20;r++){double t=now(); for(size_t o=0;o<total;o+=piece) c+=edgedistill_crc32c_copy(0,dst,src+o,piece); t=now()-t; if(t<best1)best1=t;
    t=now(); for(size_t o=0;o<total;o+=piece) c+=edgedistill_crc32c_update(0,src+o,piece); t=now()-t; if(t<best2)best2=t;}
  printf("16 MiB in 1 MiB pieces: copy+crc %.2f ms, crc only %.2f ms\n",best1*1e3,best2*1e3); return 0;}
