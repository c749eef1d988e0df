/* sgemm against oneDNN's matmul primitive on weights reordered once (runtime M), at the step's shapes.
   gcc -O2 scripts/gemm_frozen_probe.c -o /tmp/probe -ldnnl && OMP_NUM_THREADS=2 /tmp/probe
   Prints whether the two agree (max difference) and GFLOP/s for each at M = 213, 37 and 426. */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define CK(x) do{dnnl_status_t s=(x); if(s){printf("err %d at %s\n",s,#x);exit(1);}}while(0)
int main(){
  int shapes[][2]={{384,1152},{384,384},{384,1536},{1536,384}};
  dnnl_engine_t eng; CK(dnnl_engine_create(&eng,dnnl_cpu,0));
  dnnl_stream_t st; CK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  int Ms[]={213,37,426};
  for(int mi=0;mi<3;mi++){ int M=Ms[mi]; double tmm=0,tsg=0,fl=0;
  for(int si=0;si<4;si++){int K=shapes[si][0],N=shapes[si][1];
    float*A=malloc(4L*600*K),*B=malloc(4L*N*K),*C=malloc(4L*600*N),*C2=malloc(4L*600*N);
    for(long i=0;i<(long)600*K;i++)A[i]=(rand()%100)/100.f-0.5f; for(long i=0;i<(long)N*K;i++)B[i]=(rand()%100)/100.f-0.5f;
    dnnl_memory_desc_t sd,wd,dd,wplain;
    dnnl_dims_t sdim={DNNL_RUNTIME_DIM_VAL,K},wdim={K,N},ddim={DNNL_RUNTIME_DIM_VAL,N};
    dnnl_dims_t sstr={K,1}, dstr={N,1};
    CK(dnnl_memory_desc_init_by_strides(&sd,2,sdim,dnnl_f32,sstr));
    CK(dnnl_memory_desc_init_by_tag(&wd,2,wdim,dnnl_f32,dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wplain,2,wdim,dnnl_f32,dnnl_ba));
    CK(dnnl_memory_desc_init_by_strides(&dd,2,ddim,dnnl_f32,dstr));
    dnnl_matmul_desc_t md; CK(dnnl_matmul_desc_init(&md,&sd,&wd,NULL,&dd));
    dnnl_primitive_desc_t pd; CK(dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL));
    const char* impl; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl);
    const dnnl_memory_desc_t*wq=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0);
    dnnl_memory_t mw,mwp; CK(dnnl_memory_create(&mwp,&wplain,eng,B)); CK(dnnl_memory_create(&mw,wq,eng,DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd; CK(dnnl_reorder_primitive_desc_create(&rpd,&wplain,eng,wq,eng,NULL));
    dnnl_primitive_t rp; CK(dnnl_primitive_create(&rp,rpd));
    dnnl_exec_arg_t ra[2]={{DNNL_ARG_FROM,mwp},{DNNL_ARG_TO,mw}}; CK(dnnl_primitive_execute(rp,st,2,ra)); dnnl_stream_wait(st);
    dnnl_primitive_t p; CK(dnnl_primitive_create(&p,pd));
    // per-call memory with actual M
    dnnl_memory_desc_t sa,da; dnnl_dims_t s2={M,K},d2={M,N};
    CK(dnnl_memory_desc_init_by_strides(&sa,2,s2,dnnl_f32,sstr)); CK(dnnl_memory_desc_init_by_strides(&da,2,d2,dnnl_f32,dstr));
    dnnl_memory_t ms,mdm; CK(dnnl_memory_create(&ms,&sa,eng,A)); CK(dnnl_memory_create(&mdm,&da,eng,C));
    dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,ms},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_DST,mdm}};
    int R=200;
    for(int w=0;w<5;w++){CK(dnnl_primitive_execute(p,st,3,args));} dnnl_stream_wait(st);
    double t0=now(); for(int r=0;r<R;r++) dnnl_primitive_execute(p,st,3,args); dnnl_stream_wait(st); double t1=now();
    tmm+=(t1-t0)/R;
    for(int w=0;w<5;w++) dnnl_sgemm('N','T',M,N,K,1,A,K,B,K,0,C2,N);
    t0=now(); for(int r=0;r<R;r++) dnnl_sgemm('N','T',M,N,K,1,A,K,B,K,0,C2,N); t1=now(); tsg+=(t1-t0)/R;
    double md_=0; for(long i=0;i<(long)M*N;i++){double d=C[i]-C2[i]; if(d<0)d=-d; if(d>md_)md_=d;}
    if(mi==0) printf("K=%d N=%d impl %s maxdiff %g\n",K,N,impl,md_);
    fl+=2.0*M*K*N;
  }
  printf("M=%d runtime-M matmul %.1f GF/s, sgemm %.1f GF/s\n",M,fl/tmm/1e9,fl/tsg/1e9);}
}
