/* Throughput of the packed int8 GEMM (path 2 = AVX-512 VNNI) at the student's batch-1 shapes, weights in cache:
   clang -O3 -mavx2 -mfma -ISources/CKernels/include scripts/int8_gemm_probe.c Sources/CKernels/int8gemm.c -o /tmp/probe && /tmp/probe */
#include "int8gemm.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  long shapes[][3]={{25,1152,384},{25,384,384},{25,1536,384},{25,384,1536},{1,1536,384},{1,384,1536},{25,768,384}};
  for(int s=0;s<7;s++){long m=shapes[s][0],n=shapes[s][1],k=shapes[s][2];
    int8_t*b=malloc(n*k);for(long i=0;i<n*k;i++)b[i]=(rand()%255)-127;
    int8_t*p=aligned_alloc(64,edgedistill_int8_packed_size(n,k));edgedistill_int8_pack_b(p,b,n,k);
    long kp=edgedistill_int8_padded_k(k);uint8_t*a=malloc(m*kp);for(long i=0;i<m*kp;i++)a[i]=rand()%255;
    int32_t*c=malloc(m*n*4);
    int reps=2000; double best=1e9;
    for(int r=0;r<5;r++){double t0=now();for(int i=0;i<reps;i++)edgedistill_int8_gemm(2,c,n,a,p,m,n,k,0,n);double t=(now()-t0)/reps;if(t<best)best=t;}
    printf("m %ld n %ld k %ld: %.2f us  %.0f GMAC/s\n",m,n,k,best*1e6,m*n*k/best/1e9);
  }
}
