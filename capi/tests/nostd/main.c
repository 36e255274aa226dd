/*
 * The no_std C ABI on a microcontroller: a tiny C main linked with arm-none-eabi-gcc
 * against the static library built with
 *     cargo build -p batchnorm-capi --release --no-default-features --target thumbv7em-none-eabihf
 * by .ci/capi.sh. It runs the worked example (one channel, 1..=8 and 2..=9: mean 5, biased
 * var 5.5) through bn_batch_stats, bn_prepare and bn_normalize_prepared, and a refused call
 * through bn_last_error_message (in this build: the status's static text). Returns 0 when
 * every check passed (it only needs to link; run it under an emulator to see that).
 */
#include "batchnorm.h"

#include <string.h>

/* The enums are int-sized under arm-none-eabi-gcc's -fshort-enums too (*_MAX_ENUM). */
typedef char enums_are_int_sized[(sizeof(bn_layout) == 4 && sizeof(bn_status) == 4 &&
                                  sizeof(bn_activation_kind) == 4) ? 1 : -1];

int main(void) {
    float x[16] = {1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 6, 7, 8, 9}, y[16];
    float mean[1], var[1], scale[1], gamma[1] = {2.0f}, beta[1] = {0.5f};
    const bn_shape shape = {2, 1, 2, 4};
    const bn_norm_params p = {mean, 1, var, 1, gamma, 1, beta, 1, 1e-5f};
    const bn_prepared pp = {mean, 1, scale, 1, beta, 1};
    const bn_activation relu6 = {BN_ACTIVATION_CLAMP, 0.0f, 6.0f, 0.0f};
    int failures = 0;

    if (bn_batch_stats(x, 16, shape, BN_LAYOUT_NCHW, BN_METHOD_WELFORD, mean, 1, var, 1) != BN_OK)
        failures++;
    if (mean[0] != 5.0f || var[0] < 5.4999f || var[0] > 5.5001f) failures++;
    if (bn_prepare(&p, scale, 1) != BN_OK) failures++;
    if (bn_normalize_prepared(x, 16, y, 16, shape, BN_LAYOUT_NCHW, &pp, relu6) != BN_OK)
        failures++;
    if (y[0] != 0.0f || y[15] < 3.9111f || y[15] > 3.9113f) failures++;
    /* saved may be NULL (scratch on the stack in this build). */
    {
        const bn_train_params tp = {gamma, 1, beta, 1, 1e-5f, BN_METHOD_TWO_PASS, relu6};
        if (bn_train_forward(x, 16, y, 16, shape, BN_LAYOUT_NCHW, &tp, NULL, NULL) != BN_OK)
            failures++;
    }
    if (bn_batch_stats(x, 15, shape, BN_LAYOUT_NCHW, BN_METHOD_WELFORD, mean, 1, var, 1) !=
        BN_ERR_LENGTH_MISMATCH)
        failures++;
    if (strcmp(bn_last_error_message(), bn_status_message(BN_ERR_LENGTH_MISMATCH)) != 0)
        failures++;
    return failures;
}
