/* Developer probe of AMX-BF16 throughput on this machine (not part of the build or the tests):
 * tdpbf16ps with the tiles in registers (mode 0), and the amx rung's 2x2 tile step (two A and two
 * B tile loads per four tdpbf16ps) over an A buffer of a given size (mode 1: 32 KiB stays in L1,
 * 1 MiB in L2). Prints GFLOP/s, all threads together and per thread.
 *   gcc -O2 -mamx-tile -mamx-bf16 -mavx512f -o amx_probe tools/amx_probe.c -lpthread
 *   ./amx_probe THREADS MODE A_BYTES ITERATIONS      e.g. ./amx_probe 16 1 1048576 2000000 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
typedef struct { uint8_t palette, start_row, reserved[14]; uint16_t bpr[16]; uint8_t rows[16]; } Cfg;
static void cfg(void){ _Alignas(64) Cfg c; memset(&c,0,sizeof c); c.palette=1; for(int t=0;t<8;t++){c.bpr[t]=64;c.rows[t]=16;} _tile_loadconfig(&c);}
static int mode; static long iters; static size_t abytes;
static void *work(void *arg){
  cfg();
  uint32_t *a = aligned_alloc(64, abytes), *b = aligned_alloc(64, 65536);
  memset(a, 0, abytes); memset(b, 0, 65536);
  _Alignas(64) float scratch[1024];
  _tile_zero(0);_tile_zero(1);_tile_zero(2);_tile_zero(3);
  _tile_loadd(4,a,64);_tile_loadd(5,a+256,64);_tile_loadd(6,b,64);_tile_loadd(7,b+256,64);
  long npairs = abytes / (2*16*4); /* A = 2 panels of 16 rows x npairs dwords */
  double t0=now();
  if (mode==0) for(long i=0;i<iters;i++){ _tile_dpbf16ps(0,4,6);_tile_dpbf16ps(1,4,7);_tile_dpbf16ps(2,5,6);_tile_dpbf16ps(3,5,7);}
  else { long q=0; for(long i=0;i<iters;i++){
      if (q + 16 > npairs) q = 0;
      _tile_loadd(4, a + q, npairs*4); _tile_loadd(5, a + 16*npairs + q, npairs*4);
      _tile_loadd(6, b + (q%256)*16, 64); _tile_loadd(7, b + 4096 + (q%256)*16, 64);
      _tile_dpbf16ps(0,4,6);_tile_dpbf16ps(1,4,7);_tile_dpbf16ps(2,5,6);_tile_dpbf16ps(3,5,7); q+=16; } }
  double t=now()-t0;
  _tile_stored(0,scratch,64);
  _tile_release();
  *(double*)arg = 4.0*iters*16*16*32*2/t/1e9;
  return NULL;
}
int main(int argc,char**argv){
  syscall(SYS_arch_prctl, 0x1023, 18); /* ARCH_REQ_XCOMP_PERM for XTILEDATA: Linux asks first */
  int threads = atoi(argv[1]); mode = atoi(argv[2]); abytes = (size_t)atol(argv[3]); iters = atol(argv[4]);
  pthread_t th[64]; double g[64]; double t0=now();
  for(int i=0;i<threads;i++) pthread_create(&th[i],0,work,&g[i]);
  double sum=0; for(int i=0;i<threads;i++){pthread_join(th[i],0); sum+=g[i];}
  printf("threads %2d mode %d A %8zu B: %8.1f GFLOP/s total (%.1f per thread), wall %.3f s\n",threads,mode,abytes,sum,sum/threads, now()-t0);
}
