/* Default build against native build, in one process, on the same buffers.
 *
 * Loads two builds of libbatchnorm_capi.so, each in its own link namespace (dlmopen), and
 * times every kernel of the benchmark grid through both, alternating: round r runs A then B
 * when r is even and B then A when it is odd, so drift in the machine's speed (other
 * tenants, clock changes) falls on both alike. Every tensor starts a 4 KiB page, and both
 * builds get the same buffers, so buffer placement cannot favour one of them.
 *
 *   cc -O2 -o ab_builds capi/bench/ab_builds.c -ldl
 *   ./ab_builds <default.so> <native.so> [seconds per row] [row filter]
 *
 * capi/bench/ab_builds.sh builds both libraries and runs it. Each line gives a row's best
 * time through each library and their ratio, best(native) / best(default): the default
 * build's speed as a fraction of the native build's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../include/batchnorm.h"

typedef bn_status (*batch_stats_fn)(const float*, size_t, bn_shape, bn_layout, bn_method,
                                    float*, size_t, float*, size_t);
typedef bn_status (*normalize_fn)(const float*, size_t, float*, size_t, bn_shape, bn_layout,
                                  const bn_norm_params*, bn_activation);
typedef bn_status (*prepare_fn)(const bn_norm_params*, float*, size_t);
typedef bn_status (*normalize_prepared_fn)(const float*, size_t, float*, size_t, bn_shape,
                                           bn_layout, const bn_prepared*, bn_activation);
typedef bn_status (*train_forward_fn)(const float*, size_t, float*, size_t, bn_shape,
                                      bn_layout, const bn_train_params*,
                                      const bn_running_stats*, const bn_saved_stats*);
typedef bn_status (*backward_fn)(const float*, size_t, const float*, size_t, float*, size_t,
                                 bn_shape, bn_layout, const bn_backward_params*,
                                 bn_forward_stats, const float*, size_t, bn_activation,
                                 float*, size_t, float*, size_t);
typedef bn_isa (*isa_detected_fn)(void);
typedef const char* (*isa_name_fn)(bn_isa);

typedef struct lib {
    const char* path;
    batch_stats_fn batch_stats;
    normalize_fn normalize;
    prepare_fn prepare;
    normalize_prepared_fn normalize_prepared;
    train_forward_fn train_forward;
    backward_fn backward;
    isa_detected_fn isa_detected;
    isa_name_fn isa_name;
} lib;

static void* sym(void* handle, const char* path, const char* name) {
    void* p = dlsym(handle, name);
    if (!p) {
        fprintf(stderr, "%s: no symbol %s\n", path, name);
        exit(2);
    }
    return p;
}

static lib load(const char* path) {
    /* A new namespace each: both libraries have the same SONAME, and dlopen would hand
     * back the first one for the second path. */
    void* h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlmopen %s: %s\n", path, dlerror());
        exit(2);
    }
    lib l;
    l.path = path;
    l.batch_stats = (batch_stats_fn)sym(h, path, "bn_batch_stats");
    l.normalize = (normalize_fn)sym(h, path, "bn_normalize");
    l.prepare = (prepare_fn)sym(h, path, "bn_prepare");
    l.normalize_prepared = (normalize_prepared_fn)sym(h, path, "bn_normalize_prepared");
    l.train_forward = (train_forward_fn)sym(h, path, "bn_train_forward");
    l.backward = (backward_fn)sym(h, path, "bn_backward");
    l.isa_detected = (isa_detected_fn)sym(h, path, "bn_isa_detected");
    l.isa_name = (isa_name_fn)sym(h, path, "bn_isa_name");
    return l;
}

static float* paged(size_t len) {
    size_t bytes = (len * sizeof(float) + 4095) / 4096 * 4096;
    float* p = aligned_alloc(4096, bytes ? bytes : 4096);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* A small deterministic generator: values of mean about 1 and spread about 1. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float next_value(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return 1.0f + (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum op {
    STATS_WELFORD,
    STATS_TWO_PASS,
    NORMALIZE,
    NORMALIZE_RELU6,
    PREPARED,
    PREPARED_HARDSWISH,
    TRAIN_WELFORD,
    TRAIN_TWO_PASS,
    BACKWARD_BATCH,
    BACKWARD_RUNNING,
    OPS
};
static const char* op_name[OPS] = {
    "stats Welford",      "stats TwoPass", "normalize identity", "normalize relu6",
    "prepared identity",  "prepared hardswish", "train Welford", "train TwoPass",
    "backward Batch",     "backward Running",
};

typedef struct buffers {
    bn_shape shape;
    bn_layout layout;
    size_t len, c;
    float *x, *y, *dy, *mean, *var, *gamma, *beta, *scale, *invstd, *rmean, *rvar, *dgamma,
        *dbeta;
} buffers;

static void run(const lib* l, enum op op, buffers* b) {
    bn_status s = BN_OK;
    bn_activation identity = {BN_ACTIVATION_IDENTITY, 0.0f, 0.0f, 0.0f};
    bn_activation relu6 = {BN_ACTIVATION_CLAMP, 0.0f, 6.0f, 0.0f};
    bn_activation hardswish = {BN_ACTIVATION_HARDSWISH, 0.0f, 0.0f, 0.0f};
    bn_norm_params np = {b->mean, b->c, b->var, b->c, b->gamma, b->c, b->beta, b->c, 1e-5f};
    bn_prepared pp = {b->mean, b->c, b->scale, b->c, b->beta, b->c};
    bn_train_params tp = {b->gamma, b->c, b->beta, b->c, 1e-5f, BN_METHOD_WELFORD, identity};
    bn_running_stats rs = {b->rmean, b->c, b->rvar, b->c, BN_MOMENTUM_PYTORCH, 0.1f, 0};
    bn_saved_stats ss = {b->mean, b->c, b->invstd, b->c};
    bn_backward_params bp = {b->mean, b->c, b->invstd, b->c, b->gamma, b->c};
    switch (op) {
    case STATS_WELFORD:
    case STATS_TWO_PASS:
        s = l->batch_stats(b->x, b->len, b->shape, b->layout,
                           op == STATS_WELFORD ? BN_METHOD_WELFORD : BN_METHOD_TWO_PASS,
                           b->mean, b->c, b->var, b->c);
        break;
    case NORMALIZE:
    case NORMALIZE_RELU6:
        s = l->normalize(b->x, b->len, b->y, b->len, b->shape, b->layout, &np,
                         op == NORMALIZE ? identity : relu6);
        break;
    case PREPARED:
    case PREPARED_HARDSWISH:
        s = l->normalize_prepared(b->x, b->len, b->y, b->len, b->shape, b->layout, &pp,
                                  op == PREPARED ? identity : hardswish);
        break;
    case TRAIN_WELFORD:
    case TRAIN_TWO_PASS:
        tp.method = op == TRAIN_WELFORD ? BN_METHOD_WELFORD : BN_METHOD_TWO_PASS;
        /* saved goes to scratch copies: mean and invstd stay what backward is timed with */
        ss.mean = b->dgamma;
        ss.invstd = b->dbeta;
        s = l->train_forward(b->x, b->len, b->y, b->len, b->shape, b->layout, &tp, &rs, &ss);
        break;
    case BACKWARD_BATCH:
    case BACKWARD_RUNNING:
        s = l->backward(b->x, b->len, b->dy, b->len, b->y, b->len, b->shape, b->layout, &bp,
                        op == BACKWARD_BATCH ? BN_FORWARD_STATS_BATCH
                                             : BN_FORWARD_STATS_RUNNING,
                        NULL, 0, identity, b->dgamma, b->c, b->dbeta, b->c);
        break;
    case OPS:
        break;
    }
    if (s != BN_OK) {
        fprintf(stderr, "%s: %s failed with status %d\n", l->path, op_name[op], (int)s);
        exit(1);
    }
}

/* Seconds per call: the best of `reps` calls timed one by one would be dominated by the
 * clock on small tensors, so each sample times `inner` calls. */
static double sample(const lib* l, enum op op, buffers* b, int inner) {
    double t0 = now();
    for (int i = 0; i < inner; i++) run(l, op, b);
    return (now() - t0) / inner;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <default build .so> <native build .so> [seconds per row] [row filter]\n",
                argv[0]);
        return 2;
    }
    double budget = argc > 3 ? atof(argv[3]) : 0.4;
    /* Only rows whose "shape layout op" contains this text, e.g. "8x512x28x28 NCHW train". */
    const char* filter = argc > 4 ? argv[4] : "";
    lib libs[2] = {load(argv[1]), load(argv[2])};
    printf("A: %s, ISA %s\nB: %s, ISA %s\n", argv[1],
           libs[0].isa_name(libs[0].isa_detected()), argv[2],
           libs[1].isa_name(libs[1].isa_detected()));
    printf("%-16s %-5s %-19s %10s %10s %7s\n", "shape", "lay", "op", "A us", "B us",
           "B/A");
    static const size_t grid[8][4] = {{1, 3, 224, 224},  {1, 32, 112, 112}, {1, 64, 56, 56},
                                      {1, 256, 14, 14},  {1, 1280, 7, 7},   {32, 64, 56, 56},
                                      {8, 512, 28, 28},  {256, 1024, 1, 1}};
    int rows = 0, below = 0;
    double worst = 1e9;
    for (int g = 0; g < 8; g++) {
        for (int lay = 0; lay < 2; lay++) {
            buffers b;
            b.shape = (bn_shape){grid[g][0], grid[g][1], grid[g][2], grid[g][3]};
            b.layout = lay ? BN_LAYOUT_NHWC : BN_LAYOUT_NCHW;
            b.c = grid[g][1];
            b.len = grid[g][0] * grid[g][1] * grid[g][2] * grid[g][3];
            b.x = paged(b.len);
            b.y = paged(b.len);
            b.dy = paged(b.len);
            float** per_channel[] = {&b.mean, &b.var,  &b.gamma, &b.beta,   &b.scale,
                                     &b.invstd, &b.rmean, &b.rvar, &b.dgamma, &b.dbeta};
            for (size_t k = 0; k < sizeof per_channel / sizeof *per_channel; k++)
                *per_channel[k] = paged(b.c);
            for (size_t i = 0; i < b.len; i++) {
                b.x[i] = next_value();
                b.dy[i] = next_value() - 1.0f;
            }
            for (size_t k = 0; k < b.c; k++) {
                b.mean[k] = 1.0f;
                b.var[k] = 1.0f / 12.0f;
                b.gamma[k] = 1.5f;
                b.beta[k] = 0.25f;
                b.rmean[k] = 0.0f;
                b.rvar[k] = 1.0f;
                b.invstd[k] = 3.4f;
            }
            bn_norm_params np = {b.mean, b.c, b.var, b.c, b.gamma, b.c, b.beta, b.c, 1e-5f};
            if (libs[0].prepare(&np, b.scale, b.c) != BN_OK) {
                fprintf(stderr, "bn_prepare failed\n");
                return 1;
            }
            char label[32];
            snprintf(label, sizeof label, "%zux%zux%zux%zu", b.shape.n, b.shape.c, b.shape.h,
                     b.shape.w);
            for (int op = 0; op < OPS; op++) {
                char row[96];
                snprintf(row, sizeof row, "%s %s %s", label, lay ? "NHWC" : "NCHW",
                         op_name[op]);
                if (!strstr(row, filter)) continue;
                /* calls per sample: about 2 ms of work */
                run(&libs[0], (enum op)op, &b);
                run(&libs[1], (enum op)op, &b);
                double one = sample(&libs[0], (enum op)op, &b, 1);
                int inner = (int)(2e-3 / (one > 1e-7 ? one : 1e-7)) + 1;
                int rounds = (int)(budget / (2.0 * inner * one)) + 1;
                if (rounds < 8) rounds = 8;
                double best[2] = {1e30, 1e30};
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < 2; k++) {
                        int which = (r & 1) ? 1 - k : k;
                        double t = sample(&libs[which], (enum op)op, &b, inner);
                        if (t < best[which]) best[which] = t;
                    }
                }
                double ratio = best[1] / best[0];
                rows++;
                if (ratio < 0.95) below++;
                if (ratio < worst) worst = ratio;
                printf("%-16s %-5s %-19s %10.2f %10.2f %7.3f%s\n", label, lay ? "NHWC" : "NCHW",
                       op_name[op], best[0] * 1e6, best[1] * 1e6, ratio,
                       ratio < 0.95 ? "  <0.95" : "");
                fflush(stdout);
            }
            free(b.x);
            free(b.y);
            free(b.dy);
            for (size_t k = 0; k < sizeof per_channel / sizeof *per_channel; k++)
                free(*per_channel[k]);
        }
    }
    printf("%d rows, %d below 0.95, worst %.3f\n", rows, below, worst);
    return 0;
}
