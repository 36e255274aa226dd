// The header compiled as C++ (-std=c++11 -pedantic -Werror) and linked against the static
// library: the extern "C" block gives the symbols C linkage, the enums and structs work
// in C++, and one kernel runs (the worked example's statistics). Run by tests/c_api.rs.
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
    float mean = 0.0f, var = 0.0f;
    int st = bn_batch_stats(x.data(), x.size(), 2, 1, 2, 4, BN_LAYOUT_NCHW, BN_METHOD_TWO_PASS,
                            &mean, 1, &var, 1);
    bn_moments m = {0, 0.0, 0.0};
    int st2 = bn_accumulate_moments(x.data(), x.size(), 2, 1, 2, 4, BN_LAYOUT_NHWC,
                                    BN_METHOD_WELFORD, &m, 1);
    bool ok = st == BN_OK && st2 == BN_OK && mean == 5.0f && std::fabs(var - 5.5f) < 1e-6f &&
              m.count == 16 && std::fabs(bn_moments_sample_variance(m) - 88.0 / 15.0) < 1e-12 &&
              std::strcmp(bn_version(), BN_VERSION_STRING) == 0 &&
              bn_status_message(BN_ERR_OVERLAP)[0] != '\0' &&
              bn_batch_stats(nullptr, 16, 2, 1, 2, 4, BN_LAYOUT_NCHW, BN_METHOD_WELFORD, &mean,
                             1, &var, 1) == BN_ERR_NULL_POINTER;
    std::printf("%s: mean %g var %g, version %s\n", ok ? "C++ OK" : "C++ FAILED", mean, var,
                bn_version());
    return ok ? 0 : 1;
}
