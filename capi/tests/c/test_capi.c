/*
 * C test of libbatchnorm_capi, compiled with -std=c99 -pedantic and linked against the
 * static library by capi/tests/c_api.rs, which runs it as
 *
 *     test_capi CASES_IN RESULTS_OUT
 *
 * 1. Checks by itself: the version, the status messages, the instruction-set level (against
 *    the compiler's own CPU detection where it has one) and its name, the worked example (one channel
 *    of 1..=8 and 2..=9: mean 5, biased var 5.5, y(1) = -2.9112..., y(9) = 3.9112...) in
 *    both layouts through every kernel, its backward (against a double reference), folding
 *    (transposed weights too), and every error status, with outputs untouched.
 * 2. Reads random cases written by the Rust test (text: "case N C H W", then named float
 *    arrays), runs every kernel on them and writes every output to RESULTS_OUT as
 *    "name count values..." (floats as %.9g, doubles as %.17g: both round-trip), which the
 *    Rust test compares bit for bit with the batchnorm crate's own results. Struct sizes
 *    and offsets are written there too, and "isa CODE NAME" (bn_isa_detected() and its
 *    name), which the Rust test compares with batchnorm::Isa::detected().
 *
 * Exits 0 when every check passed.
 */
#include "batchnorm.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The enums are int-sized (their *_MAX_ENUM constants), as the library reads them. */
typedef char enums_are_int_sized[(sizeof(bn_layout) == sizeof(int) && sizeof(bn_method) == sizeof(int) &&
                                  sizeof(bn_activation_kind) == sizeof(int) &&
                                  sizeof(bn_forward_stats) == sizeof(int) &&
                                  sizeof(bn_status) == sizeof(int)) ? 1 : -1];

static bn_shape shape_of(size_t n, size_t c, size_t h, size_t w) {
    bn_shape s;
    s.n = n; s.c = c; s.h = h; s.w = w;
    return s;
}

static bn_activation act_of(bn_activation_kind kind, float clamp_min, float clamp_max) {
    bn_activation a;
    a.kind = kind; a.clamp_min = clamp_min; a.clamp_max = clamp_max; a.slope = 0.0f;
    return a;
}

static bn_weight_shape wshape(size_t out, size_t per_out, bn_weight_layout layout, size_t groups,
                              size_t kernel) {
    bn_weight_shape s;
    s.out = out; s.per_out = per_out; s.layout = layout; s.groups = groups; s.kernel = kernel;
    return s;
}

static bn_activation leaky(float slope) {
    bn_activation a = act_of(BN_ACTIVATION_LEAKY_RELU, 0.0f, 0.0f);
    a.slope = slope;
    return a;
}

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        checks++;                                                                   \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                       \
    do {                                                                            \
        double a_ = (a), b_ = (b);                                                  \
        checks++;                                                                   \
        if (!(fabs(a_ - b_) <= (tol))) {                                            \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tolerance %g)\n",      \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));                 \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* The call returns `want`; on an error, the last error message is not empty. */
#define CHECK_STATUS(call, want)                                                    \
    do {                                                                            \
        int st_ = (call);                                                           \
        checks++;                                                                   \
        if (st_ != (want)) {                                                        \
            fprintf(stderr, "%s:%d: %s\n  returned %d (%s), expected %s; last error: %s\n", \
                    __FILE__, __LINE__, #call, st_, bn_status_message(st_), #want,  \
                    bn_last_error_message());                                       \
            failures++;                                                             \
        } else if (st_ != BN_OK && bn_last_error_message()[0] == '\0') {            \
            fprintf(stderr, "%s:%d: no error message after %s\n", __FILE__, __LINE__, #call); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* ------------------------------------------------------------------------------------ */
/* Version and status messages                                                          */

static void test_version_and_messages(void) {
    int s, t;
    CHECK(strcmp(bn_version(), BN_VERSION_STRING) == 0);
    CHECK(bn_version_number() == BN_VERSION_NUMBER);
    CHECK(bn_last_error_message() != NULL);
    for (s = BN_OK; s <= BN_ERR_INDIVISIBLE; s++) {
        const char* m = bn_status_message(s);
        CHECK(m != NULL && m[0] != '\0');
        CHECK(strcmp(m, "unknown status code") != 0);
        for (t = BN_OK; t < s; t++) CHECK(strcmp(m, bn_status_message(t)) != 0);
    }
    CHECK(strcmp(bn_status_message(BN_OK), "ok") == 0);
    CHECK(strcmp(bn_status_message(BN_ERR_INDIVISIBLE + 1), "unknown status code") == 0);
    CHECK(strcmp(bn_status_message(-1), "unknown status code") == 0);
    CHECK(strstr(bn_status_message(BN_ERR_UNSUPPORTED_ISA), "instruction set") != NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Instruction-set level                                                                */

/* The level this CPU should run, from the compiler's CPU detection (GCC and clang on
 * x86-64: cpuid and the OS-saved register state, as the library checks them); -1 where
 * there is no such detection. */
static int isa_from_compiler(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int avx2, fma;
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2");
    fma = __builtin_cpu_supports("fma");
    if (avx2 && fma && __builtin_cpu_supports("avx512f")) return BN_ISA_AVX512;
    if (avx2 && fma) return BN_ISA_AVX2;
    return BN_ISA_PORTABLE;
#else
    return -1;
#endif
}

static void test_isa(void) {
    int isa = (int)bn_isa_detected(), i, found = -1, expected = isa_from_compiler();
    const char* name = bn_isa_name(isa);
    CHECK(isa >= BN_ISA_PORTABLE && isa <= BN_ISA_AVX512);
    if (expected >= 0 && isa != expected) {
        fprintf(stderr, "bn_isa_detected() = %d (%s), the compiler's detection gives %d (%s)\n",
                isa, name, expected, bn_isa_name(expected));
    }
    CHECK(expected < 0 || isa == expected);
    CHECK((int)bn_isa_detected() == isa); /* cached: the same every call */
    CHECK(strcmp(bn_isa_name(BN_ISA_PORTABLE), "portable") == 0);
    CHECK(strcmp(bn_isa_name(BN_ISA_AVX2), "avx2") == 0);
    CHECK(strcmp(bn_isa_name(BN_ISA_AVX512), "avx512") == 0);
    /* The name round-trips: exactly one value has it, the detected one. */
    for (i = BN_ISA_PORTABLE; i <= BN_ISA_AVX512; i++)
        if (strcmp(bn_isa_name(i), name) == 0) {
            CHECK(found < 0);
            found = i;
        }
    CHECK(found == isa);
    CHECK(strcmp(bn_isa_name(-1), "unknown") == 0);
    CHECK(strcmp(bn_isa_name(BN_ISA_AVX512 + 1), "unknown") == 0);
    CHECK(strcmp(bn_isa_name(INT_MAX), "unknown") == 0);
    CHECK(strcmp(bn_isa_name(INT_MIN), "unknown") == 0);
}

/* ------------------------------------------------------------------------------------ */
/* The worked example, in both layouts                                                  */

/* Two channels, n=2, h=2, w=4: channel 0 is the worked example (sample 0: 1..=8, sample
 * 1: 2..=9), channel 1 is 10 times it, so the layouts differ. */
enum { WN = 2, WC = 2, WH = 2, WW = 4, WNUM = WN * WC * WH * WW };

static size_t index_of(int layout, size_t n, size_t c, size_t h, size_t w) {
    if (layout == BN_LAYOUT_NCHW) return ((n * WC + c) * WH + h) * WW + w;
    return ((n * WH + h) * WW + w) * WC + c;
}

static void worked_tensor(int layout, float* x) {
    size_t n, c, h, w;
    for (n = 0; n < WN; n++)
        for (c = 0; c < WC; c++)
            for (h = 0; h < WH; h++)
                for (w = 0; w < WW; w++) {
                    float v = (float)(1 + n + h * WW + w); /* 1..=8, then 2..=9 */
                    x[index_of(layout, n, c, h, w)] = c == 0 ? v : 10.0f * v;
                }
}

static const float GAMMA[WC] = {2.0f, 1.0f};
static const float BETA[WC] = {0.5f, 0.0f};
static const float EPS = 1e-5f;

static void test_worked_example(int layout) {
    float x[WNUM], y[WNUM], y2[WNUM], mean[WC], var[WC];
    bn_moments acc[WC];
    bn_norm_params p;
    bn_train_params tp;
    bn_running_stats rs;
    bn_saved_stats ss;
    float rmean[WC], rvar[WC], smean[WC], sinvstd[WC], scale[WC], y3[WNUM];
    bn_prepared pp;
    const bn_shape shape = shape_of(WN, WC, WH, WW);
    double invstd = 1.0 / sqrt(5.5 + (double)EPS);
    int method, kind;
    size_t i;

    worked_tensor(layout, x);
    for (method = BN_METHOD_WELFORD; method <= BN_METHOD_TWO_PASS; method++) {
        /* The f64 moments: exact to f64 rounding with two-pass; Welford steps by 1/k
           rounded to f32, so within 16 f32 roundings (16 * 2^-24) relative. */
        double rel = method == BN_METHOD_WELFORD ? 16.0 / 16777216.0 : 1e-13;
        CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), layout, method, mean, WC, var, WC),
                     BN_OK);
        CHECK_NEAR(mean[0], 5.0, 1e-6);
        CHECK_NEAR(var[0], 5.5, 1e-6);
        CHECK_NEAR(mean[1], 50.0, 1e-5);
        CHECK_NEAR(var[1], 550.0, 1e-4);

        memset(acc, 0, sizeof acc);
        CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), layout, method, acc, WC),
                     BN_OK);
        CHECK(acc[0].count == 16);
        CHECK_NEAR(acc[0].mean, 5.0, 5.0 * rel);
        CHECK_NEAR(acc[0].m2, 88.0, 88.0 * rel);
        CHECK_NEAR(bn_moments_variance(acc[0]), 5.5, 5.5 * rel);
        CHECK_NEAR(bn_moments_sample_variance(acc[0]), 88.0 / 15.0, 6.0 * rel);
        /* A second batch: the union of two copies. */
        CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), layout, method, acc, WC),
                     BN_OK);
        CHECK(acc[0].count == 32);
        CHECK_NEAR(acc[0].m2, 176.0, 176.0 * rel);
        /* Merging with itself (other == acc) doubles again. */
        CHECK_STATUS(bn_moments_merge(acc, acc, WC), BN_OK);
        CHECK(acc[0].count == 64);
        CHECK_NEAR(acc[0].mean, 5.0, 5.0 * rel);
        CHECK_NEAR(acc[0].m2, 352.0, 352.0 * rel);
        CHECK_NEAR(acc[1].mean, 50.0, 50.0 * rel);
    }

    /* Normalize with the batch statistics: the worked example's y. */
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), layout, BN_METHOD_TWO_PASS, mean, WC, var, WC),
                 BN_OK);
    p.mean = mean; p.mean_len = WC;
    p.var = var; p.var_len = WC;
    p.gamma = GAMMA; p.gamma_len = WC;
    p.beta = BETA; p.beta_len = WC;
    p.eps = EPS;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), layout, &p, act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f)),
                 BN_OK);
    i = index_of(layout, 0, 0, 0, 0); /* x = 1 */
    CHECK_NEAR(y[i], -2.9112, 1e-4);
    CHECK_NEAR(y[i], 2.0 * -4.0 * invstd + 0.5, 2e-6);
    i = index_of(layout, 1, 0, 1, 3); /* x = 9 */
    CHECK_NEAR(y[i], 3.9112, 1e-4);
    CHECK_NEAR(y[i], 2.0 * 4.0 * invstd + 0.5, 2e-6);
    CHECK_NEAR(y[index_of(layout, 1, 1, 1, 3)], 4.0 / sqrt(5.5 + EPS / 100.0), 1e-4);

    /* In place (y == x): bitwise the same. */
    memcpy(y2, x, sizeof x);
    CHECK_STATUS(bn_normalize(y2, WNUM, y2, WNUM, shape_of(WN, WC, WH, WW), layout, &p, act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f)),
                 BN_OK);
    CHECK(memcmp(y, y2, sizeof y) == 0);

    /* ReLU and ReLU6. */
    CHECK_STATUS(bn_normalize(x, WNUM, y2, WNUM, shape_of(WN, WC, WH, WW), layout, &p, act_of(BN_ACTIVATION_RELU, 0.0f, 0.0f)),
                 BN_OK);
    CHECK(y2[index_of(layout, 0, 0, 0, 0)] == 0.0f);
    CHECK(y2[index_of(layout, 1, 0, 1, 3)] == y[index_of(layout, 1, 0, 1, 3)]);
    CHECK_STATUS(bn_normalize(x, WNUM, y2, WNUM, shape_of(WN, WC, WH, WW), layout, &p, act_of(BN_ACTIVATION_CLAMP, 0.0f, 3.0f)),
                 BN_OK);
    CHECK(y2[index_of(layout, 1, 0, 1, 3)] == 3.0f);

    /* Prepared once (bn_prepare), then bn_normalize_prepared: bitwise bn_normalize, out of
     * place and in place. Leaky ReLU: slope * y below 0 (exact for a power of 2), y above. */
    CHECK_STATUS(bn_prepare(&p, scale, WC), BN_OK);
    CHECK_NEAR(scale[0], 2.0 * invstd, 1e-6);
    pp.mean = mean; pp.mean_len = WC;
    pp.scale = scale; pp.scale_len = WC;
    pp.beta = BETA; pp.beta_len = WC;
    CHECK_STATUS(bn_normalize_prepared(x, WNUM, y2, WNUM, shape, layout, &pp,
                                       act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f)),
                 BN_OK);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    memcpy(y2, x, sizeof x);
    CHECK_STATUS(bn_normalize_prepared(y2, WNUM, y2, WNUM, shape, layout, &pp,
                                       act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f)),
                 BN_OK);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    CHECK_STATUS(bn_normalize_prepared(x, WNUM, y2, WNUM, shape, layout, &pp, leaky(0.125f)),
                 BN_OK);
    CHECK(y2[index_of(layout, 0, 0, 0, 0)] == 0.125f * y[index_of(layout, 0, 0, 0, 0)]);
    CHECK(y2[index_of(layout, 1, 0, 1, 3)] == y[index_of(layout, 1, 0, 1, 3)]);
    CHECK_STATUS(bn_normalize(x, WNUM, y3, WNUM, shape, layout, &p, leaky(0.125f)), BN_OK);
    CHECK(memcmp(y2, y3, sizeof y2) == 0);

    /* Training forward, every momentum convention, out of place and in place. */
    tp.gamma = GAMMA; tp.gamma_len = WC;
    tp.beta = BETA; tp.beta_len = WC;
    tp.eps = EPS;
    tp.method = BN_METHOD_TWO_PASS;
    tp.act = act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f);
    ss.mean = smean; ss.mean_len = WC;
    ss.invstd = sinvstd; ss.invstd_len = WC;
    for (kind = BN_MOMENTUM_PYTORCH; kind <= BN_MOMENTUM_CUMULATIVE; kind++) {
        rmean[0] = 0.0f; rmean[1] = 0.0f;
        rvar[0] = 1.0f; rvar[1] = 1.0f;
        rs.mean = rmean; rs.mean_len = WC;
        rs.var = rvar; rs.var_len = WC;
        rs.momentum_kind = kind;
        rs.momentum = kind == BN_MOMENTUM_PYTORCH ? 0.1f : 0.9f;
        rs.prior_batches = 0;
        CHECK_STATUS(bn_train_forward(x, WNUM, y2, WNUM, shape_of(WN, WC, WH, WW), layout, &tp, &rs, &ss),
                     BN_OK);
        CHECK_NEAR(smean[0], 5.0, 1e-6);
        CHECK_NEAR(sinvstd[0], invstd, 1e-6);
        CHECK_NEAR(y2[index_of(layout, 0, 0, 0, 0)], -2.9112, 1e-4);
        CHECK_NEAR(y2[index_of(layout, 1, 0, 1, 3)], 3.9112, 1e-4);
        for (i = 0; i < WNUM; i++) CHECK_NEAR(y2[i], y[i], 2e-6); /* batch_stats + normalize */
        if (kind == BN_MOMENTUM_PYTORCH) {
            CHECK_NEAR(rmean[0], 0.5, 1e-6);
            CHECK_NEAR(rvar[0], 0.9 + 0.1 * 88.0 / 15.0, 1e-6);
        } else if (kind == BN_MOMENTUM_ONNX) {
            CHECK_NEAR(rmean[0], 0.5, 1e-6);
            CHECK_NEAR(rvar[0], 0.9 + 0.1 * 5.5, 1e-6);
        } else {
            CHECK_NEAR(rmean[0], 5.0, 1e-6);
            CHECK_NEAR(rvar[0], 88.0 / 15.0, 1e-6);
        }
    }
    /* In place, and without running statistics: bitwise the out-of-place result. */
    memcpy(y, y2, sizeof y);
    memcpy(y2, x, sizeof x);
    CHECK_STATUS(bn_train_forward(y2, WNUM, y2, WNUM, shape_of(WN, WC, WH, WW), layout, &tp, NULL, &ss),
                 BN_OK);
    CHECK(memcmp(y, y2, sizeof y) == 0);
}

#define SENTINEL_FOLD (-777.0f)

/* Folding, both weight layouts and both bias kinds: the linear layer of the Rust doc
 * example (2 outputs, 3 inputs). */
static void test_fold(void) {
    const float mean[2] = {1.0f, -1.0f}, var[2] = {4.0f, 1.0f};
    const float gamma[2] = {1.0f, 3.0f}, beta[2] = {0.0f, 0.5f};
    const float first[6] = {0.5f, 1.0f, 1.5f, 12.0f, 15.0f, 18.0f};
    const float last[6] = {0.5f, 12.0f, 1.0f, 15.0f, 1.5f, 18.0f};
    float w[6], b[2];
    bn_norm_params p;
    int i;
    p.mean = mean; p.mean_len = 2;
    p.var = var; p.var_len = 2;
    p.gamma = gamma; p.gamma_len = 2;
    p.beta = beta; p.beta_len = 2;
    p.eps = 0.0f;

    for (i = 0; i < 6; i++) w[i] = (float)(i + 1); /* [out, in] */
    b[0] = 123.0f; b[1] = -7.0f;                    /* ignored: no bias */
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS, &p),
                 BN_OK);
    CHECK(memcmp(w, first, sizeof w) == 0);
    CHECK(b[0] == -0.5f && b[1] == 3.5f);

    for (i = 0; i < 3; i++) { w[2 * i] = (float)(i + 1); w[2 * i + 1] = (float)(i + 4); }
    b[0] = 1.0f; b[1] = 1.0f; /* [in, out], with a bias */
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_LAST, 0, 0), b, 2, BN_BIAS_IN_PLACE, &p),
                 BN_OK);
    CHECK(memcmp(w, last, sizeof w) == 0);
    CHECK(b[0] == 0.0f && b[1] == 6.5f);
}

/* Folding a transposed convolution (IOHW [in, out / groups, kh, kw]): in = 4, out = 4,
 * groups = 2, a 1x2 kernel, so per_out = (in / groups) * kernel = 4. Weight (i, j, t) is at
 * (i*2 + j)*2 + t and belongs to output channel (i / 2)*2 + j. With scale[o] = o + 1 and
 * every weight 1, the folded weight is that channel + 1, and the bias (no bias, mean 1)
 * -(o + 1). Then the refusals: groups not dividing out, kernel 0. */
static void test_fold_transposed(void) {
    const float mean[4] = {1.0f, 1.0f, 1.0f, 1.0f}, var[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    const float gamma[4] = {1.0f, 2.0f, 3.0f, 4.0f}, beta[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float w[16], b[4], w6[24], b6[6], mean6[6], var6[6];
    bn_norm_params p, p6;
    size_t i, j, t;
    p.mean = mean; p.mean_len = 4;
    p.var = var; p.var_len = 4;
    p.gamma = gamma; p.gamma_len = 4;
    p.beta = beta; p.beta_len = 4;
    p.eps = 0.0f;

    for (i = 0; i < 16; i++) w[i] = 1.0f;
    for (i = 0; i < 4; i++) b[i] = 99.0f; /* ignored: no bias */
    CHECK_STATUS(bn_fold_into_weights(w, 16, wshape(4, 4, BN_WEIGHTS_TRANSPOSED, 2, 2), b, 4,
                                      BN_BIAS_ZEROS, &p),
                 BN_OK);
    for (i = 0; i < 4; i++)
        for (j = 0; j < 2; j++)
            for (t = 0; t < 2; t++) CHECK(w[(i * 2 + j) * 2 + t] == (float)((i / 2) * 2 + j + 1));
    for (i = 0; i < 4; i++) CHECK(b[i] == -(float)(i + 1));

    /* out = 6 channels, groups = 4: refused, in C terms, nothing written. */
    for (i = 0; i < 6; i++) { mean6[i] = 0.0f; var6[i] = 1.0f; b6[i] = SENTINEL_FOLD; }
    for (i = 0; i < 24; i++) w6[i] = SENTINEL_FOLD;
    p6.mean = mean6; p6.mean_len = 6;
    p6.var = var6; p6.var_len = 6;
    p6.gamma = var6; p6.gamma_len = 6;
    p6.beta = mean6; p6.beta_len = 6;
    p6.eps = 0.0f;
    CHECK_STATUS(bn_fold_into_weights(w6, 24, wshape(6, 4, BN_WEIGHTS_TRANSPOSED, 4, 1), b6, 6,
                                      BN_BIAS_ZEROS, &p6),
                 BN_ERR_INDIVISIBLE);
    CHECK(strcmp(bn_last_error_message(), "`shape.out` = 6 is not a multiple of `shape.groups` = 4") == 0);
    CHECK_STATUS(bn_fold_into_weights(w6, 24, wshape(6, 4, BN_WEIGHTS_TRANSPOSED, 0, 1), b6, 6,
                                      BN_BIAS_ZEROS, &p6),
                 BN_ERR_INDIVISIBLE);
    CHECK(strstr(bn_last_error_message(), "shape.groups") != NULL);
    CHECK_STATUS(bn_fold_into_weights(w6, 24, wshape(6, 4, BN_WEIGHTS_TRANSPOSED, 2, 0), b6, 6,
                                      BN_BIAS_ZEROS, &p6),
                 BN_ERR_INDIVISIBLE);
    CHECK(strstr(bn_last_error_message(), "shape.kernel") != NULL);
    CHECK_STATUS(bn_fold_into_weights(w6, 24, wshape(6, 4, BN_WEIGHTS_TRANSPOSED, 2, 3), b6, 6,
                                      BN_BIAS_ZEROS, &p6),
                 BN_ERR_INDIVISIBLE);
    CHECK(strcmp(bn_last_error_message(), "`shape.per_out` = 4 is not a multiple of `shape.kernel` = 3") == 0);
    for (i = 0; i < 24; i++) CHECK(w6[i] == SENTINEL_FOLD);
    for (i = 0; i < 6; i++) CHECK(b6[i] == SENTINEL_FOLD);
    /* The other layouts ignore groups and kernel. */
    CHECK_STATUS(bn_fold_into_weights(w6, 24, wshape(6, 4, BN_WEIGHTS_OUT_FIRST, 4, 0), b6, 6,
                                      BN_BIAS_ZEROS, &p6),
                 BN_OK);
}

/* ------------------------------------------------------------------------------------ */
/* Every error status, with outputs untouched                                           */

#define SENTINEL (-12345.0f)

static void fill(float* v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) v[i] = SENTINEL;
}

static int untouched(const float* v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (v[i] != SENTINEL) return 0;
    return 1;
}

static void test_errors(void) {
    /* buf: room for x, outputs and overlapping views. Aligned for doubles. */
    static double storage[64];
    float* buf = (float*)storage;
    float x[WNUM], y[WNUM], mean[WC], var[WC], out[4 * WNUM];
    float rmean[WC], rvar[WC], smean[WC], sinvstd[WC], w[6], b[2];
    bn_moments acc[WC], acc2[4];
    bn_norm_params p, bad_p;
    bn_train_params tp, bad_tp;
    bn_running_stats rs, bad_rs;
    bn_saved_stats ss, bad_ss;
    const size_t big = (size_t)-1;
    float* misaligned = (float*)((char*)storage + 1);
    const bn_layout L = BN_LAYOUT_NCHW;
    const bn_method M = BN_METHOD_WELFORD;
    const bn_activation_kind ID = BN_ACTIVATION_IDENTITY;
    float y3[WNUM];

    worked_tensor(L, x);
    p.mean = GAMMA; p.mean_len = WC;
    p.var = GAMMA; p.var_len = WC;
    p.gamma = GAMMA; p.gamma_len = WC;
    p.beta = BETA; p.beta_len = WC;
    p.eps = EPS;
    tp.gamma = GAMMA; tp.gamma_len = WC;
    tp.beta = BETA; tp.beta_len = WC;
    tp.eps = EPS; tp.method = M; tp.act = act_of(ID, 0, 0);
    rs.mean = rmean; rs.mean_len = WC;
    rs.var = rvar; rs.var_len = WC;
    rs.momentum_kind = BN_MOMENTUM_PYTORCH; rs.momentum = 0.1f; rs.prior_batches = 0;
    ss.mean = smean; ss.mean_len = WC;
    ss.invstd = sinvstd; ss.invstd_len = WC;
    memset(acc, 0, sizeof acc);
    fill(y, WNUM); fill(mean, WC); fill(var, WC); fill(out, 4 * WNUM);
    fill(rmean, WC); fill(rvar, WC); fill(smean, WC); fill(sinvstd, WC);
    fill(w, 6); fill(b, 2);

    /* --- BN_ERR_BAD_ENUM: every enum argument and field --- */
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), 2, M, mean, WC, var, WC), BN_ERR_BAD_ENUM);
    CHECK(strstr(bn_last_error_message(), "layout") != NULL);
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), -1, M, mean, WC, var, WC), BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), L, 2, mean, WC, var, WC), BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), L, 99, acc, WC), BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(99, 0, 0)), BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), 7, &p, act_of(ID, 0, 0)), BN_ERR_BAD_ENUM);
    bad_tp = tp; bad_tp.method = 2;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_tp, &rs, &ss),
                 BN_ERR_BAD_ENUM);
    bad_tp = tp; bad_tp.act.kind = (bn_activation_kind)-1;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_tp, &rs, &ss),
                 BN_ERR_BAD_ENUM);
    bad_rs = rs; bad_rs.momentum_kind = 3;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &bad_rs, &ss),
                 BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, (bn_weight_layout)3, 0, 0), b, 2, BN_BIAS_ZEROS, &p),
                 BN_ERR_BAD_ENUM);
    CHECK(strstr(bn_last_error_message(), "shape.layout") != NULL);
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, 2, &p),
                 BN_ERR_BAD_ENUM);

    /* --- BN_ERR_NULL_POINTER: NULL with a length, NULL structs --- */
    CHECK_STATUS(bn_batch_stats(NULL, WNUM, shape_of(WN, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), L, M, NULL, WC, var, WC),
                 BN_ERR_NULL_POINTER);
    CHECK(strstr(bn_last_error_message(), "mean") != NULL);
    CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), L, M, NULL, WC),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_moments_merge(acc, NULL, WC), BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_normalize(x, WNUM, NULL, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, NULL, act_of(ID, 0, 0)),
                 BN_ERR_NULL_POINTER);
    bad_p = p; bad_p.gamma = NULL;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_p, act_of(ID, 0, 0)),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, NULL, &rs, &ss),
                 BN_ERR_NULL_POINTER);
    /* saved is optional (NULL: not kept); running too. */
    CHECK_STATUS(bn_train_forward(x, WNUM, y3, WNUM, shape_of(WN, WC, WH, WW), L, &tp, NULL, NULL),
                 BN_OK);
    bad_ss = ss; bad_ss.invstd = NULL;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &rs, &bad_ss),
                 BN_ERR_NULL_POINTER);
    bad_rs = rs; bad_rs.var = NULL;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &bad_rs, &ss),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_fold_into_weights(NULL, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS, &p),
                 BN_ERR_NULL_POINTER);
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS, NULL),
                 BN_ERR_NULL_POINTER);
    /* NULL with length 0 is fine. */
    CHECK_STATUS(bn_batch_stats(NULL, 0, shape_of(0, 0, 4, 4), L, M, NULL, 0, NULL, 0), BN_OK);
    CHECK_STATUS(bn_normalize(NULL, 0, NULL, 0, shape_of(0, WC, WH, WW), L, &p, act_of(ID, 0, 0)), BN_OK);
    CHECK_STATUS(bn_moments_merge(NULL, NULL, 0), BN_OK);
    memset(&bad_p, 0, sizeof bad_p); /* every array NULL with length 0 */
    CHECK_STATUS(bn_fold_into_weights(NULL, 0, wshape(0, 3, BN_WEIGHTS_OUT_LAST, 0, 0), NULL, 0, BN_BIAS_ZEROS,
                                      &bad_p),
                 BN_OK);

    /* --- BN_ERR_MISALIGNED --- */
    CHECK_STATUS(bn_batch_stats(misaligned, WNUM, shape_of(WN, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_MISALIGNED);
    CHECK_STATUS(bn_normalize(x, WNUM, misaligned, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_MISALIGNED);
    CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), L, M, (bn_moments*)((char*)storage + 4), WC),
                 BN_ERR_MISALIGNED);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, (const bn_norm_params*)((const char*)&p + 1), act_of(ID, 0, 0)),
                 BN_ERR_MISALIGNED);

    /* --- BN_ERR_OVERLAP: outputs overlapping inputs or each other --- */
    memcpy(buf, x, sizeof x);
    CHECK_STATUS(bn_normalize(buf, WNUM, buf + 1, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_normalize(buf + 1, WNUM, buf, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_OVERLAP);
    CHECK(memcmp(buf, x, sizeof x) == 0);
    bad_p = p; bad_p.gamma = y + 3;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_p, act_of(ID, 0, 0)),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), L, M, out, WC, out + 1, WC),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_batch_stats(buf, WNUM, shape_of(WN, WC, WH, WW), L, M, buf + WNUM - 1, WC, var, WC),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_accumulate_moments(buf, WNUM, shape_of(WN, WC, WH, WW), L, M, (bn_moments*)storage, WC),
                 BN_ERR_OVERLAP);
    CHECK(memcmp(buf, x, sizeof x) == 0);
    memset(acc2, 0, sizeof acc2);
    CHECK_STATUS(bn_moments_merge(acc2, acc2 + 1, 3), BN_ERR_OVERLAP);
    bad_ss = ss; bad_ss.mean = rmean;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &rs, &bad_ss),
                 BN_ERR_OVERLAP);
    bad_ss = ss; bad_ss.invstd = y + WNUM - 2;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &rs, &bad_ss),
                 BN_ERR_OVERLAP);
    bad_tp = tp; bad_tp.beta = smean;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_tp, &rs, &ss),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_fold_into_weights(out, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), out + 5, 2,
                                      BN_BIAS_IN_PLACE, &p),
                 BN_ERR_OVERLAP);
    bad_p = p; bad_p.var = w + 4;
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS,
                                      &bad_p),
                 BN_ERR_OVERLAP);

    /* --- BN_ERR_LENGTH_MISMATCH --- */
    CHECK_STATUS(bn_batch_stats(x, WNUM - 1, shape_of(WN, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(WN, WC, WH, WW), L, M, mean, WC - 1, var, WC),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(strstr(bn_last_error_message(), "mean") != NULL);
    CHECK_STATUS(bn_accumulate_moments(x, WNUM, shape_of(WN, WC, WH, WW), L, M, acc, WC + 1 - 2),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM - 1, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_LENGTH_MISMATCH);
    memcpy(buf, x, sizeof x);
    CHECK_STATUS(bn_normalize(buf, WNUM, buf, WNUM - 1, shape_of(WN, WC, WH, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(memcmp(buf, x, sizeof x) == 0);
    bad_p = p; bad_p.beta_len = 1;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_p, act_of(ID, 0, 0)),
                 BN_ERR_LENGTH_MISMATCH);
    bad_rs = rs; bad_rs.mean_len = 3;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &bad_rs, &ss),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK_STATUS(bn_fold_into_weights(w, 5, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS, &p),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 1, BN_BIAS_ZEROS, &p),
                 BN_ERR_LENGTH_MISMATCH);
    /* A length no buffer can have. */
    CHECK_STATUS(bn_batch_stats(x, big / 2, shape_of(WN, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_LENGTH_MISMATCH);

    /* --- BN_ERR_SHAPE_OVERFLOW / BN_ERR_WEIGHT_OVERFLOW --- */
    CHECK_STATUS(bn_batch_stats(x, WNUM, shape_of(big, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_SHAPE_OVERFLOW);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(2, WC, big / 2, WW), L, &p, act_of(ID, 0, 0)),
                 BN_ERR_SHAPE_OVERFLOW);
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, big, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS, &p),
                 BN_ERR_WEIGHT_OVERFLOW);

    /* --- BN_ERR_EMPTY_CHANNEL --- */
    CHECK_STATUS(bn_batch_stats(x, 0, shape_of(0, WC, WH, WW), L, M, mean, WC, var, WC),
                 BN_ERR_EMPTY_CHANNEL);
    CHECK_STATUS(bn_accumulate_moments(x, 0, shape_of(WN, WC, 0, WW), L, M, acc, WC), BN_ERR_EMPTY_CHANNEL);
    CHECK_STATUS(bn_train_forward(x, 0, y, 0, shape_of(0, WC, WH, WW), L, &tp, &rs, &ss),
                 BN_ERR_EMPTY_CHANNEL);

    /* --- BN_ERR_TOO_FEW_VALUES: one value per channel, unbiased running update --- */
    CHECK_STATUS(bn_train_forward(x, WC, y, WC, shape_of(1, WC, 1, 1), L, &tp, &rs, &ss),
                 BN_ERR_TOO_FEW_VALUES);
    bad_rs = rs; bad_rs.momentum_kind = BN_MOMENTUM_CUMULATIVE;
    CHECK_STATUS(bn_train_forward(x, WC, y, WC, shape_of(1, WC, 1, 1), L, &tp, &bad_rs, &ss),
                 BN_ERR_TOO_FEW_VALUES);

    /* --- BN_ERR_INVALID_PARAMETER: eps, momentum, clamp bounds --- */
    bad_p = p; bad_p.eps = -1.0f;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_p, act_of(ID, 0, 0)),
                 BN_ERR_INVALID_PARAMETER);
    CHECK(strstr(bn_last_error_message(), "eps") != NULL);
    bad_p.eps = (float)NAN;
    CHECK_STATUS(bn_fold_into_weights(w, 6, wshape(2, 3, BN_WEIGHTS_OUT_FIRST, 0, 0), b, 2, BN_BIAS_ZEROS,
                                      &bad_p),
                 BN_ERR_INVALID_PARAMETER);
    bad_p.eps = (float)INFINITY;
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_p, act_of(ID, 0, 0)),
                 BN_ERR_INVALID_PARAMETER);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(BN_ACTIVATION_CLAMP, 6.0f, 0.0f)),
                 BN_ERR_INVALID_PARAMETER);
    CHECK_STATUS(bn_normalize(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &p, act_of(BN_ACTIVATION_CLAMP, (float)NAN, 1.0f)),
                 BN_ERR_INVALID_PARAMETER);
    bad_rs = rs; bad_rs.momentum = 1.5f;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &bad_rs, &ss),
                 BN_ERR_INVALID_PARAMETER);
    CHECK(strstr(bn_last_error_message(), "momentum") != NULL);
    bad_rs = rs; bad_rs.momentum_kind = BN_MOMENTUM_ONNX; bad_rs.momentum = (float)NAN;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &tp, &bad_rs, &ss),
                 BN_ERR_INVALID_PARAMETER);
    bad_tp = tp; bad_tp.eps = -0.5f;
    CHECK_STATUS(bn_train_forward(x, WNUM, y, WNUM, shape_of(WN, WC, WH, WW), L, &bad_tp, NULL, &ss),
                 BN_ERR_INVALID_PARAMETER);

    /* --- bn_prepare and bn_normalize_prepared --- */
    {
        float scale[WC];
        const float bad_var[WC] = {1.0f, -1.0f};
        const bn_shape shape = shape_of(WN, WC, WH, WW);
        bn_prepared pp;
        fill(scale, WC);
        bad_p = p; bad_p.var = bad_var;
        CHECK_STATUS(bn_prepare(&bad_p, scale, WC), BN_ERR_BAD_CHANNEL);
        CHECK(strstr(bn_last_error_message(), "params->var[1]") != NULL);
        CHECK_STATUS(bn_prepare(&p, scale, WC - 1), BN_ERR_LENGTH_MISMATCH);
        CHECK(strstr(bn_last_error_message(), "scale_len") != NULL);
        CHECK_STATUS(bn_prepare(NULL, scale, WC), BN_ERR_NULL_POINTER);
        bad_p = p; bad_p.eps = -1.0f;
        CHECK_STATUS(bn_prepare(&bad_p, scale, WC), BN_ERR_INVALID_PARAMETER);
        CHECK(strstr(bn_last_error_message(), "params->eps") != NULL);
        CHECK_STATUS(bn_prepare(&p, (float*)GAMMA, WC), BN_ERR_OVERLAP);
        CHECK(untouched(scale, WC));
        pp.mean = GAMMA; pp.mean_len = WC;
        pp.scale = GAMMA; pp.scale_len = WC;
        pp.beta = BETA; pp.beta_len = WC;
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, L, NULL, act_of(ID, 0, 0)),
                     BN_ERR_NULL_POINTER);
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, L, &pp, leaky((float)NAN)),
                     BN_ERR_INVALID_PARAMETER);
        CHECK(strstr(bn_last_error_message(), "act.slope") != NULL);
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, L, &pp,
                                           act_of((bn_activation_kind)6, 0, 0)),
                     BN_ERR_BAD_ENUM);
        CHECK(strstr(bn_last_error_message(), "act.kind") != NULL);
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, BN_LAYOUT_MAX_ENUM, &pp,
                                           act_of(ID, 0, 0)),
                     BN_ERR_BAD_ENUM);
        pp.scale_len = 1;
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, L, &pp, act_of(ID, 0, 0)),
                     BN_ERR_LENGTH_MISMATCH);
        CHECK(strstr(bn_last_error_message(), "prepared->scale_len") != NULL);
        pp.scale_len = WC; pp.beta = y + 1;
        CHECK_STATUS(bn_normalize_prepared(x, WNUM, y, WNUM, shape, L, &pp, act_of(ID, 0, 0)),
                     BN_ERR_OVERLAP);
    }

    /* Nothing was written by any refused call. */
    CHECK(untouched(y, WNUM));
    CHECK(untouched(mean, WC) && untouched(var, WC));
    CHECK(untouched(out, 4 * WNUM));
    CHECK(untouched(rmean, WC) && untouched(rvar, WC));
    CHECK(untouched(smean, WC) && untouched(sinvstd, WC));
    CHECK(untouched(w, 6) && untouched(b, 2));
    CHECK(acc[0].count == 0 && acc[1].count == 0 && acc[0].m2 == 0.0);
    CHECK(acc2[0].count == 0 && acc2[3].count == 0);

    /* The codes a caller cannot provoke on purpose still have their messages. */
    CHECK(strstr(bn_status_message(BN_ERR_BYTE_LENGTH), "byte") != NULL);
    CHECK(strstr(bn_status_message(BN_ERR_OUT_OF_MEMORY), "memory") != NULL);
    CHECK(strstr(bn_status_message(BN_ERR_INTERNAL), "internal") != NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Backward: the worked example                                                         */

/* The backward of one channel of m values in double: dbeta = sum(dy), dgamma =
 * sum(dy * xhat), dx = gamma*invstd*(dy - dbeta/m - xhat*dgamma/m) (batch) or
 * dy*gamma*invstd (running). */
static void backward_reference(const float* x, const float* dy, size_t m, double mean, double invstd,
                               double gamma, int batch, double* dx, double* dgamma, double* dbeta) {
    size_t i;
    double sdy = 0.0, sdyx = 0.0;
    for (i = 0; i < m; i++) {
        sdy += dy[i];
        sdyx += dy[i] * (x[i] - mean) * invstd;
    }
    for (i = 0; i < m; i++) {
        double xhat = (x[i] - mean) * invstd;
        dx[i] = batch ? gamma * invstd * (dy[i] - sdy / (double)m - xhat * sdyx / (double)m)
                      : dy[i] * gamma * invstd;
    }
    *dgamma = sdyx;
    *dbeta = sdy;
}

/* |got - want| <= 1e-5 * |want| (and 1e-6 absolute, for values of 0). */
#define CHECK_REL(got, want) CHECK_NEAR((got), (want), 1e-5 * fabs((double)(want)) + 1e-6)

/* One channel, NCHW n=2, c=1, h=2, w=4: x = 1..=8 then 2..=9, mean 5, invstd =
 * 1/sqrt(5.5 + 1e-5), gamma 2; L = sum(y * w) with w = 1 on the first sample: dy = 1 on its
 * 8 values, 0 on the rest. dbeta = 8, dgamma = (1+...+8 - 8*5)*invstd = -4*invstd. */
static void test_backward(void) {
    enum { M = 16 };
    float x[M], dy[M], dx[M], dx2[M], buf[M], y[M], ones[M];
    float dgamma[1], dbeta[1], dgamma2[1], dbeta2[1];
    const float mean[1] = {5.0f}, gamma[1] = {2.0f};
    float invstd[1];
    double rdx[M], rdg, rdb, inv;
    float masked[M];
    bn_backward_params bp;
    const bn_shape shape = shape_of(2, 1, 2, 4);
    const bn_activation id = act_of(BN_ACTIVATION_IDENTITY, 0.0f, 0.0f);
    const bn_activation relu = act_of(BN_ACTIVATION_RELU, 0.0f, 0.0f);
    int stats;
    size_t i;

    invstd[0] = (float)(1.0 / sqrt(5.5 + 1e-5));
    inv = invstd[0];
    for (i = 0; i < 8; i++) {
        x[i] = (float)(i + 1);
        x[8 + i] = (float)(i + 2);
        dy[i] = 1.0f;
        dy[8 + i] = 0.0f;
    }
    bp.mean = mean; bp.mean_len = 1;
    bp.invstd = invstd; bp.invstd_len = 1;
    bp.gamma = gamma; bp.gamma_len = 1;

    for (stats = BN_FORWARD_STATS_BATCH; stats <= BN_FORWARD_STATS_RUNNING; stats++) {
        int batch = stats == BN_FORWARD_STATS_BATCH;
        CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 NULL, 0, id, dgamma, 1, dbeta, 1),
                     BN_OK);
        CHECK(dbeta[0] == 8.0f);
        CHECK_REL(dgamma[0], -4.0 * inv);
        backward_reference(x, dy, M, 5.0, inv, 2.0, batch, rdx, &rdg, &rdb);
        CHECK(rdb == 8.0);
        CHECK_NEAR(rdg, -4.0 * inv, 1e-12);
        for (i = 0; i < M; i++) CHECK_REL(dx[i], rdx[i]);
        if (!batch)
            for (i = 0; i < M; i++) CHECK_REL(dx[i], dy[i] * 2.0 * inv);

        /* In place (dx == dy): the same, bitwise. */
        memcpy(buf, dy, sizeof dy);
        CHECK_STATUS(bn_backward(x, M, buf, M, buf, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 NULL, 0, id, dgamma2, 1, dbeta2, 1),
                     BN_OK);
        CHECK(memcmp(buf, dx, sizeof dx) == 0);
        CHECK(dgamma2[0] == dgamma[0] && dbeta2[0] == dbeta[0]);

        /* Through a ReLU: y = relu(2 * xhat), positive where x > 5; dy = 1 everywhere, so the
         * gradient is that of the masked dy: dbeta = 7 (x = 6, 7, 8 and 6..=9), dgamma =
         * (1+2+3 + 1+2+3+4) * invstd = 16 * invstd. Out of place and in place. */
        for (i = 0; i < M; i++) {
            double v = 2.0 * (x[i] - 5.0) * inv;
            y[i] = v > 0.0 ? (float)v : 0.0f;
            ones[i] = 1.0f;
            masked[i] = x[i] > 5.0f ? 1.0f : 0.0f;
        }
        CHECK_STATUS(bn_backward(x, M, ones, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 y, M, relu, dgamma, 1, dbeta, 1),
                     BN_OK);
        CHECK(dbeta[0] == 7.0f);
        CHECK_REL(dgamma[0], 16.0 * inv);
        backward_reference(x, masked, M, 5.0, inv, 2.0, batch, rdx, &rdg, &rdb);
        for (i = 0; i < M; i++) CHECK_REL(dx[i], rdx[i]);
        /* The masked dy passed unmasked: the same result. */
        CHECK_STATUS(bn_backward(x, M, masked, M, dx2, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 NULL, 0, id, dgamma2, 1, dbeta2, 1),
                     BN_OK);
        CHECK(memcmp(dx, dx2, sizeof dx) == 0);
        memcpy(buf, ones, sizeof ones);
        CHECK_STATUS(bn_backward(x, M, buf, M, buf, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 y, M, relu, dgamma2, 1, dbeta2, 1),
                     BN_OK);
        CHECK(memcmp(buf, dx, sizeof dx) == 0);
        CHECK(dgamma2[0] == dgamma[0] && dbeta2[0] == dbeta[0]);
        /* ReLU6 as a clamp keeps the same values here (every y < 6). */
        CHECK_STATUS(bn_backward(x, M, ones, M, dx2, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)stats,
                                 y, M, act_of(BN_ACTIVATION_CLAMP, 0.0f, 6.0f), dgamma2, 1, dbeta2, 1),
                     BN_OK);
        CHECK(memcmp(dx, dx2, sizeof dx) == 0);
    }

    /* Refusals, nothing written. */
    fill(dx, M); fill(dgamma, 1); fill(dbeta, 1);
    memcpy(buf, dy, sizeof dy);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, NULL, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_NULL_POINTER);
    CHECK(strstr(bn_last_error_message(), "params") != NULL);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dgamma, 2, dbeta, 1),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(strstr(bn_last_error_message(), "`dgamma_len`") != NULL);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, (bn_forward_stats)2,
                             NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_BAD_ENUM);
    CHECK(strstr(bn_last_error_message(), "`stats` = 2 is not a bn_forward_stats value") != NULL);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_MAX_ENUM, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_BAD_ENUM);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             y, M, act_of((bn_activation_kind)9, 0.0f, 0.0f), dgamma, 1, dbeta, 1),
                 BN_ERR_BAD_ENUM);
    CHECK(strstr(bn_last_error_message(), "act.kind") != NULL);
    bp.invstd_len = 2;
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(strstr(bn_last_error_message(), "`params->invstd_len`") != NULL);
    bp.invstd_len = 1;
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             y, M - 1, relu, dgamma, 1, dbeta, 1),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(strstr(bn_last_error_message(), "`y_len`") != NULL);
    /* A masking activation needs y; SiLU cannot be masked by y. */
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, relu, dgamma, 1, dbeta, 1),
                 BN_ERR_INVALID_PARAMETER);
    CHECK(strstr(bn_last_error_message(), "`y` is NULL") != NULL);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             y, M, act_of(BN_ACTIVATION_SILU, 0.0f, 0.0f), dgamma, 1, dbeta, 1),
                 BN_ERR_INVALID_PARAMETER);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             y, M, act_of(BN_ACTIVATION_CLAMP, 1.0f, 0.0f), dgamma, 1, dbeta, 1),
                 BN_ERR_INVALID_PARAMETER);
    CHECK(strstr(bn_last_error_message(), "act.clamp_max") != NULL);
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, M, id, dgamma, 1, dbeta, 1),
                 BN_ERR_NULL_POINTER);
    /* Overlaps: an output over an input or another output; in place with other lengths. */
    CHECK_STATUS(bn_backward(x, M, dy, M, dx, M, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dx + 3, 1, dbeta, 1),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_backward(x, M, dy, M, (float*)x + 1, M - 1, shape_of(1, 1, 1, 15), BN_LAYOUT_NCHW, &bp,
                             BN_FORWARD_STATS_BATCH, NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_OVERLAP);
    CHECK_STATUS(bn_backward(x, M, buf, M, buf, M - 1, shape, BN_LAYOUT_NCHW, &bp, BN_FORWARD_STATS_BATCH,
                             NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_ERR_LENGTH_MISMATCH);
    CHECK(strstr(bn_last_error_message(), "`dx` == `dy`") != NULL);
    CHECK(untouched(dx, M) && untouched(dgamma, 1) && untouched(dbeta, 1));
    CHECK(memcmp(buf, dy, sizeof dy) == 0);
    /* A zero-sized batch with a channel: empty sums. */
    CHECK_STATUS(bn_backward(NULL, 0, NULL, 0, NULL, 0, shape_of(0, 1, 2, 4), BN_LAYOUT_NHWC, &bp,
                             BN_FORWARD_STATS_BATCH, NULL, 0, id, dgamma, 1, dbeta, 1),
                 BN_OK);
    CHECK(dgamma[0] == 0.0f && dbeta[0] == 0.0f);
}

/* ------------------------------------------------------------------------------------ */
/* Random cases from the Rust test                                                      */

static float* read_array(FILE* f, const char* want, size_t* len) {
    char name[64];
    size_t i;
    float* v;
    if (fscanf(f, "%63s %zu", name, len) != 2 || strcmp(name, want) != 0) {
        fprintf(stderr, "cases file: expected array %s\n", want);
        exit(2);
    }
    v = (float*)malloc((*len ? *len : 1) * sizeof(float));
    for (i = 0; i < *len; i++)
        if (fscanf(f, "%f", &v[i]) != 1) {
            fprintf(stderr, "cases file: short array %s\n", want);
            exit(2);
        }
    return v;
}

static void put_floats(FILE* o, const char* name, const float* v, size_t n) {
    size_t i;
    fprintf(o, "%s %zu", name, n);
    for (i = 0; i < n; i++) fprintf(o, " %.9g", (double)v[i]);
    fputc('\n', o);
}

static void put_moments(FILE* o, const char* name, const bn_moments* m, size_t n) {
    size_t i;
    fprintf(o, "%s %zu", name, 3 * n);
    for (i = 0; i < n; i++)
        fprintf(o, " %llu %.17g %.17g", (unsigned long long)m[i].count, m[i].mean, m[i].m2);
    fputc('\n', o);
}

#define STATUS_OK(call)                                                           \
    do {                                                                          \
        int s_ = (call);                                                          \
        if (s_ != BN_OK) {                                                        \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__,   \
                    #call, bn_status_message(s_), bn_last_error_message());       \
            failures++;                                                           \
        }                                                                         \
    } while (0)

/* One case: every kernel with every option, outputs named "case<k>/<what>/...". */
static void run_case(FILE* in, FILE* o, int k) {
    size_t n, c, h, w, num, len, i, per_out = 5;
    float *x, *gamma, *beta, *pmean, *pvar, *rmean0, *rvar0, *weights0, *bias0, *accf, *dy;
    float *y, *mean, *var, *rmean, *rvar, *smean, *sinvstd, *wt, *bias, *scale;
    bn_moments* acc;
    bn_norm_params p;
    bn_prepared pp;
    bn_train_params tp;
    bn_running_stats rs;
    bn_saved_stats ss;
    char name[128];
    int layout, method, act, kind, inplace, wl, bk, stats;
    bn_backward_params bp;

    if (fscanf(in, " case %zu %zu %zu %zu", &n, &c, &h, &w) != 4) {
        fprintf(stderr, "cases file: expected a case header\n");
        exit(2);
    }
    num = n * c * h * w;
    x = read_array(in, "x", &len);
    gamma = read_array(in, "gamma", &len);
    beta = read_array(in, "beta", &len);
    pmean = read_array(in, "mean", &len);
    pvar = read_array(in, "var", &len);
    rmean0 = read_array(in, "running_mean", &len);
    rvar0 = read_array(in, "running_var", &len);
    accf = read_array(in, "acc", &len); /* count, mean, m2 per channel */
    weights0 = read_array(in, "weights", &len);
    bias0 = read_array(in, "bias", &len);
    dy = read_array(in, "dy", &len);

    y = (float*)malloc((num + 1) * sizeof(float));
    mean = (float*)malloc((c + 1) * sizeof(float));
    var = (float*)malloc((c + 1) * sizeof(float));
    rmean = (float*)malloc((c + 1) * sizeof(float));
    rvar = (float*)malloc((c + 1) * sizeof(float));
    smean = (float*)malloc((c + 1) * sizeof(float));
    sinvstd = (float*)malloc((c + 1) * sizeof(float));
    wt = (float*)malloc((c * per_out + 1) * sizeof(float));
    bias = (float*)malloc((c + 1) * sizeof(float));
    acc = (bn_moments*)malloc((c + 1) * sizeof(bn_moments));
    scale = (float*)malloc((c + 1) * sizeof(float));

    p.mean = pmean; p.mean_len = c;
    p.var = pvar; p.var_len = c;
    p.gamma = gamma; p.gamma_len = c;
    p.beta = beta; p.beta_len = c;
    p.eps = 1e-3f;
    STATUS_OK(bn_prepare(&p, scale, c));
    sprintf(name, "case%d/scale", k);
    put_floats(o, name, scale, c);
    pp.mean = pmean; pp.mean_len = c;
    pp.scale = scale; pp.scale_len = c;
    pp.beta = beta; pp.beta_len = c;

    for (layout = 0; layout <= 1; layout++) {
        for (method = 0; method <= 1; method++) {
            STATUS_OK(bn_batch_stats(x, num, shape_of(n, c, h, w), layout, method, mean, c, var, c));
            sprintf(name, "case%d/stats/L%d/M%d/mean", k, layout, method);
            put_floats(o, name, mean, c);
            sprintf(name, "case%d/stats/L%d/M%d/var", k, layout, method);
            put_floats(o, name, var, c);
            for (i = 0; i < c; i++) {
                acc[i].count = (uint64_t)accf[3 * i];
                acc[i].mean = accf[3 * i + 1];
                acc[i].m2 = accf[3 * i + 2];
            }
            STATUS_OK(bn_accumulate_moments(x, num, shape_of(n, c, h, w), layout, method, acc, c));
            sprintf(name, "case%d/acc/L%d/M%d", k, layout, method);
            put_moments(o, name, acc, c);
        }
        /* Identity, ReLU, clamp, leaky ReLU; with the statistics and prepared. */
        for (act = 0; act <= 3; act++)
            for (inplace = 0; inplace <= 3; inplace++) {
                bn_activation a = act == 3 ? leaky(0.0625f) : act_of((bn_activation_kind)act, -0.5f, 1.25f);
                int prep = inplace >= 2, in = inplace % 2;
                if (in) memcpy(y, x, num * sizeof(float));
                if (prep)
                    STATUS_OK(bn_normalize_prepared(in ? y : x, num, y, num, shape_of(n, c, h, w),
                                                    (bn_layout)layout, &pp, a));
                else
                    STATUS_OK(bn_normalize(in ? y : x, num, y, num, shape_of(n, c, h, w),
                                           (bn_layout)layout, &p, a));
                sprintf(name, "case%d/%s/L%d/A%d/I%d", k, prep ? "prepared" : "normalize", layout,
                        act, in);
                put_floats(o, name, y, num);
            }
        for (kind = -1; kind <= 2; kind++)
            for (inplace = 0; inplace <= 1; inplace++) {
                memcpy(rmean, rmean0, c * sizeof(float));
                memcpy(rvar, rvar0, c * sizeof(float));
                tp.gamma = gamma; tp.gamma_len = c;
                tp.beta = beta; tp.beta_len = c;
                tp.eps = 1e-3f;
                tp.method = inplace; /* both methods, one each way */
                tp.act = act_of(kind < 0 ? BN_ACTIVATION_RELU : BN_ACTIVATION_IDENTITY, 0.0f, 0.0f);
                rs.mean = rmean; rs.mean_len = c;
                rs.var = rvar; rs.var_len = c;
                rs.momentum_kind = kind;
                rs.momentum = kind == BN_MOMENTUM_ONNX ? 0.9f : 0.1f;
                rs.prior_batches = 3;
                ss.mean = smean; ss.mean_len = c;
                ss.invstd = sinvstd; ss.invstd_len = c;
                if (inplace) {
                    memcpy(y, x, num * sizeof(float));
                    STATUS_OK(bn_train_forward(y, num, y, num, shape_of(n, c, h, w), layout, &tp, kind < 0 ? NULL : &rs, &ss));
                } else {
                    STATUS_OK(bn_train_forward(x, num, y, num, shape_of(n, c, h, w), layout, &tp, kind < 0 ? NULL : &rs, &ss));
                }
                sprintf(name, "case%d/train/L%d/K%d/I%d/y", k, layout, kind, inplace);
                put_floats(o, name, y, num);
                sprintf(name, "case%d/train/L%d/K%d/I%d/saved_mean", k, layout, kind, inplace);
                put_floats(o, name, smean, c);
                sprintf(name, "case%d/train/L%d/K%d/I%d/saved_invstd", k, layout, kind, inplace);
                put_floats(o, name, sinvstd, c);
                sprintf(name, "case%d/train/L%d/K%d/I%d/running_mean", k, layout, kind, inplace);
                put_floats(o, name, rmean, c);
                sprintf(name, "case%d/train/L%d/K%d/I%d/running_var", k, layout, kind, inplace);
                put_floats(o, name, rvar, c);
            }
    }
    /* OIHW, HWIO, and transposed (IOHW) ungrouped with a 1x1 kernel. */
    for (wl = 0; wl <= 2; wl++)
        for (bk = 0; bk <= 1; bk++) {
            memcpy(wt, weights0, c * per_out * sizeof(float));
            memcpy(bias, bias0, c * sizeof(float));
            STATUS_OK(bn_fold_into_weights(wt, c * per_out, wshape(c, per_out, (bn_weight_layout)wl, 1, 1),
                                           bias, c, (bn_bias)bk, &p));
            sprintf(name, "case%d/fold/W%d/B%d/weights", k, wl, bk);
            put_floats(o, name, wt, c * per_out);
            sprintf(name, "case%d/fold/W%d/B%d/bias", k, wl, bk);
            put_floats(o, name, bias, c);
        }

    /* Backward: mean and gamma of the case, running_var as invstd; without an activation
     * (y NULL) and through a ReLU with y = x; out of place and in place (dx == dy). */
    bp.mean = pmean; bp.mean_len = c;
    bp.invstd = rvar0; bp.invstd_len = c;
    bp.gamma = gamma; bp.gamma_len = c;
    for (layout = 0; layout <= 1; layout++)
        for (stats = 0; stats <= 1; stats++)
            for (act = 0; act <= 1; act++)
                for (inplace = 0; inplace <= 1; inplace++) {
                    const float* d = dy;
                    if (inplace) {
                        memcpy(y, dy, num * sizeof(float));
                        d = y;
                    }
                    STATUS_OK(bn_backward(x, num, d, num, y, num, shape_of(n, c, h, w), (bn_layout)layout, &bp,
                                          (bn_forward_stats)stats, act ? x : NULL, act ? num : 0,
                                          act_of(act ? BN_ACTIVATION_RELU : BN_ACTIVATION_IDENTITY, 0.0f, 0.0f),
                                          mean, c, var, c));
                    sprintf(name, "case%d/backward/L%d/S%d/A%d/I%d/dx", k, layout, stats, act, inplace);
                    put_floats(o, name, y, num);
                    sprintf(name, "case%d/backward/L%d/S%d/A%d/I%d/dgamma", k, layout, stats, act, inplace);
                    put_floats(o, name, mean, c);
                    sprintf(name, "case%d/backward/L%d/S%d/A%d/I%d/dbeta", k, layout, stats, act, inplace);
                    put_floats(o, name, var, c);
                }

    free(dy);
    free(x); free(gamma); free(beta); free(pmean); free(pvar); free(rmean0); free(rvar0);
    free(accf); free(weights0); free(bias0); free(y); free(mean); free(var); free(rmean);
    free(rvar); free(smean); free(sinvstd); free(wt); free(bias); free(acc); free(scale);
}

#define LAYOUT_LINE(o, type, field) \
    fprintf(o, "offsetof %s.%s %zu\n", #type, #field, offsetof(type, field))

static void put_layouts(FILE* o) {
    fprintf(o, "sizeof bn_moments %zu\n", sizeof(bn_moments));
    fprintf(o, "sizeof bn_norm_params %zu\n", sizeof(bn_norm_params));
    fprintf(o, "sizeof bn_train_params %zu\n", sizeof(bn_train_params));
    fprintf(o, "sizeof bn_running_stats %zu\n", sizeof(bn_running_stats));
    fprintf(o, "sizeof bn_saved_stats %zu\n", sizeof(bn_saved_stats));
    fprintf(o, "sizeof bn_shape %zu\n", sizeof(bn_shape));
    fprintf(o, "sizeof bn_activation %zu\n", sizeof(bn_activation));
    fprintf(o, "sizeof bn_prepared %zu\n", sizeof(bn_prepared));
    fprintf(o, "sizeof bn_status %zu\n", sizeof(bn_status));
    fprintf(o, "sizeof bn_layout %zu\n", sizeof(bn_layout));
    fprintf(o, "sizeof bn_method %zu\n", sizeof(bn_method));
    fprintf(o, "sizeof bn_activation_kind %zu\n", sizeof(bn_activation_kind));
    fprintf(o, "sizeof bn_momentum %zu\n", sizeof(bn_momentum));
    fprintf(o, "sizeof bn_weight_layout %zu\n", sizeof(bn_weight_layout));
    fprintf(o, "sizeof bn_bias %zu\n", sizeof(bn_bias));
    fprintf(o, "sizeof bn_isa %zu\n", sizeof(bn_isa));
    fprintf(o, "sizeof bn_forward_stats %zu\n", sizeof(bn_forward_stats));
    fprintf(o, "sizeof bn_weight_shape %zu\n", sizeof(bn_weight_shape));
    fprintf(o, "sizeof bn_backward_params %zu\n", sizeof(bn_backward_params));
    LAYOUT_LINE(o, bn_weight_shape, layout);
    LAYOUT_LINE(o, bn_weight_shape, groups);
    LAYOUT_LINE(o, bn_weight_shape, kernel);
    LAYOUT_LINE(o, bn_backward_params, gamma_len);
    LAYOUT_LINE(o, bn_moments, m2);
    LAYOUT_LINE(o, bn_norm_params, beta_len);
    LAYOUT_LINE(o, bn_norm_params, eps);
    LAYOUT_LINE(o, bn_train_params, eps);
    LAYOUT_LINE(o, bn_train_params, method);
    LAYOUT_LINE(o, bn_train_params, act);
    LAYOUT_LINE(o, bn_activation, clamp_max);
    LAYOUT_LINE(o, bn_activation, slope);
    LAYOUT_LINE(o, bn_shape, w);
    LAYOUT_LINE(o, bn_prepared, beta_len);
    LAYOUT_LINE(o, bn_running_stats, momentum_kind);
    LAYOUT_LINE(o, bn_running_stats, momentum);
    LAYOUT_LINE(o, bn_running_stats, prior_batches);
    LAYOUT_LINE(o, bn_saved_stats, invstd_len);
}

int main(int argc, char** argv) {
    FILE *in, *out;
    int k = 0, ch;

    test_version_and_messages();
    test_isa();
    test_worked_example(BN_LAYOUT_NCHW);
    test_worked_example(BN_LAYOUT_NHWC);
    test_fold();
    test_fold_transposed();
    test_errors();
    test_backward();

    if (argc == 3) {
        in = fopen(argv[1], "r");
        out = fopen(argv[2], "w");
        if (!in || !out) {
            fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
            return 2;
        }
        put_layouts(out);
        fprintf(out, "isa %d %s\n", bn_isa_detected(), bn_isa_name(bn_isa_detected()));
        for (;;) {
            while ((ch = fgetc(in)) == ' ' || ch == '\n') {}
            if (ch == EOF) break;
            ungetc(ch, in);
            run_case(in, out, k++);
        }
        fclose(in);
        fclose(out);
    }
    printf("test_capi: %d checks, %d failed, %d random cases\n", checks, failures, k);
    return failures == 0 ? 0 : 1;
}
