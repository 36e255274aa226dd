/*
 * batchnorm.h: C ABI of the batchnorm kernels (batch normalization over f32 NCHW/NHWC
 * tensors). C99; usable from C++. Link libbatchnorm_capi.a (with -lpthread -ldl -lm) or
 * libbatchnorm_capi.so (SONAME libbatchnorm_capi.so.3 on Linux), built by
 * `cargo build -p batchnorm-capi --release`. For microcontrollers, the no_std static
 * library: `cargo build -p batchnorm-capi --release --no-default-features --target
 * thumbv7em-none-eabihf` (no allocator, no system library needed).
 *
 * Conventions:
 * - Every kernel returns a bn_status: BN_OK (0) or the reason for refusing, listed above
 *   each function. A refused call writes nothing; bn_last_error_message() then names the
 *   argument (as this header names it) and the numbers involved. BN_ERR_INTERNAL (a bug)
 *   may come from any kernel.
 * - Buffers are a pointer and an element count (size_t). NULL is allowed with count 0.
 * - Enum parameters are typed (bn_layout, bn_method, ...): C++ refuses one enum passed
 *   for another and C compilers warn (gcc: -Wenum-conversion, in -Wextra). Every enum is
 *   int-sized, also under -fshort-enums (arm-none-eabi-gcc's default), thanks to its
 *   *_MAX_ENUM constant, which is not a valid value; a value outside its enum gives
 *   BN_ERR_BAD_ENUM, never undefined behavior.
 * - Outputs may not overlap any other buffer of the call, except y == x (in place; dx == dy
 *   for bn_backward).
 * - Tensors have a bn_shape {n, c, h, w} and hold n*c*h*w floats, element (n, c, h, w) at
 *     BN_LAYOUT_NCHW: ((n*C + c)*H + h)*W + w
 *     BN_LAYOUT_NHWC: ((n*H + h)*W + w)*C + c
 *   per-channel arrays hold c floats.
 * - Functions keep no state between calls (except the last error message: per thread, or
 *   in the no_std build the last refused status) and may be called from several threads at
 *   once on different buffers.
 *
 * This file is checked against the library by capi/tests/header.rs: every prototype,
 * struct and enum here must match the Rust declarations and the exported symbols.
 */
#ifndef BATCHNORM_H
#define BATCHNORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BN_VERSION_MAJOR 0
#define BN_VERSION_MINOR 1
#define BN_VERSION_PATCH 0
#define BN_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch; compare with bn_version_number(). */
#define BN_VERSION_NUMBER (BN_VERSION_MAJOR * 10000 + BN_VERSION_MINOR * 100 + BN_VERSION_PATCH)
/* Raised on every incompatible change of this header; the shared library's SONAME is
 * libbatchnorm_capi.so.BN_ABI_VERSION. Version 2: typed enums, bn_shape, bn_activation,
 * bn_prepare and bn_normalize_prepared, optional saved statistics. Version 3:
 * bn_fold_into_weights takes a bn_weight_shape (with BN_WEIGHTS_TRANSPOSED); bn_backward. */
#define BN_ABI_VERSION 3

/* What every kernel returns. */
typedef enum bn_status {
    BN_OK = 0,
    BN_ERR_LENGTH_MISMATCH = 1,   /* a buffer's length disagrees with the shape */
    BN_ERR_SHAPE_OVERFLOW = 2,    /* n*c*h*w overflows size_t */
    BN_ERR_WEIGHT_OVERFLOW = 3,   /* out*per_out overflows size_t */
    BN_ERR_EMPTY_CHANNEL = 4,     /* n*h*w == 0 while c > 0 */
    BN_ERR_TOO_FEW_VALUES = 5,    /* 1 value per channel, unbiased running update */
    BN_ERR_MISALIGNED = 6,        /* a pointer is not aligned for its type */
    BN_ERR_BYTE_LENGTH = 7,       /* (not returned today: no function takes bytes) */
    BN_ERR_INVALID_PARAMETER = 8, /* eps, momentum, clamp bounds or slope out of range */
    BN_ERR_NULL_POINTER = 9,      /* NULL with a nonzero length, or a NULL struct */
    BN_ERR_OVERLAP = 10,          /* an output overlaps another buffer (y == x, dx == dy fine) */
    BN_ERR_BAD_ENUM = 11,         /* an enum argument is out of range */
    BN_ERR_OUT_OF_MEMORY = 12,    /* no room for bn_train_forward's scratch (saved == NULL) */
    BN_ERR_INTERNAL = 13,         /* a bug: a panic was caught inside the library */
    BN_ERR_UNSUPPORTED_ISA = 14,  /* an instruction set this CPU does not run (not returned
                                     today: no function takes one) */
    BN_ERR_BAD_CHANNEL = 15,      /* a channel's parameters: not finite, or var + eps <= 0 */
    BN_ERR_INDIVISIBLE = 16,      /* a size not a multiple of its divisor (out of groups), or a
                                     divisor of 0 */
    BN_STATUS_MAX_ENUM = 0x7fffffff
} bn_status;

typedef enum bn_layout {
    BN_LAYOUT_NCHW = 0, /* planar */
    BN_LAYOUT_NHWC = 1, /* interleaved, "channels last" */
    BN_LAYOUT_MAX_ENUM = 0x7fffffff
} bn_layout;

typedef enum bn_method {
    BN_METHOD_WELFORD = 0,  /* single pass, each element read once */
    BN_METHOD_TWO_PASS = 1, /* two passes, the most accurate */
    BN_METHOD_MAX_ENUM = 0x7fffffff
} bn_method;

typedef enum bn_activation_kind {
    BN_ACTIVATION_IDENTITY = 0,
    BN_ACTIVATION_RELU = 1,
    BN_ACTIVATION_CLAMP = 2,      /* [clamp_min, clamp_max]; ReLU6 is 0, 6 */
    BN_ACTIVATION_HARDSWISH = 3,  /* y * min(max(y + 3, 0), 6) / 6 */
    BN_ACTIVATION_SILU = 4,       /* y / (1 + exp(-y)) */
    BN_ACTIVATION_LEAKY_RELU = 5, /* y >= 0 ? y : slope * y */
    BN_ACTIVATION_MAX_ENUM = 0x7fffffff
} bn_activation_kind;

typedef enum bn_momentum {
    BN_MOMENTUM_PYTORCH = 0,    /* running = (1-m)*running + m*batch, unbiased batch var */
    BN_MOMENTUM_ONNX = 1,       /* running = m*running + (1-m)*batch, biased batch var */
    BN_MOMENTUM_CUMULATIVE = 2, /* PyTorch momentum=None: average over prior_batches+1 */
    BN_MOMENTUM_MAX_ENUM = 0x7fffffff
} bn_momentum;

typedef enum bn_weight_layout {
    BN_WEIGHTS_OUT_FIRST = 0, /* OIHW convolution, [out, in] linear */
    BN_WEIGHTS_OUT_LAST = 1,  /* HWIO convolution, [kh, kw, out] depthwise, [in, out] linear */
    BN_WEIGHTS_TRANSPOSED = 2, /* ConvTranspose [in, out / groups, kh, kw] (IOHW), with the
                                  bn_weight_shape's groups and kernel */
    BN_WEIGHT_LAYOUT_MAX_ENUM = 0x7fffffff
} bn_weight_layout;

typedef enum bn_bias {
    BN_BIAS_ZEROS = 0,    /* the layer has no bias: the folded bias is written to `bias` */
    BN_BIAS_IN_PLACE = 1, /* the layer's bias, rewritten in place */
    BN_BIAS_MAX_ENUM = 0x7fffffff
} bn_bias;

/* Instruction-set levels the kernels can run at (bn_isa_detected), lowest first. */
typedef enum bn_isa {
    BN_ISA_PORTABLE = 0, /* portable SIMD: SSE2 on x86-64, NEON on aarch64, scalar elsewhere */
    BN_ISA_AVX2 = 1,     /* x86-64 AVX2 with FMA */
    BN_ISA_AVX512 = 2,   /* x86-64 AVX-512F and DQ (with AVX2 and FMA) */
    BN_ISA_MAX_ENUM = 0x7fffffff
} bn_isa;

/* Which statistics the forward normalized with, for bn_backward. */
typedef enum bn_forward_stats {
    BN_FORWARD_STATS_BATCH = 0,   /* batch statistics (training): the gradient flows through them */
    BN_FORWARD_STATS_RUNNING = 1, /* running statistics (eval, frozen): dx = dy*gamma*invstd */
    BN_FORWARD_STATS_MAX_ENUM = 0x7fffffff
} bn_forward_stats;

/* A tensor's batch size, channels, height and width (1 and 1 for [n, c] activations). */
typedef struct bn_shape {
    size_t n;
    size_t c;
    size_t h;
    size_t w;
} bn_shape;

/* A weight tensor as bn_fold_into_weights sees it: out output channels of per_out weights
 * each, laid out as layout says. groups and kernel are read for BN_WEIGHTS_TRANSPOSED only
 * (leave them 0 otherwise): per_out == (in / groups) * kernel, kernel == kh * kw, both >= 1
 * and dividing out and per_out. Ungrouped: groups 1; depthwise: per_out == kernel. */
typedef struct bn_weight_shape {
    size_t out;
    size_t per_out;
    bn_weight_layout layout;
    size_t groups; /* BN_WEIGHTS_TRANSPOSED: the convolution's groups */
    size_t kernel; /* BN_WEIGHTS_TRANSPOSED: kh * kw */
} bn_weight_shape;

/* The activation fused into normalize, with its parameters. One struct rather than
 * separate arguments so that every function takes an activation the same way, and the
 * kinds with a parameter (clamp bounds, leaky ReLU slope) get it by name; a kind ignores
 * the fields it does not use (leave them 0). E.g. ReLU6: {BN_ACTIVATION_CLAMP, 0.0f, 6.0f,
 * 0.0f}; PyTorch's LeakyReLU(): {BN_ACTIVATION_LEAKY_RELU, 0.0f, 0.0f, 0.01f}. */
typedef struct bn_activation {
    bn_activation_kind kind;
    float clamp_min; /* BN_ACTIVATION_CLAMP: not NaN */
    float clamp_max; /* BN_ACTIVATION_CLAMP: not NaN, >= clamp_min */
    float slope;     /* BN_ACTIVATION_LEAKY_RELU: finite */
} bn_activation;

/* Mergeable statistics of a set of values. */
typedef struct bn_moments {
    uint64_t count; /* number of values */
    double mean;    /* their mean (0 when count == 0) */
    double m2;      /* sum of squared deviations from the mean */
} bn_moments;

/* Per-channel statistics and affine transform: y = (x - mean) * gamma / sqrt(var + eps) + beta. */
typedef struct bn_norm_params {
    const float* mean;
    size_t mean_len;
    const float* var;
    size_t var_len;
    const float* gamma;
    size_t gamma_len;
    const float* beta;
    size_t beta_len;
    float eps; /* finite, >= 0 */
} bn_norm_params;

/* Per-channel constants prepared by bn_prepare: y = (x - mean) * scale + beta. */
typedef struct bn_prepared {
    const float* mean;
    size_t mean_len;
    const float* scale; /* gamma / sqrt(var + eps), from bn_prepare */
    size_t scale_len;
    const float* beta;
    size_t beta_len;
} bn_prepared;

typedef struct bn_train_params {
    const float* gamma;
    size_t gamma_len;
    const float* beta;
    size_t beta_len;
    float eps;         /* finite, >= 0 */
    bn_method method;  /* how the batch statistics are computed */
    bn_activation act; /* fused into the normalization */
} bn_train_params;

/* Running statistics, updated in place by bn_train_forward. */
typedef struct bn_running_stats {
    float* mean;
    size_t mean_len;
    float* var;
    size_t var_len;
    bn_momentum momentum_kind; /* the update convention */
    float momentum;            /* in [0, 1]; PyTorch default 0.1, ONNX default 0.9 */
    uint64_t prior_batches;    /* BN_MOMENTUM_CUMULATIVE: batches already averaged */
} bn_running_stats;

/* Written by bn_train_forward for a backward pass. */
typedef struct bn_saved_stats {
    float* mean;   /* batch mean */
    size_t mean_len;
    float* invstd; /* 1 / sqrt(biased batch var + eps) */
    size_t invstd_len;
} bn_saved_stats;

/* What bn_backward needs of the forward, one value per channel each: for
 * BN_FORWARD_STATS_BATCH the bn_saved_stats of bn_train_forward, for
 * BN_FORWARD_STATS_RUNNING the running mean and 1 / sqrt(running var + eps). */
typedef struct bn_backward_params {
    const float* mean;   /* the mean the forward normalized with */
    size_t mean_len;
    const float* invstd; /* 1 / sqrt(var + eps) of the forward */
    size_t invstd_len;
    const float* gamma;  /* the forward's gamma */
    size_t gamma_len;
} bn_backward_params;

/* Library version, e.g. "0.1.0" (static string). */
const char* bn_version(void);

/* major * 10000 + minor * 100 + patch. */
uint32_t bn_version_number(void);

/* A static description of a status code ("unknown status code" for any other value;
 * never NULL). */
const char* bn_status_message(bn_status status);

/* Details of the last refused call on this thread ("" if none), valid until the next
 * refused call on this thread (never NULL). The no_std build keeps no details: it returns
 * bn_status_message() of the last refused call's status, in any thread. */
const char* bn_last_error_message(void);

/* The instruction-set level every kernel of this library runs at: the best level this CPU
 * and its OS support (BN_ISA_PORTABLE on other architectures), detected on first use and
 * cached for the process. */
bn_isa bn_isa_detected(void);

/* A static lower-case name of a bn_isa value: "portable", "avx2", "avx512"; "unknown" for
 * any other value (never NULL). */
const char* bn_isa_name(bn_isa isa);

/* Per-channel mean and biased variance (M2 / count) of x (x_len == n*c*h*w);
 * mean_len == var_len == c.
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_LENGTH_MISMATCH, BN_ERR_SHAPE_OVERFLOW, BN_ERR_EMPTY_CHANNEL. */
bn_status bn_batch_stats(const float* x, size_t x_len, bn_shape shape, bn_layout layout,
                         bn_method method, float* mean, size_t mean_len, float* var,
                         size_t var_len);

/* Adds the per-channel moments of x to acc (acc_len == c), merging with Chan's formula.
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_LENGTH_MISMATCH, BN_ERR_SHAPE_OVERFLOW, BN_ERR_EMPTY_CHANNEL. */
bn_status bn_accumulate_moments(const float* x, size_t x_len, bn_shape shape,
                                bn_layout layout, bn_method method, bn_moments* acc,
                                size_t acc_len);

/* acc[i] = merge(acc[i], other[i]) for i < len; other == acc is allowed.
 * Returns BN_OK, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP (partly
 * overlapping arrays), BN_ERR_LENGTH_MISMATCH (a length no array can have). */
bn_status bn_moments_merge(bn_moments* acc, const bn_moments* other, size_t len);

/* m2 / count (NaN when count == 0). */
double bn_moments_variance(bn_moments m);

/* m2 / (count - 1) (NaN when count < 2). */
double bn_moments_sample_variance(bn_moments m);

/* y = act((x - mean[k]) * gamma[k] / sqrt(var[k] + eps) + beta[k]); y == x works in place.
 * x_len == y_len == n*c*h*w; each params array holds c values.
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_LENGTH_MISMATCH, BN_ERR_SHAPE_OVERFLOW, BN_ERR_INVALID_PARAMETER (eps, clamp
 * bounds, slope). */
bn_status bn_normalize(const float* x, size_t x_len, float* y, size_t y_len, bn_shape shape,
                       bn_layout layout, const bn_norm_params* params, bn_activation act);

/* Once per model, at load: scale[k] = gamma[k] / sqrt(var[k] + eps) (double, rounded
 * once), scale_len == c == params->mean_len; then use {params->mean, scale, params->beta}
 * as a bn_prepared. Also the model's load-time check: a channel whose mean, var, gamma or
 * beta is not finite, or whose var + eps is not > 0, is refused and named.
 * Returns BN_OK, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_LENGTH_MISMATCH, BN_ERR_INVALID_PARAMETER (eps), BN_ERR_BAD_CHANNEL. */
bn_status bn_prepare(const bn_norm_params* params, float* scale, size_t scale_len);

/* y = act((x - mean[k]) * scale[k] + beta[k]); y == x works in place. Bitwise equal to
 * bn_normalize with the parameters bn_prepare prepared scale from. x_len == y_len ==
 * n*c*h*w; each prepared array holds c values (used as they are: bn_prepare checked them).
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_LENGTH_MISMATCH, BN_ERR_SHAPE_OVERFLOW, BN_ERR_INVALID_PARAMETER (clamp bounds,
 * slope). */
bn_status bn_normalize_prepared(const float* x, size_t x_len, float* y, size_t y_len,
                                bn_shape shape, bn_layout layout, const bn_prepared* prepared,
                                bn_activation act);

/* Training forward: batch statistics, y normalized with them (y == x works in place),
 * running statistics updated (running may be NULL: no update), saved mean and invstd
 * written (saved may be NULL: not kept; the no_std build then handles at most 256
 * channels, its scratch being on the stack).
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER (also a NULL params),
 * BN_ERR_MISALIGNED, BN_ERR_OVERLAP, BN_ERR_LENGTH_MISMATCH, BN_ERR_SHAPE_OVERFLOW,
 * BN_ERR_EMPTY_CHANNEL, BN_ERR_TOO_FEW_VALUES (1 value per channel with an unbiased
 * running update), BN_ERR_INVALID_PARAMETER (eps, momentum, clamp bounds, slope),
 * BN_ERR_OUT_OF_MEMORY (saved == NULL and no room for the scratch statistics). */
bn_status bn_train_forward(const float* x, size_t x_len, float* y, size_t y_len,
                           bn_shape shape, bn_layout layout, const bn_train_params* params,
                           const bn_running_stats* running, const bn_saved_stats* saved);

/* Backward pass: dx, dgamma and dbeta (overwritten) from the forward's input x, the
 * gradient dy of its output and the statistics it used (params, stats). Per channel, over
 * its m = n*h*w values, xhat = (x - mean) * invstd: dbeta = sum(dy), dgamma =
 * sum(dy * xhat); BN_FORWARD_STATS_BATCH: dx = gamma*invstd*(dy - dbeta/m - xhat*dgamma/m);
 * BN_FORWARD_STATS_RUNNING: dx = dy*gamma*invstd. x_len == dy_len == dx_len == n*c*h*w;
 * params arrays, dgamma and dbeta hold c values. dx == dy works in place.
 * Fused activation: y (y_len == x_len) is the forward's output and act its activation; dy
 * is masked to 0 where it clamped: BN_ACTIVATION_RELU keeps y > 0, BN_ACTIVATION_CLAMP
 * clamp_min < y < clamp_max, BN_ACTIVATION_IDENTITY everything; other kinds are refused.
 * y == NULL (y_len 0): no activation, and act.kind must be BN_ACTIVATION_IDENTITY.
 * Returns BN_OK, BN_ERR_BAD_ENUM (layout, stats, act.kind), BN_ERR_NULL_POINTER (also a
 * NULL params), BN_ERR_MISALIGNED, BN_ERR_OVERLAP, BN_ERR_LENGTH_MISMATCH,
 * BN_ERR_SHAPE_OVERFLOW, BN_ERR_INVALID_PARAMETER (clamp bounds; act.kind not IDENTITY,
 * RELU or CLAMP, or not IDENTITY with y == NULL). */
bn_status bn_backward(const float* x, size_t x_len, const float* dy, size_t dy_len, float* dx,
                      size_t dx_len, bn_shape shape, bn_layout layout,
                      const bn_backward_params* params, bn_forward_stats stats, const float* y,
                      size_t y_len, bn_activation act, float* dgamma, size_t dgamma_len,
                      float* dbeta, size_t dbeta_len);

/* Folds batch normalization into the previous layer: weights (weights_len ==
 * shape.out*shape.per_out) scaled per output channel, bias (bias_len == shape.out)
 * rewritten or written (bias_kind). shape.groups and shape.kernel: BN_WEIGHTS_TRANSPOSED
 * only.
 * Returns BN_OK, BN_ERR_BAD_ENUM, BN_ERR_NULL_POINTER, BN_ERR_MISALIGNED, BN_ERR_OVERLAP,
 * BN_ERR_INDIVISIBLE (BN_WEIGHTS_TRANSPOSED: shape.groups 0 or not dividing shape.out,
 * shape.kernel 0 or not dividing shape.per_out), BN_ERR_LENGTH_MISMATCH,
 * BN_ERR_WEIGHT_OVERFLOW, BN_ERR_INVALID_PARAMETER (eps). */
bn_status bn_fold_into_weights(float* weights, size_t weights_len, bn_weight_shape shape,
                               float* bias, size_t bias_len, bn_bias bias_kind,
                               const bn_norm_params* params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BATCHNORM_H */
