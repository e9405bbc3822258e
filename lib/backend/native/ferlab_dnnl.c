// ferlab's native training kernels: a thin C layer over oneDNN (the library
// PyTorch calls for CPU convolutions), loaded by Deno through FFI.
//
// Why a shim and not oneDNN's C API straight from TypeScript: oneDNN wants
// memory descriptors (structs of ~1 KB) passed by pointer and hands back
// opaque handles, while Deno's FFI under a path-limited `--allow-ffi` refuses
// Deno.UnsafePointer. So TypeScript passes the wasm heap as one buffer plus
// byte offsets and shapes as integers, and this file keeps every oneDNN
// object (engine, stream, primitives cached per shape) on its side.
//
// Layouts are TF.js's: activations NHWC, conv filters HWIO [KH,KW,C,O].
// Activations stay in NHWC (oneDNN's nspc kernels read it directly, so no
// reorder of the large tensors); filters are reordered into the layout the
// chosen kernel wants and back (small tensors), which is what PyTorch's
// channels-last path does too.
//
// Rebuild: deno task build:native (needs clang-16 and libdnnl-dev).
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int n);
extern int omp_get_max_threads(void);

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char last_error[512];
// Every primitive is made with a scratchpad of ours (kept with its cache entry): with the library's own, oneDNN
// allocates and frees it on every call, and a fresh allocation of a few MB costs page faults each time (measured:
// batch norm forward 16 ms instead of 2 ms in the Deno process).
static dnnl_primitive_attr_t user_scratchpad;

#define CHECK(call)                                                                          \
  do {                                                                                       \
    dnnl_status_t s_ = (call);                                                               \
    if (s_ != dnnl_success) {                                                                \
      snprintf(last_error, sizeof last_error, "%s failed (oneDNN status %d) at %s:%d", #call, \
               (int)s_, __FILE__, __LINE__);                                                 \
      return -(int)s_ - 1;                                                                   \
    }                                                                                        \
  } while (0)

// ---------------------------------------------------------------------------
// The primitive cache: one entry per (operation, geometry), built on first use.

#define KEY_INTS 24
enum { CONV_FWD = 0, CONV_BWD_DATA = 1, CONV_BWD_WEIGHTS = 2, BN_FWD = 3, BN_BWD = 4 };

typedef struct {
  dnnl_primitive_t prim;
  dnnl_memory_t mem;  // in the kernel's layout
  void *buf;          // that layout's storage (ours, outside the wasm heap)
} Reorder;

typedef struct Entry {
  int32_t key[KEY_INTS];
  dnnl_primitive_t prim;
  dnnl_memory_t m[10];  // the primitive's arguments on user (heap) memory
  int args[10];        // their DNNL_ARG_* ids
  int nargs;
  Reorder weights;  // user filter → kernel layout (forward, backward data) or back (backward weights)
  dnnl_memory_t user_weights;
  void *scratch;  // the primitive's scratchpad (see user_scratchpad)
  dnnl_memory_t scratch_mem;
  struct Entry *next;
} Entry;

static Entry *cache;
static int cache_size;
#define CACHE_MAX 256

static Entry *find(const int32_t *key) {
  for (Entry *e = cache; e; e = e->next)
    if (memcmp(e->key, key, sizeof e->key) == 0) return e;
  return NULL;
}

static void destroy_entry(Entry *e) {
  dnnl_primitive_destroy(e->prim);
  if (e->scratch_mem) dnnl_memory_destroy(e->scratch_mem);
  free(e->scratch);
  for (int i = 0; i < e->nargs; i++) dnnl_memory_destroy(e->m[i]);
  if (e->weights.prim) {
    dnnl_primitive_destroy(e->weights.prim);
    dnnl_memory_destroy(e->weights.mem);
    free(e->weights.buf);
    dnnl_memory_destroy(e->user_weights);
  }
  free(e);
}

static void insert(Entry *e) {
  if (cache_size >= CACHE_MAX) {  // shapes come in a few dozen per model: dropping all is rare and cheap
    while (cache) {
      Entry *n = cache->next;
      destroy_entry(cache);
      cache = n;
    }
    cache_size = 0;
  }
  e->next = cache;
  cache = e;
  cache_size++;
}

/** The primitive's scratchpad, allocated once with its cache entry and passed on every call. */
static int add_scratchpad(Entry *e, const_dnnl_primitive_desc_t pd) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
  if (bytes == 0) return 0;
  if (posix_memalign(&e->scratch, 64, bytes)) {
    snprintf(last_error, sizeof last_error, "out of memory for a %zu-byte scratchpad", bytes);
    return -100;
  }
  CHECK(dnnl_memory_create(&e->scratch_mem, md, engine, e->scratch));
  return 0;
}

/** The entry's primitive and scratchpad from `pd`, which it destroys. */
static int create_primitive(Entry *e, dnnl_primitive_desc_t pd) {
  int r = add_scratchpad(e, pd);
  dnnl_status_t s = r ? dnnl_success : dnnl_primitive_create(&e->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (r) return r;
  CHECK(s);
  return 0;
}

static int add_arg(Entry *e, int arg, const dnnl_memory_desc_t *md) {
  CHECK(dnnl_memory_create(&e->m[e->nargs], md, engine, DNNL_MEMORY_NONE));
  e->args[e->nargs++] = arg;
  return 0;
}

// ---------------------------------------------------------------------------
// Setup and facts.

/** Creates the engine and stream and sets oneDNN's (OpenMP's) thread count. Returns 0 or a negative status. */
int ferlab_init(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  if (engine) return 0;
  CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
  CHECK(dnnl_primitive_attr_create(&user_scratchpad));
  CHECK(dnnl_primitive_attr_set_scratchpad_mode(user_scratchpad, dnnl_scratchpad_mode_user));
  return 0;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

/** Writes "<version> <isa> <threads>" (e.g. "2.6.3 avx512_core_bf16 2") into `out`. */
int ferlab_info(char *out, int len) {
  const dnnl_version_t *v = dnnl_version();
  return snprintf(out, (size_t)len, "%d.%d.%d %s %d", v->major, v->minor, v->patch,
                  isa_name(dnnl_get_effective_cpu_isa()), omp_get_max_threads());
}

/** The last error's message, NUL-terminated, into `out`. */
int ferlab_last_error(char *out, int len) { return snprintf(out, (size_t)len, "%s", last_error); }

/** The kernel oneDNN chose for the cached primitive with this key (for the bench), or "" if none. */
int ferlab_impl(const int32_t *key, char *out, int len) {
  Entry *e = find(key);
  const char *name = "";
  if (e) {
    const_dnnl_primitive_desc_t pd;
    if (dnnl_primitive_get_primitive_desc(e->prim, &pd) == dnnl_success)
      dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
  }
  return snprintf(out, (size_t)len, "%s", name);
}

// ---------------------------------------------------------------------------
// Convolutions.
//
// g (the geometry, also the cache key's tail): B, H, W, C, O, KH, KW, OH, OW,
// sh, sw, dh, dw (TF.js dilations, ≥ 1), pt, pl, pb, pr, activation (0 linear,
// 1 relu, 2 leaky relu, 3 relu6), has_bias.
enum { G_B, G_H, G_W, G_C, G_O, G_KH, G_KW, G_OH, G_OW, G_SH, G_SW, G_DH, G_DW, G_PT, G_PL, G_PB, G_PR, G_ACT,
       G_BIAS, G_INTS };

typedef struct {
  dnnl_memory_desc_t src, weights_user, weights_any, bias, dst;
  dnnl_dims_t strides, dilates, pad_l, pad_r;
} ConvDescs;

static int conv_descs(const int32_t *g, ConvDescs *d) {
  dnnl_dims_t src = {g[G_B], g[G_C], g[G_H], g[G_W]}, dst = {g[G_B], g[G_O], g[G_OH], g[G_OW]};
  dnnl_dims_t w = {g[G_O], g[G_C], g[G_KH], g[G_KW]}, b = {g[G_O]};
  CHECK(dnnl_memory_desc_init_by_tag(&d->src, 4, src, dnnl_f32, dnnl_nhwc));
  CHECK(dnnl_memory_desc_init_by_tag(&d->dst, 4, dst, dnnl_f32, dnnl_nhwc));
  CHECK(dnnl_memory_desc_init_by_tag(&d->weights_user, 4, w, dnnl_f32, dnnl_hwio));
  CHECK(dnnl_memory_desc_init_by_tag(&d->weights_any, 4, w, dnnl_f32, dnnl_format_tag_any));
  CHECK(dnnl_memory_desc_init_by_tag(&d->bias, 1, b, dnnl_f32, dnnl_a));
  d->strides[0] = g[G_SH], d->strides[1] = g[G_SW];
  d->dilates[0] = g[G_DH] - 1, d->dilates[1] = g[G_DW] - 1;
  d->pad_l[0] = g[G_PT], d->pad_l[1] = g[G_PL];
  d->pad_r[0] = g[G_PB], d->pad_r[1] = g[G_PR];
  return 0;
}

static int forward_pd(const int32_t *g, const ConvDescs *d, dnnl_primitive_desc_t *pd) {
  dnnl_convolution_desc_t cd;
  CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &d->src,
                                                   &d->weights_any, g[G_BIAS] ? &d->bias : NULL, &d->dst,
                                                   d->strides, d->dilates, d->pad_l, d->pad_r));
  dnnl_primitive_attr_t attr;
  CHECK(dnnl_primitive_attr_clone(&attr, user_scratchpad));
  if (g[G_ACT]) {
    dnnl_post_ops_t ops;
    CHECK(dnnl_post_ops_create(&ops));
    float alpha = 0.f, beta = 0.f;
    dnnl_alg_kind_t alg = dnnl_eltwise_relu;
    if (g[G_ACT] == 2) memcpy(&alpha, &g[G_INTS], sizeof alpha);  // the leaky slope, as float bits after g
    if (g[G_ACT] == 3) alg = dnnl_eltwise_clip, alpha = 0.f, beta = 6.f;
    CHECK(dnnl_post_ops_append_eltwise(ops, 1.f, alg, alpha, beta));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    dnnl_post_ops_destroy(ops);
  }
  dnnl_status_t s = dnnl_primitive_desc_create(pd, &cd, attr, engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  CHECK(s);
  return 0;
}

/** A reorder between the user's HWIO filter and the kernel's layout, when they differ. */
static int make_weights_reorder(Entry *e, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *kernel,
                                int to_kernel) {
  if (dnnl_memory_desc_equal(user, kernel)) return 0;
  size_t bytes = dnnl_memory_desc_get_size(kernel);
  if (posix_memalign(&e->weights.buf, 64, bytes ? bytes : 64)) {
    snprintf(last_error, sizeof last_error, "out of memory for a %zu-byte filter buffer", bytes);
    return -100;
  }
  CHECK(dnnl_memory_create(&e->weights.mem, kernel, engine, e->weights.buf));
  CHECK(dnnl_memory_create(&e->user_weights, user, engine, DNNL_MEMORY_NONE));
  dnnl_primitive_desc_t rpd;
  const dnnl_memory_desc_t *from = to_kernel ? user : kernel, *to = to_kernel ? kernel : user;
  CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL));
  dnnl_status_t s = dnnl_primitive_create(&e->weights.prim, rpd);
  dnnl_primitive_desc_destroy(rpd);
  CHECK(s);
  return 0;
}

static int build_conv(int kind, const int32_t *g, Entry *e) {
  ConvDescs d;
  int r = conv_descs(g, &d);
  if (r) return r;
  dnnl_primitive_desc_t fwd, pd;
  if ((r = forward_pd(g, &d, &fwd))) return r;
  if (kind == CONV_FWD) {
    pd = fwd;
  } else {
    dnnl_convolution_desc_t cd;
    if (kind == CONV_BWD_DATA) {
      CHECK(dnnl_dilated_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &d.src, &d.weights_any,
                                                             &d.dst, d.strides, d.dilates, d.pad_l, d.pad_r));
    } else {
      CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &d.src,
                                                                &d.weights_any, g[G_BIAS] ? &d.bias : NULL,
                                                                &d.dst, d.strides, d.dilates, d.pad_l, d.pad_r));
    }
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, user_scratchpad, engine, fwd);
    dnnl_primitive_desc_destroy(fwd);
    CHECK(s);
  }
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(
      pd, kind == CONV_BWD_WEIGHTS ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  if ((r = make_weights_reorder(e, &d.weights_user, wmd, kind != CONV_BWD_WEIGHTS))) return r;
  // Arguments in the order ferlab_conv passes pointers: a, b, (bias), out.
  if (kind == CONV_FWD) {
    if ((r = add_arg(e, DNNL_ARG_SRC, &d.src)) || (r = add_arg(e, DNNL_ARG_WEIGHTS, wmd)) ||
        (r = add_arg(e, DNNL_ARG_DST, &d.dst)) || (g[G_BIAS] && (r = add_arg(e, DNNL_ARG_BIAS, &d.bias))))
      return r;
  } else if (kind == CONV_BWD_DATA) {
    if ((r = add_arg(e, DNNL_ARG_DIFF_DST, &d.dst)) || (r = add_arg(e, DNNL_ARG_WEIGHTS, wmd)) ||
        (r = add_arg(e, DNNL_ARG_DIFF_SRC, &d.src)))
      return r;
  } else {
    if ((r = add_arg(e, DNNL_ARG_SRC, &d.src)) || (r = add_arg(e, DNNL_ARG_DIFF_DST, &d.dst)) ||
        (r = add_arg(e, DNNL_ARG_DIFF_WEIGHTS, wmd)) ||
        (g[G_BIAS] && (r = add_arg(e, DNNL_ARG_DIFF_BIAS, &d.bias))))
      return r;
  }
  return create_primitive(e, pd);
}

static int run(Entry *e) {
  dnnl_exec_arg_t args[11];
  int n = e->nargs;
  for (int i = 0; i < n; i++) args[i].arg = e->args[i], args[i].memory = e->m[i];
  if (e->scratch_mem) args[n].arg = DNNL_ARG_SCRATCHPAD, args[n++].memory = e->scratch_mem;
  CHECK(dnnl_primitive_execute(e->prim, stream, n, args));
  CHECK(dnnl_stream_wait(stream));
  return 0;
}

static int run_reorder(Entry *e, void *user) {
  CHECK(dnnl_memory_set_data_handle(e->user_weights, user));
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, NULL}, {DNNL_ARG_TO, NULL}};
  int to_kernel = e->key[0] != CONV_BWD_WEIGHTS;
  args[0].memory = to_kernel ? e->user_weights : e->weights.mem;
  args[1].memory = to_kernel ? e->weights.mem : e->user_weights;
  CHECK(dnnl_primitive_execute(e->weights.prim, stream, 2, args));
  CHECK(dnnl_stream_wait(stream));
  return 0;
}

static Entry *entry_for(int kind, const int32_t *g, int nints, int (*build)(int, const int32_t *, Entry *), int *err) {
  int32_t key[KEY_INTS] = {kind};
  memcpy(key + 1, g, (size_t)nints * sizeof *g);
  Entry *e = find(key);
  if (e) return e;
  if (!engine && (*err = ferlab_init(0))) return NULL;
  e = calloc(1, sizeof *e);
  memcpy(e->key, key, sizeof key);
  if ((*err = build(kind, g, e))) {
    if (e->prim) destroy_entry(e);
    else free(e);  // a half-built entry leaks its few handles; builds fail only on unsupported shapes
    return NULL;
  }
  insert(e);
  return e;
}

/**
 * One convolution on the wasm heap `heap`, all tensors given by byte offset:
 * - forward (kind 0): a = x, b = filter, c = bias (when g has one), out = y;
 * - backward data (1): a = dy, b = filter, out = dx;
 * - backward weights (2): a = x, b = dy, out = dfilter, c = dbias (when g has one).
 * g: the geometry above, then (for leaky relu) the slope's float bits. Returns 0 or a negative status.
 */
int ferlab_conv(int kind, uint8_t *heap, const int32_t *g, uint32_t a, uint32_t b, uint32_t c, uint32_t out) {
  int err = 0;
  Entry *e = entry_for(kind, g, G_INTS + 1, build_conv, &err);
  if (!e) return err;
  void *pa = heap + a, *pb = heap + b, *pc = heap + c, *po = heap + out;
  int r;
  void *weights_user = kind == CONV_BWD_WEIGHTS ? po : pb;
  void *weights_kernel = e->weights.prim ? e->weights.buf : weights_user;
  if (e->weights.prim && kind != CONV_BWD_WEIGHTS && (r = run_reorder(e, pb))) return r;
  if (kind == CONV_FWD) {
    CHECK(dnnl_memory_set_data_handle(e->m[0], pa));
    CHECK(dnnl_memory_set_data_handle(e->m[1], weights_kernel));
    CHECK(dnnl_memory_set_data_handle(e->m[2], po));
    if (g[G_BIAS]) CHECK(dnnl_memory_set_data_handle(e->m[3], pc));
  } else if (kind == CONV_BWD_DATA) {
    CHECK(dnnl_memory_set_data_handle(e->m[0], pa));
    CHECK(dnnl_memory_set_data_handle(e->m[1], weights_kernel));
    CHECK(dnnl_memory_set_data_handle(e->m[2], po));
  } else {
    CHECK(dnnl_memory_set_data_handle(e->m[0], pa));
    CHECK(dnnl_memory_set_data_handle(e->m[1], pb));
    CHECK(dnnl_memory_set_data_handle(e->m[2], weights_kernel));
    if (g[G_BIAS]) CHECK(dnnl_memory_set_data_handle(e->m[3], pc));
  }
  if ((r = run(e))) return r;
  if (e->weights.prim && kind == CONV_BWD_WEIGHTS && (r = run_reorder(e, po))) return r;
  return 0;
}

// ---------------------------------------------------------------------------
// Batch norm in training mode, statistics over every axis but the last.
// g: N, H, W, C (the tensor as NHWC; any other rank is passed as [rows, 1, 1, C]), then epsilon's float bits.

static int build_bn(int kind, const int32_t *g, Entry *e) {
  dnnl_dims_t dims = {g[0], g[3], g[1], g[2]}, cdims = {g[3]};
  dnnl_memory_desc_t data, chan;
  CHECK(dnnl_memory_desc_init_by_tag(&data, 4, dims, dnnl_f32, dnnl_nhwc));
  CHECK(dnnl_memory_desc_init_by_tag(&chan, 1, cdims, dnnl_f32, dnnl_a));
  float eps;
  memcpy(&eps, &g[4], sizeof eps);
  unsigned flags = dnnl_use_scale | dnnl_use_shift;
  dnnl_batch_normalization_desc_t bd;
  CHECK(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &data, eps, flags));
  dnnl_primitive_desc_t fwd, pd;
  CHECK(dnnl_primitive_desc_create(&fwd, &bd, user_scratchpad, engine, NULL));
  int r;
  if (kind == BN_FWD) {
    pd = fwd;
    if ((r = add_arg(e, DNNL_ARG_SRC, &data)) || (r = add_arg(e, DNNL_ARG_SCALE, &chan)) ||
        (r = add_arg(e, DNNL_ARG_SHIFT, &chan)) || (r = add_arg(e, DNNL_ARG_DST, &data)) ||
        (r = add_arg(e, DNNL_ARG_MEAN, &chan)) || (r = add_arg(e, DNNL_ARG_VARIANCE, &chan)))
      return r;
  } else {
    CHECK(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &data, &data, eps, flags));
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &bd, user_scratchpad, engine, fwd);
    dnnl_primitive_desc_destroy(fwd);
    CHECK(s);
    if ((r = add_arg(e, DNNL_ARG_DIFF_DST, &data)) || (r = add_arg(e, DNNL_ARG_SRC, &data)) ||
        (r = add_arg(e, DNNL_ARG_MEAN, &chan)) || (r = add_arg(e, DNNL_ARG_VARIANCE, &chan)) ||
        (r = add_arg(e, DNNL_ARG_SCALE, &chan)) || (r = add_arg(e, DNNL_ARG_DIFF_SRC, &data)) ||
        (r = add_arg(e, DNNL_ARG_DIFF_SCALE, &chan)) || (r = add_arg(e, DNNL_ARG_DIFF_SHIFT, &chan)) ||
        // oneDNN 2.6 refuses a backward pass with use_shift unless the shift is bound too, though the
        // gradients do not depend on it: ferlab_bn binds gamma's buffer there (read-only, never used).
        (r = add_arg(e, DNNL_ARG_SHIFT, &chan)))
      return r;
  }
  return create_primitive(e, pd);
}

/**
 * Batch norm on the heap; `ptrs` holds the byte offsets in argument order:
 * forward (kind 3): x, gamma, beta → y, mean, variance (biased, as tf.moments);
 * backward (4): dy, x, mean, variance, gamma → dx, dgamma, dbeta.
 */
int ferlab_bn(int kind, uint8_t *heap, const int32_t *g, const uint32_t *ptrs) {
  int err = 0;
  Entry *e = entry_for(kind, g, 5, build_bn, &err);
  if (!e) return err;
  for (int i = 0; i < e->nargs; i++) {
    uint32_t at = kind == BN_BWD && i == 8 ? ptrs[4] : ptrs[i];  // the shift slot of the backward pass: gamma's
    CHECK(dnnl_memory_set_data_handle(e->m[i], heap + at));
  }
  return run(e);
}
