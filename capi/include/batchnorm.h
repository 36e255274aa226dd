/*
 * batchnorm.h: C ABI of the batchnorm kernels (batch normalization over f32 NCHW/NHWC
 * tensors). C99; usable from C++. Link libbatchnorm_capi.a (with -lpthread -ldl -lm) or
 * libbatchnorm_capi.so, built by `cargo build -p batchnorm-capi --release`.
 *
 * Conventions:
 * - Every kernel returns a bn_status (int): BN_OK (0) or the reason for refusing. A
 *   refused call writes nothing; bn_last_error_message() then names the argument and the
 *   numbers involved.
 * - Buffers are a pointer and an element count (size_t). NULL is allowed with count 0.
 * - Enum arguments are passed as int; a value outside its enum gives BN_ERR_BAD_ENUM.
 * - Outputs may not overlap any other buffer of the call, except y == x (in place).
 * - Tensors hold n*c*h*w floats, element (n, c, h, w) at
 *     BN_LAYOUT_NCHW: ((n*C + c)*H + h)*W + w
 *     BN_LAYOUT_NHWC: ((n*H + h)*W + w)*C + c
 *   per-channel arrays hold c floats.
 * - Functions keep no state between calls (except the thread-local last error message)
 *   and may be called from several threads at once on different buffers.
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
    BN_ERR_INVALID_PARAMETER = 8, /* eps, momentum or clamp bounds out of range */
    BN_ERR_NULL_POINTER = 9,      /* NULL with a nonzero length, or a NULL struct */
    BN_ERR_OVERLAP = 10,          /* an output overlaps another buffer (y == x is fine) */
    BN_ERR_BAD_ENUM = 11,         /* an enum argument is out of range */
    BN_ERR_OUT_OF_MEMORY = 12,    /* reserved: no function allocates, none returns it */
    BN_ERR_INTERNAL = 13,         /* a bug: a panic was caught inside the library */
    BN_ERR_UNSUPPORTED_ISA = 14   /* an instruction set this CPU does not run (not returned
                                     today: no function takes one) */
} bn_status;

typedef enum bn_layout {
    BN_LAYOUT_NCHW = 0, /* planar */
    BN_LAYOUT_NHWC = 1  /* interleaved, "channels last" */
} bn_layout;

typedef enum bn_method {
    BN_METHOD_WELFORD = 0, /* single pass, each element read once */
    BN_METHOD_TWO_PASS = 1 /* two passes, the most accurate */
} bn_method;

typedef enum bn_activation {
    BN_ACTIVATION_IDENTITY = 0,
    BN_ACTIVATION_RELU = 1,
    BN_ACTIVATION_CLAMP = 2,    /* [clamp_min, clamp_max]; ReLU6 is 0, 6 */
    BN_ACTIVATION_HARDSWISH = 3, /* y * min(max(y + 3, 0), 6) / 6 */
    BN_ACTIVATION_SILU = 4       /* y / (1 + exp(-y)) */
} bn_activation;

typedef enum bn_momentum {
    BN_MOMENTUM_PYTORCH = 0,   /* running = (1-m)*running + m*batch, unbiased batch var */
    BN_MOMENTUM_ONNX = 1,      /* running = m*running + (1-m)*batch, biased batch var */
    BN_MOMENTUM_CUMULATIVE = 2 /* PyTorch momentum=None: average over prior_batches+1 */
} bn_momentum;

typedef enum bn_weight_layout {
    BN_WEIGHTS_OUT_FIRST = 0, /* OIHW convolution, [out, in] linear */
    BN_WEIGHTS_OUT_LAST = 1   /* HWIO convolution, [kh, kw, out] depthwise, [in, out] linear */
} bn_weight_layout;

typedef enum bn_bias {
    BN_BIAS_ZEROS = 0,   /* the layer has no bias: the folded bias is written to `bias` */
    BN_BIAS_IN_PLACE = 1 /* the layer's bias, rewritten in place */
} bn_bias;

/* Instruction-set levels the kernels can run at (bn_isa_detected), lowest first. */
typedef enum bn_isa {
    BN_ISA_PORTABLE = 0, /* portable SIMD: SSE2 on x86-64, NEON on aarch64, scalar elsewhere */
    BN_ISA_AVX2 = 1,     /* x86-64 AVX2 with FMA */
    BN_ISA_AVX512 = 2    /* x86-64 AVX-512F (with AVX2 and FMA) */
} bn_isa;

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

typedef struct bn_train_params {
    const float* gamma;
    size_t gamma_len;
    const float* beta;
    size_t beta_len;
    float eps;       /* finite, >= 0 */
    int method;      /* bn_method */
    int activation;  /* bn_activation */
    float clamp_min; /* BN_ACTIVATION_CLAMP only */
    float clamp_max; /* BN_ACTIVATION_CLAMP only */
} bn_train_params;

/* Running statistics, updated in place by bn_train_forward. */
typedef struct bn_running_stats {
    float* mean;
    size_t mean_len;
    float* var;
    size_t var_len;
    int momentum_kind;      /* bn_momentum */
    float momentum;         /* in [0, 1]; PyTorch default 0.1, ONNX default 0.9 */
    uint64_t prior_batches; /* BN_MOMENTUM_CUMULATIVE: batches already averaged */
} bn_running_stats;

/* Written by bn_train_forward for a backward pass. */
typedef struct bn_saved_stats {
    float* mean;   /* batch mean */
    size_t mean_len;
    float* invstd; /* 1 / sqrt(biased batch var + eps) */
    size_t invstd_len;
} bn_saved_stats;

/* Library version, e.g. "0.1.0" (static string). */
const char* bn_version(void);

/* major * 10000 + minor * 100 + patch. */
uint32_t bn_version_number(void);

/* A static description of a status code (never NULL). */
const char* bn_status_message(int status);

/* Details of the last refused call on this thread ("" if none), valid until the next
 * refused call on this thread (never NULL). */
const char* bn_last_error_message(void);

/* The instruction-set level every kernel of this library runs at, a bn_isa value: the best
 * level this CPU and its OS support (BN_ISA_PORTABLE on other architectures), detected on
 * first use and cached for the process. */
int bn_isa_detected(void);

/* A static lower-case name of a bn_isa value: "portable", "avx2", "avx512"; "unknown" for
 * any other value (never NULL). */
const char* bn_isa_name(int isa);

/* Per-channel mean and biased variance (M2 / count) of x (x_len == n*c*h*w);
 * mean_len == var_len == c. */
int bn_batch_stats(const float* x, size_t x_len, size_t n, size_t c, size_t h, size_t w,
                   int layout, int method, float* mean, size_t mean_len, float* var,
                   size_t var_len);

/* Adds the per-channel moments of x to acc (acc_len == c), merging with Chan's formula. */
int bn_accumulate_moments(const float* x, size_t x_len, size_t n, size_t c, size_t h,
                          size_t w, int layout, int method, bn_moments* acc, size_t acc_len);

/* acc[i] = merge(acc[i], other[i]) for i < len; other == acc is allowed. */
int bn_moments_merge(bn_moments* acc, const bn_moments* other, size_t len);

/* m2 / count (NaN when count == 0). */
double bn_moments_variance(bn_moments m);

/* m2 / (count - 1) (NaN when count < 2). */
double bn_moments_sample_variance(bn_moments m);

/* y = act((x - mean[k]) * gamma[k] / sqrt(var[k] + eps) + beta[k]); y == x works in place.
 * x_len == y_len == n*c*h*w; each params array holds c values. */
int bn_normalize(const float* x, size_t x_len, float* y, size_t y_len, size_t n, size_t c,
                 size_t h, size_t w, int layout, const bn_norm_params* params, int activation,
                 float clamp_min, float clamp_max);

/* Training forward: batch statistics, y normalized with them (y == x works in place),
 * running statistics updated (running may be NULL: no update), saved mean and invstd. */
int bn_train_forward(const float* x, size_t x_len, float* y, size_t y_len, size_t n, size_t c,
                     size_t h, size_t w, int layout, const bn_train_params* params,
                     const bn_running_stats* running, const bn_saved_stats* saved);

/* Folds batch normalization into the previous layer: weights (weights_len == out*per_out)
 * scaled per output channel, bias (bias_len == out) rewritten or written (bias_kind). */
int bn_fold_into_weights(float* weights, size_t weights_len, size_t out, size_t per_out,
                         int weight_layout, float* bias, size_t bias_len, int bias_kind,
                         const bn_norm_params* params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BATCHNORM_H */
