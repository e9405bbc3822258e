/*
 * ferlab's conv kernels: GEMMs in wasm SIMD on the TF.js wasm heap.
 *
 * Built (see build.ts) without libc, against an imported memory: the TF.js
 * wasm module's own (shared) memory, so every pointer below is a heap offset
 * that TF.js handed out. The module has no data segments and must not use the
 * C stack (no local arrays, nothing address-taken): its stack pointer would
 * point into memory that TF.js owns. Scratch space comes from the caller.
 *
 * Every kernel works on a slice `part` of `nparts` of its output, so helper
 * threads running the same module on the same memory can split the work;
 * slices never overlap, and each output element is always summed in the same
 * order, whatever the thread count.
 *
 * One micro-kernel serves all: C[MR×NR] (+)= Σ_p a[p][0..MR) ⊗ b[p][0..NR),
 * with a and b packed contiguously so the inner loop is two vector loads,
 * MR splat-loads and 2·MR multiply-adds (MR = 4, NR = 8).
 */
#include <wasm_simd128.h>

/* 4×8: 8 accumulators + 2 B vectors + a splat fit V8's 15 usable xmm registers; 6×8 spills and runs at half speed */
#define MR 4
#define NR 8

#ifdef FERLAB_RELAXED
/* a·b + c, fused where the CPU has FMA */
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4((a), (b), (c))
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif

typedef __SIZE_TYPE__ size_t;

/* Which instruction set this build uses: 2 = relaxed SIMD madd, 1 = plain SIMD. */
int ferlab_flavour(void) {
#ifdef FERLAB_RELAXED
  return 2;
#else
  return 1;
#endif
}

/*
 * Full MR×NR tile at c (row stride ldc). acc: add to c; else start from
 * bias[0..NR) (or zero when bias is null). relu: clamp the result at 0.
 */
static inline void micro(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc,
                         int acc, const float *bias, int relu) {
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  if (acc) {
    c00 = wasm_v128_load(c + 0 * ldc), c01 = wasm_v128_load(c + 0 * ldc + 4);
    c10 = wasm_v128_load(c + 1 * ldc), c11 = wasm_v128_load(c + 1 * ldc + 4);
    c20 = wasm_v128_load(c + 2 * ldc), c21 = wasm_v128_load(c + 2 * ldc + 4);
    c30 = wasm_v128_load(c + 3 * ldc), c31 = wasm_v128_load(c + 3 * ldc + 4);
  } else if (bias) {
    c00 = c10 = c20 = c30 = wasm_v128_load(bias);
    c01 = c11 = c21 = c31 = wasm_v128_load(bias + 4);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = wasm_f32x4_splat(0.0f);
  }
  for (int p = 0; p < kc; p++) {
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    v128_t x;
    x = wasm_v128_load32_splat(a + 0), c00 = MADD(x, b0, c00), c01 = MADD(x, b1, c01);
    x = wasm_v128_load32_splat(a + 1), c10 = MADD(x, b0, c10), c11 = MADD(x, b1, c11);
    x = wasm_v128_load32_splat(a + 2), c20 = MADD(x, b0, c20), c21 = MADD(x, b1, c21);
    x = wasm_v128_load32_splat(a + 3), c30 = MADD(x, b0, c30), c31 = MADD(x, b1, c31);
    a += MR, b += NR;
  }
  if (relu) {
    const v128_t z = wasm_f32x4_splat(0.0f);
    c00 = wasm_f32x4_pmax(c00, z), c01 = wasm_f32x4_pmax(c01, z), c10 = wasm_f32x4_pmax(c10, z);
    c11 = wasm_f32x4_pmax(c11, z), c20 = wasm_f32x4_pmax(c20, z), c21 = wasm_f32x4_pmax(c21, z);
    c30 = wasm_f32x4_pmax(c30, z), c31 = wasm_f32x4_pmax(c31, z);
  }
  wasm_v128_store(c + 0 * ldc, c00), wasm_v128_store(c + 0 * ldc + 4, c01);
  wasm_v128_store(c + 1 * ldc, c10), wasm_v128_store(c + 1 * ldc + 4, c11);
  wasm_v128_store(c + 2 * ldc, c20), wasm_v128_store(c + 2 * ldc + 4, c21);
  wasm_v128_store(c + 3 * ldc, c30), wasm_v128_store(c + 3 * ldc + 4, c31);
}

/* A tile of mr ≤ MR rows and nr ≤ NR columns: full tiles in place, edges through `tile` (MR·NR floats). */
static void tile_update(int kc, const float *a, const float *b, float *c, int ldc, int mr, int nr, int acc,
                        float *tile, const float *bias, int relu) {
  if (mr == MR && nr == NR) {
    micro(kc, a, b, c, ldc, acc, bias, relu);
    return;
  }
  if (acc) {
    for (int i = 0; i < mr; i++)
      for (int j = 0; j < nr; j++) tile[i * NR + j] = c[i * ldc + j];
  }
  if (!acc && bias) {
    /* bias may end before NR: read only nr of it */
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) tile[i * NR + j] = j < nr ? bias[j] : 0.0f;
    acc = 1;
  }
  micro(kc, a, b, tile, NR, acc, 0, relu);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = tile[i * NR + j];
}

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

/* [lo, hi) of n items for part `part` of `nparts` (contiguous, sizes differ by at most one). */
static inline int split_lo(int n, int part, int nparts) { return (int)(((long long)n * part) / nparts); }

/*
 * Conv2D filter gradient, NHWC, dilation 1:
 *   dw[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh+kh−pt, ow·sw+kw−pl, ci] · dy[b,oh,ow,co]
 * As a GEMM dw(K×O) = im2col(x)ᵀ(K×M) · dy(M×O), with M = B·OH·OW and
 * K = KH·KW·C, summed over M in chunks that fit the cache: each chunk packs
 * its slice of im2col(x) as MR-row panels and dy as NR-column panels.
 * Parts split the K rows (or the O columns when K is too short to share).
 * scratch: `scratch_floats` floats, 16-byte aligned.
 */
void conv_filter_grad(const float *x, const float *dy, float *dw, float *scratch, int scratch_floats, int B, int H,
                      int W, int C, int OH, int OW, int O, int KH, int KW, int sh, int sw, int pt, int pl, int part,
                      int nparts) {
  const int K = KH * KW * C, M = B * OH * OW;
  const int kblocks = (K + MR - 1) / MR, oblocks = (O + NR - 1) / NR;
  int kb0 = 0, kb1 = kblocks, ob0 = 0, ob1 = oblocks;
  if (kblocks >= 2 * nparts || kblocks >= oblocks) {
    kb0 = split_lo(kblocks, part, nparts), kb1 = split_lo(kblocks, part + 1, nparts);
  } else {
    ob0 = split_lo(oblocks, part, nparts), ob1 = split_lo(oblocks, part + 1, nparts);
  }
  const int nkb = kb1 - kb0, nob = ob1 - ob0;
  if (nkb <= 0 || nob <= 0) return;
  const int k_lo = kb0 * MR, k_hi = min(kb1 * MR, K), o_lo = ob0 * NR, o_hi = min(ob1 * NR, O);
  float *tile = scratch;
  float *pack = scratch + MR * NR;
  const int room = scratch_floats - MR * NR;
  int mc = room / (nkb * MR + nob * NR);
  mc = min(max(mc & ~3, 4), M);
  float *apack = pack, *bpack = pack + nkb * MR * mc;
  for (int m0 = 0; m0 < M; m0 += mc) {
    const int mlen = min(mc, M - m0);
    /* pack im2col(x)ᵀ rows [k_lo, k_hi): apack[kb][p][i] */
    for (int p = 0; p < mlen; p++) {
      const int m = m0 + p, b = m / (OH * OW), r = m - b * OH * OW, oh = r / OW, ow = r - oh * OW;
      const int khw0 = k_lo / C;
      int c0 = k_lo - khw0 * C, kh = khw0 / KW, kw = khw0 - kh * KW;
      for (int k = k_lo; k < k_hi;) {
        const int cn = min(C - c0, k_hi - k);
        const int ih = oh * sh + kh - pt, iw = ow * sw + kw - pl;
        const int kk = k - k_lo;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
          const float *src = x + ((size_t)(b * H + ih) * W + iw) * C + c0;
          for (int c = 0; c < cn; c++) {
            const int q = kk + c, blk = q / MR;
            apack[(size_t)blk * MR * mc + p * MR + (q - blk * MR)] = src[c];
          }
        } else {
          for (int c = 0; c < cn; c++) {
            const int q = kk + c, blk = q / MR;
            apack[(size_t)blk * MR * mc + p * MR + (q - blk * MR)] = 0.0f;
          }
        }
        k += cn, c0 = 0;
        if (++kw == KW) kw = 0, kh++;
      }
      /* rows past K in the last block: zeros, so no stale NaN or denormal slows the kernel */
      for (int q = k_hi - k_lo; q < nkb * MR; q++) {
        const int blk = q / MR;
        apack[(size_t)blk * MR * mc + p * MR + (q - blk * MR)] = 0.0f;
      }
      /* dy columns [o_lo, o_hi): bpack[ob][p][j] */
      const float *drow = dy + (size_t)m * O;
      for (int ob = 0; ob < nob; ob++) {
        float *dst = bpack + (size_t)ob * NR * mc + p * NR;
        const int o = o_lo + ob * NR, on = min(NR, o_hi - o);
        if (on == NR) {
          wasm_v128_store(dst, wasm_v128_load(drow + o));
          wasm_v128_store(dst + 4, wasm_v128_load(drow + o + 4));
        } else {
          for (int j = 0; j < NR; j++) dst[j] = j < on ? drow[o + j] : 0.0f;
        }
      }
    }
    for (int kb = 0; kb < nkb; kb++) {
      const int k = k_lo + kb * MR, mr = min(MR, K - k);
      for (int ob = 0; ob < nob; ob++) {
        const int o = o_lo + ob * NR, nr = min(NR, O - o);
        tile_update(mlen, apack + (size_t)kb * MR * mc, bpack + (size_t)ob * NR * mc, dw + (size_t)k * O + o, O, mr,
                    nr, m0 > 0, tile, 0, 0);
      }
    }
  }
}

/*
 * Packs a conv weight matrix for conv_gemm as NR-column panels, zero padded:
 * bpack[nb][k][j] = w(k, nb·NR + j). With `transposed` = 0, w is the forward
 * filter [KH,KW,C,N] read as K×N (K = KH·KW·C). With `transposed` = 1, w is a
 * filter [KH,KW,N,C] and row k = (kh,kw,c) holds w[kh,kw,·,c]: the input
 * gradient's "filter". Parts split the panels.
 */
void pack_weights(const float *w, float *bpack, int KHW, int C, int N, int transposed, int part, int nparts) {
  const int K = KHW * C, nblocks = (N + NR - 1) / NR;
  const int nb0 = split_lo(nblocks, part, nparts), nb1 = split_lo(nblocks, part + 1, nparts);
  for (int nb = nb0; nb < nb1; nb++) {
    float *dst = bpack + (size_t)nb * K * NR;
    const int n0 = nb * NR, nn = min(NR, N - n0);
    for (int k = 0; k < K; k++, dst += NR) {
      if (!transposed) {
        const float *src = w + (size_t)k * N + n0;
        if (nn == NR) {
          wasm_v128_store(dst, wasm_v128_load(src));
          wasm_v128_store(dst + 4, wasm_v128_load(src + 4));
        } else {
          for (int j = 0; j < NR; j++) dst[j] = j < nn ? src[j] : 0.0f;
        }
      } else {
        const int khw = k / C, c = k - khw * C;
        const float *src = w + (size_t)khw * N * C + c;
        for (int j = 0; j < NR; j++) dst[j] = j < nn ? src[(size_t)(n0 + j) * C] : 0.0f;
      }
    }
  }
}

/*
 * A convolution-shaped GEMM: out[b,y,x,n] = Σ_{kh,kw,c} src[b,sy,sx,c] · w(kh,kw,c; n)
 * over output rows (b,y,x) of an OH×OW map, where the source row and column
 * are sy = (y·ysh + kh·ksh + offh) / divh (likewise sx), and terms whose
 * numerator is not a multiple of div, or that fall outside src, are zero.
 *   - forward conv: ys = stride, ks = dilation, off = −pad, div = 1;
 *   - input gradient: ys = 1, ks = −1, off = pad, div = stride, src = dy,
 *     weights packed with transposed = 1.
 * w is packed by pack_weights. bias (N floats, or null) starts each sum;
 * relu = 1 clamps outputs at 0. Parts split the output rows; each part packs
 * MR-row panels of im2col(src) for a cache-sized block of rows × K.
 */
void conv_gemm(const float *src, const float *bpack, float *out, const float *bias, int relu, float *scratch,
               int scratch_floats, int B, int SH,
               int SW, int SC, int OH, int OW, int N, int KH, int KW, int ysh, int ysw, int ksh, int ksw, int offh,
               int offw, int divh, int divw, int part, int nparts) {
  const int K = KH * KW * SC, M = B * OH * OW;
  const int mblocks = (M + MR - 1) / MR, nblocks = (N + NR - 1) / NR;
  const int mb0 = split_lo(mblocks, part, nparts), mb1 = split_lo(mblocks, part + 1, nparts);
  if (mb1 <= mb0) return;
  float *tile = scratch;
  float *apack = scratch + MR * NR;
  const int room = scratch_floats - MR * NR;
  /* K in blocks of at most kc, rows in blocks of mcb panels, apack = mcb·MR·kc floats */
  const int kc = min(K, 512);
  int mcb = room / (MR * kc);
  mcb = max(1, min(mcb, 32));
  for (int mbs = mb0; mbs < mb1; mbs += mcb) {
    const int nmb = min(mcb, mb1 - mbs);
    for (int k0 = 0; k0 < K; k0 += kc) {
      const int klen = min(kc, K - k0);
      /* pack apack[mb][p][i] = im2col(src)[row mbs·MR + mb·MR + i][k0 + p] */
      for (int mb = 0; mb < nmb; mb++) {
        float *panel = apack + (size_t)mb * MR * klen;
        for (int i = 0; i < MR; i++) {
          const int m = (mbs + mb) * MR + i;
          if (m >= M) {
            for (int p = 0; p < klen; p++) panel[p * MR + i] = 0.0f;
            continue;
          }
          const int b = m / (OH * OW), r = m - b * OH * OW, y = r / OW, xx = r - y * OW;
          const int khw0 = k0 / SC;
          int c0 = k0 - khw0 * SC, kh = khw0 / KW, kw = khw0 - kh * KW;
          for (int k = k0; k < k0 + klen;) {
            const int cn = min(SC - c0, k0 + klen - k);
            int sy = y * ysh + kh * ksh + offh, sx = xx * ysw + kw * ksw + offw, ok = 1;
            if (divh > 1) {
              const int q = sy >= 0 ? sy / divh : -1;
              ok = q * divh == sy, sy = q;
            }
            if (divw > 1) {
              const int q = sx >= 0 ? sx / divw : -1;
              ok &= q * divw == sx, sx = q;
            }
            float *dst = panel + (size_t)(k - k0) * MR + i;
            if (ok && sy >= 0 && sx >= 0 && sy < SH && sx < SW) {
              const float *s = src + ((size_t)(b * SH + sy) * SW + sx) * SC + c0;
              for (int c = 0; c < cn; c++) dst[c * MR] = s[c];
            } else {
              for (int c = 0; c < cn; c++) dst[c * MR] = 0.0f;
            }
            k += cn, c0 = 0;
            if (++kw == KW) kw = 0, kh++;
          }
        }
      }
      for (int nb = 0; nb < nblocks; nb++) {
        const int n = nb * NR, nr = min(NR, N - n);
        const float *bp = bpack + (size_t)nb * K * NR + (size_t)k0 * NR;
        for (int mb = 0; mb < nmb; mb++) {
          const int m = (mbs + mb) * MR, mr = min(MR, M - m);
          tile_update(klen, apack + (size_t)mb * MR * klen, bp, out + (size_t)m * N + n, N, mr, nr, k0 > 0, tile,
                      bias ? bias + n : 0, relu && k0 + klen == K);
        }
      }
    }
  }
}

/* A tight loop of independent multiply-adds (12 accumulators): the machine's SIMD peak. Returns a checksum. */
float peak_madd(int iters) {
  v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  v128_t a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const v128_t x = wasm_f32x4_splat(0.999f), y = wasm_f32x4_splat(0.001f);
  for (int i = 0; i < iters; i++) {
    a0 = MADD(a0, x, y), a1 = MADD(a1, x, y), a2 = MADD(a2, x, y), a3 = MADD(a3, x, y);
    a4 = MADD(a4, x, y), a5 = MADD(a5, x, y), a6 = MADD(a6, x, y), a7 = MADD(a7, x, y);
    a8 = MADD(a8, x, y), a9 = MADD(a9, x, y), a10 = MADD(a10, x, y), a11 = MADD(a11, x, y);
  }
  v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                            wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
  s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(a8, a9), wasm_f32x4_add(a10, a11)));
  return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
         wasm_f32x4_extract_lane(s, 3);
}

/*
 * Conv2D input gradient for few input channels (the first layer's C = 1),
 * where conv_gemm would fill one lane in NR: for each input pixel and
 * channel, Σ over taps of the dot product dy[b,oh,ow,·] · w[kh,kw,ci,·],
 * vectorized along the O output channels (contiguous in both).
 *   oh = (h + pt − kh) / sh, skipped unless whole and in range (likewise ow).
 * Parts split the B·H·W input pixels.
 */
void conv_input_grad_narrow(const float *dy, const float *w, float *dx, int B, int H, int W, int C, int OH, int OW,
                            int O, int KH, int KW, int sh, int sw, int pt, int pl, int part, int nparts) {
  const int M = B * H * W, m0 = split_lo(M, part, nparts), m1 = split_lo(M, part + 1, nparts);
  const int O4 = O & ~3;
  for (int m = m0; m < m1; m++) {
    const int b = m / (H * W), r = m - b * H * W, h = r / W, x = r - h * W;
    for (int ci = 0; ci < C; ci++) {
      v128_t acc = wasm_f32x4_splat(0.0f);
      float tail = 0.0f;
      for (int kh = 0; kh < KH; kh++) {
        const int nh = h + pt - kh, oh = nh / sh;
        if (nh < 0 || oh * sh != nh || oh >= OH) continue;
        for (int kw = 0; kw < KW; kw++) {
          const int nw = x + pl - kw, ow = nw / sw;
          if (nw < 0 || ow * sw != nw || ow >= OW) continue;
          const float *g = dy + ((size_t)(b * OH + oh) * OW + ow) * O;
          const float *f = w + ((size_t)(kh * KW + kw) * C + ci) * O;
          int o = 0;
          for (; o < O4; o += 4) acc = MADD(wasm_v128_load(g + o), wasm_v128_load(f + o), acc);
          for (; o < O; o++) tail += g[o] * f[o];
        }
      }
      dx[(size_t)m * C + ci] = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
                               wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3) + tail;
    }
  }
}

/* ---- batch norm over x[N][C], statistics per channel c (rows split across parts) ---- */

/* Rows of a part are summed in float32 blocks of this many rows, then added into float64 partials. */
#define BN_BLOCK 64

/*
 * Per-channel sums over rows [r0, r1) of part `part` into partials + part·2C
 * (float64): mode 0 (statistics): Σ(x − x[0,c]) and Σ(x − x[0,c])², shifted
 * by the first row so E[x²] − E[x]² stays accurate when |mean| ≫ std;
 * mode 1 (gradient): Σdy and Σdy·(x − mean[c]) with dy = y, mean = m.
 */
static void bn_sums(const float *x, const float *y, const float *m, int mode, int N, int C, double *partials,
                    int part, int nparts) {
  const int r0 = split_lo(N, part, nparts), r1 = split_lo(N, part + 1, nparts);
  double *s1 = partials + (size_t)part * 2 * C, *s2 = s1 + C;
  for (int c = 0; c < C; c++) s1[c] = s2[c] = 0.0;
  const int C4 = C & ~3;
  for (int r = r0; r < r1; r += BN_BLOCK) {
    const int rn = min(BN_BLOCK, r1 - r);
    for (int c = 0; c < C4; c += 4) {
      const v128_t sh = wasm_v128_load(mode ? m + c : x + c);
      v128_t a = wasm_f32x4_splat(0.0f), q = a;
      for (int i = 0; i < rn; i++) {
        const size_t o = (size_t)(r + i) * C + c;
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(x + o), sh);
        if (mode) {
          const v128_t g = wasm_v128_load(y + o);
          a = wasm_f32x4_add(a, g), q = MADD(g, d, q);
        } else {
          a = wasm_f32x4_add(a, d), q = MADD(d, d, q);
        }
      }
      s1[c] += wasm_f32x4_extract_lane(a, 0), s1[c + 1] += wasm_f32x4_extract_lane(a, 1);
      s1[c + 2] += wasm_f32x4_extract_lane(a, 2), s1[c + 3] += wasm_f32x4_extract_lane(a, 3);
      s2[c] += wasm_f32x4_extract_lane(q, 0), s2[c + 1] += wasm_f32x4_extract_lane(q, 1);
      s2[c + 2] += wasm_f32x4_extract_lane(q, 2), s2[c + 3] += wasm_f32x4_extract_lane(q, 3);
    }
    for (int c = C4; c < C; c++) {
      const float sh = mode ? m[c] : x[c];
      for (int i = 0; i < rn; i++) {
        const size_t o = (size_t)(r + i) * C + c;
        const double d = x[o] - sh;
        if (mode) s1[c] += y[o], s2[c] += y[o] * d;
        else s1[c] += d, s2[c] += d * d;
      }
    }
  }
}

/* Batch statistics' shifted sums: see bn_sums (mode 0). */
void bn_stats(const float *x, int N, int C, double *partials, int part, int nparts) {
  bn_sums(x, 0, 0, 0, N, C, partials, part, nparts);
}

/* Σdy and Σdy·(x − mean) per channel: see bn_sums (mode 1). */
void bn_grad_sums(const float *dy, const float *x, const float *mean, int N, int C, double *partials, int part,
                  int nparts) {
  bn_sums(x, dy, mean, 1, N, C, partials, part, nparts);
}

/*
 * out = coef[c]·a − coef[C + c]·b − coef[2C + c] per element over rows of
 * part `part` (b may be null: then out = coef[c]·a + coef[2C + c]·(−1)).
 *   forward affine: a = x, coef = [scale, 0, −offset], b = null;
 *   backward:       a = dy, b = x, coef = [A, K, B].
 */
void bn_apply(const float *a, const float *b, float *out, const float *coef, int N, int C, int part, int nparts) {
  const int r0 = split_lo(N, part, nparts), r1 = split_lo(N, part + 1, nparts);
  const int C4 = C & ~3;
  for (int r = r0; r < r1; r++) {
    const size_t o = (size_t)r * C;
    int c = 0;
    for (; c < C4; c += 4) {
      v128_t v = wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(coef + c), wasm_v128_load(a + o + c)),
                                wasm_v128_load(coef + 2 * C + c));
      if (b) v = wasm_f32x4_sub(v, wasm_f32x4_mul(wasm_v128_load(coef + C + c), wasm_v128_load(b + o + c)));
      wasm_v128_store(out + o + c, v);
    }
    for (; c < C; c++) {
      float v = coef[c] * a[o + c] - coef[2 * C + c];
      if (b) v -= coef[C + c] * b[o + c];
      out[o + c] = v;
    }
  }
}

/* ---- element-wise and pooling loops ---- */

/*
 * LeakyReLU over n elements (split across parts in runs of 4): without dy,
 * y = x > 0 ? x : α·x; with dy (the gradient), y = x > 0 ? dy : α·dy.
 */
void leaky(const float *x, const float *dy, float *y, int n, float alpha, int part, int nparts) {
  const int n4 = n >> 2;
  const int i0 = split_lo(n4, part, nparts) * 4, i1 = part + 1 == nparts ? n : split_lo(n4, part + 1, nparts) * 4;
  const v128_t a = wasm_f32x4_splat(alpha), z = wasm_f32x4_splat(0.0f);
  const float *src = dy ? dy : x;
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    const v128_t v = wasm_v128_load(src + i), pos = wasm_f32x4_gt(wasm_v128_load(x + i), z);
    wasm_v128_store(y + i, wasm_v128_bitselect(v, wasm_f32x4_mul(v, a), pos));
  }
  for (; i < i1; i++) y[i] = x[i] > 0.0f ? src[i] : src[i] * alpha;
}

/*
 * 2×2 stride-2 max-pool gradient over output rows of part `part` (row =
 * b·OH + oh): each output gradient goes to the first maximum of its window
 * in scan order, the cpu backend's rule. Rows or columns past the last full
 * window (odd H or W) are not written: the caller zeroes dx first then.
 */
void pool2x2_grad(const float *x, const float *dy, float *dx, int B, int H, int W, int C, int OH, int OW, int part,
                  int nparts) {
  const int r0 = split_lo(B * OH, part, nparts), r1 = split_lo(B * OH, part + 1, nparts);
  const size_t row = (size_t)W * C;
  const int C4 = C & ~3;
  for (int r = r0; r < r1; r++) {
    const int b = r / OH, oh = r - b * OH;
    for (int ow = 0; ow < OW; ow++) {
      const size_t p00 = ((size_t)(b * H + 2 * oh) * W + 2 * ow) * C, p01 = p00 + C, p10 = p00 + row, p11 = p10 + C;
      const float *g = dy + ((size_t)(b * OH + oh) * OW + ow) * C;
      int c = 0;
      for (; c < C4; c += 4) {
        const v128_t v00 = wasm_v128_load(x + p00 + c), v01 = wasm_v128_load(x + p01 + c);
        const v128_t v10 = wasm_v128_load(x + p10 + c), v11 = wasm_v128_load(x + p11 + c);
        const v128_t gv = wasm_v128_load(g + c);
        const v128_t c1 = wasm_f32x4_gt(v01, v00), m1 = wasm_v128_bitselect(v01, v00, c1);
        const v128_t c2 = wasm_f32x4_gt(v10, m1), m2 = wasm_v128_bitselect(v10, m1, c2);
        const v128_t c3 = wasm_f32x4_gt(v11, m2);
        const v128_t later2 = wasm_v128_or(c2, c3), later1 = wasm_v128_or(c1, later2);
        wasm_v128_store(dx + p11 + c, wasm_v128_and(gv, c3));
        wasm_v128_store(dx + p10 + c, wasm_v128_andnot(wasm_v128_and(gv, c2), c3));
        wasm_v128_store(dx + p01 + c, wasm_v128_andnot(wasm_v128_and(gv, c1), later2));
        wasm_v128_store(dx + p00 + c, wasm_v128_andnot(gv, later1));
      }
      for (; c < C; c++) {
        const float v00 = x[p00 + c], v01 = x[p01 + c], v10 = x[p10 + c], v11 = x[p11 + c];
        float m = v00;
        int k = 0;
        if (v01 > m) m = v01, k = 1;
        if (v10 > m) m = v10, k = 2;
        if (v11 > m) k = 3;
        dx[p00 + c] = k == 0 ? g[c] : 0.0f;
        dx[p01 + c] = k == 1 ? g[c] : 0.0f;
        dx[p10 + c] = k == 2 ? g[c] : 0.0f;
        dx[p11 + c] = k == 3 ? g[c] : 0.0f;
      }
    }
  }
}
