// The header compiled as C++ (-std=c++11 -pedantic -Werror) and linked against the static
// library: the extern "C" block gives the symbols C linkage, the typed enums and the
// structs work in C++, and kernels run (the worked example's statistics, prepared
// normalize with leaky ReLU). Run by tests/c_api.rs.
#include "batchnorm.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

int main() {
    // One channel: 1..=8 and 2..=9.
    std::vector<float> x;
    for (int s = 0; s < 2; ++s)
        for (int i = 1; i <= 8; ++i) x.push_back(static_cast<float>(i + s));
    const bn_shape shape = {2, 1, 2, 4};
    float mean = 0.0f, var = 0.0f;
    bn_status st = bn_batch_stats(x.data(), x.size(), shape, BN_LAYOUT_NCHW, BN_METHOD_TWO_PASS,
                                  &mean, 1, &var, 1);
    bn_moments m = {0, 0.0, 0.0};
    bn_status st2 = bn_accumulate_moments(x.data(), x.size(), shape, BN_LAYOUT_NHWC,
                                          BN_METHOD_WELFORD, &m, 1);
    // Prepared once, then normalize with leaky ReLU: y(1) = 0.01 * -2.9112..., y(9) = 3.9112...
    const float gamma = 2.0f, beta = 0.5f;
    const bn_norm_params p = {&mean, 1, &var, 1, &gamma, 1, &beta, 1, 1e-5f};
    float scale = 0.0f;
    bn_status st3 = bn_prepare(&p, &scale, 1);
    const bn_prepared pp = {&mean, 1, &scale, 1, &beta, 1};
    const bn_activation leaky = {BN_ACTIVATION_LEAKY_RELU, 0.0f, 0.0f, 0.01f};
    std::vector<float> y(x.size());
    bn_status st4 = bn_normalize_prepared(x.data(), x.size(), y.data(), y.size(), shape,
                                          BN_LAYOUT_NCHW, &pp, leaky);
    bool ok = st == BN_OK && st2 == BN_OK && st3 == BN_OK && st4 == BN_OK && mean == 5.0f &&
              std::fabs(var - 5.5f) < 1e-6f && m.count == 16 &&
              std::fabs(bn_moments_sample_variance(m) - 88.0 / 15.0) < 1e-12 &&
              std::fabs(y[0] - 0.01f * -2.9112f) < 1e-5f && std::fabs(y[15] - 3.9112f) < 1e-4f &&
              std::strcmp(bn_version(), BN_VERSION_STRING) == 0 &&
              bn_status_message(BN_ERR_OVERLAP)[0] != '\0' &&
              bn_batch_stats(nullptr, 16, shape, BN_LAYOUT_NCHW, BN_METHOD_WELFORD, &mean, 1, &var,
                             1) == BN_ERR_NULL_POINTER;
    std::printf("%s: mean %g var %g, y[0] %g, version %s\n", ok ? "C++ OK" : "C++ FAILED", mean,
                var, y[0], bn_version());
    return ok ? 0 : 1;
}
