#!/usr/bin/env python3
"""Batch normalization of numpy arrays through libbatchnorm_capi.so with ctypes.

    cargo build -p batchnorm-capi --release
    python3 capi/examples/normalize_numpy.py [path/to/libbatchnorm_capi.so]

The library is found at the first argument, else $BATCHNORM_CAPI_LIB, else
target/release/ of this repository. Computes the statistics of an NCHW array, normalizes
it out of place and an NHWC copy in place, normalizes with constants prepared once
(bn_prepare, bn_normalize_prepared) and a leaky ReLU, checks all against numpy, checks
that a bad call gets a status code (not a crash), and prints OK.
"""
import ctypes
import os
import sys
from pathlib import Path

import numpy as np

# Values from capi/include/batchnorm.h.
BN_OK = 0
BN_ERR_LENGTH_MISMATCH = 1
BN_LAYOUT_NCHW, BN_LAYOUT_NHWC = 0, 1
BN_METHOD_WELFORD, BN_METHOD_TWO_PASS = 0, 1
BN_ACTIVATION_IDENTITY, BN_ACTIVATION_RELU, BN_ACTIVATION_CLAMP = 0, 1, 2
BN_ACTIVATION_HARDSWISH, BN_ACTIVATION_SILU, BN_ACTIVATION_LEAKY_RELU = 3, 4, 5

f32p = ctypes.POINTER(ctypes.c_float)
size_t = ctypes.c_size_t


class Shape(ctypes.Structure):
    """bn_shape"""

    _fields_ = [("n", size_t), ("c", size_t), ("h", size_t), ("w", size_t)]


class Activation(ctypes.Structure):
    """bn_activation (kind is a bn_activation_kind: an int-sized enum)"""

    _fields_ = [("kind", ctypes.c_int), ("clamp_min", ctypes.c_float),
                ("clamp_max", ctypes.c_float), ("slope", ctypes.c_float)]


class Prepared(ctypes.Structure):
    """bn_prepared"""

    _fields_ = [("mean", f32p), ("mean_len", size_t),
                ("scale", f32p), ("scale_len", size_t),
                ("beta", f32p), ("beta_len", size_t)]


class NormParams(ctypes.Structure):
    """bn_norm_params"""

    _fields_ = [
        ("mean", f32p), ("mean_len", size_t),
        ("var", f32p), ("var_len", size_t),
        ("gamma", f32p), ("gamma_len", size_t),
        ("beta", f32p), ("beta_len", size_t),
        ("eps", ctypes.c_float),
    ]


def load(path):
    lib = ctypes.CDLL(str(path))
    lib.bn_version.restype = ctypes.c_char_p
    lib.bn_status_message.restype = ctypes.c_char_p
    lib.bn_status_message.argtypes = [ctypes.c_int]
    lib.bn_last_error_message.restype = ctypes.c_char_p
    lib.bn_batch_stats.restype = ctypes.c_int
    # Enum parameters (bn_layout, bn_method, ...) are int-sized: ctypes.c_int.
    lib.bn_batch_stats.argtypes = [f32p, size_t, Shape, ctypes.c_int, ctypes.c_int,
                                   f32p, size_t, f32p, size_t]
    lib.bn_normalize.restype = ctypes.c_int
    lib.bn_normalize.argtypes = [f32p, size_t, f32p, size_t, Shape, ctypes.c_int,
                                 ctypes.POINTER(NormParams), Activation]
    lib.bn_prepare.restype = ctypes.c_int
    lib.bn_prepare.argtypes = [ctypes.POINTER(NormParams), f32p, size_t]
    lib.bn_normalize_prepared.restype = ctypes.c_int
    lib.bn_normalize_prepared.argtypes = [f32p, size_t, f32p, size_t, Shape, ctypes.c_int,
                                          ctypes.POINTER(Prepared), Activation]
    return lib


def shape_of(x, layout):
    """The bn_shape of an NCHW or NHWC array."""
    n, c, h, w = x.shape if layout == BN_LAYOUT_NCHW else (x.shape[0], x.shape[3], *x.shape[1:3])
    return Shape(n, c, h, w)


def ptr(a):
    """A float* to a C-contiguous float32 array (which must outlive the call)."""
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(f32p)


def check(lib, status):
    if status != BN_OK:
        raise RuntimeError(f"{lib.bn_status_message(status).decode()}: "
                           f"{lib.bn_last_error_message().decode()}")


def batch_stats(lib, x, layout, method=BN_METHOD_TWO_PASS):
    shape = shape_of(x, layout)
    c = shape.c
    mean, var = np.empty(c, np.float32), np.empty(c, np.float32)
    check(lib, lib.bn_batch_stats(ptr(x), x.size, shape, layout, method,
                                  ptr(mean), c, ptr(var), c))
    return mean, var


def normalize(lib, x, y, layout, mean, var, gamma, beta, eps,
              act=Activation(BN_ACTIVATION_IDENTITY, 0.0, 0.0, 0.0)):
    """y = act((x - mean) * gamma / sqrt(var + eps) + beta) per channel; y may be x."""
    shape = shape_of(x, layout)
    c = shape.c
    p = NormParams(ptr(mean), c, ptr(var), c, ptr(gamma), c, ptr(beta), c, eps)
    return lib.bn_normalize(ptr(x), x.size, ptr(y), y.size, shape, layout, ctypes.byref(p), act)


def main():
    default = Path(__file__).resolve().parents[2] / "target" / "release" / "libbatchnorm_capi.so"
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BATCHNORM_CAPI_LIB", default)
    lib = load(path)

    rng = np.random.default_rng(5)
    n, c, h, w = 4, 3, 5, 6
    offsets = np.array([0.0, 100.0, -3.0], np.float32)[None, :, None, None]
    x = (rng.normal(size=(n, c, h, w)) * 2.0 + offsets).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32)
    beta = rng.uniform(-1.0, 1.0, c).astype(np.float32)
    eps = 1e-5

    # Statistics, against numpy's (biased variance, like the library's).
    mean, var = batch_stats(lib, x, BN_LAYOUT_NCHW)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-5)

    # Out of place, NCHW.
    want = ((x64 - x64.mean(axis=(0, 2, 3))[None, :, None, None])
            / np.sqrt(x64.var(axis=(0, 2, 3)) + eps)[None, :, None, None]
            * gamma[None, :, None, None] + beta[None, :, None, None])
    y = np.empty_like(x)
    check(lib, normalize(lib, x, y, BN_LAYOUT_NCHW, mean, var, gamma, beta, eps))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)

    # In place, NHWC (channels last): the same values, transposed.
    xt = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    mean_t, var_t = batch_stats(lib, xt, BN_LAYOUT_NHWC, BN_METHOD_WELFORD)
    np.testing.assert_allclose(mean_t, mean, rtol=1e-6, atol=1e-6)
    check(lib, normalize(lib, xt, xt, BN_LAYOUT_NHWC, mean_t, var_t, gamma, beta, eps))
    np.testing.assert_allclose(xt, want.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)

    # Constants prepared once (as at model load), then leaky ReLU fused: bitwise equal to
    # bn_normalize with the same parameters.
    c = gamma.size
    p = NormParams(ptr(mean), c, ptr(var), c, ptr(gamma), c, ptr(beta), c, eps)
    scale = np.empty(c, np.float32)
    check(lib, lib.bn_prepare(ctypes.byref(p), ptr(scale), c))
    prepared = Prepared(ptr(mean), c, ptr(scale), c, ptr(beta), c)
    leaky = Activation(BN_ACTIVATION_LEAKY_RELU, 0.0, 0.0, 0.01)
    y_prep, y_leaky = np.empty_like(x), np.empty_like(x)
    check(lib, lib.bn_normalize_prepared(ptr(x), x.size, ptr(y_prep), y_prep.size,
                                         shape_of(x, BN_LAYOUT_NCHW), BN_LAYOUT_NCHW,
                                         ctypes.byref(prepared), leaky))
    check(lib, normalize(lib, x, y_leaky, BN_LAYOUT_NCHW, mean, var, gamma, beta, eps, leaky))
    assert np.array_equal(y_prep, y_leaky)
    np.testing.assert_allclose(y_prep, np.where(want >= 0, want, 0.01 * want),
                               rtol=1e-5, atol=1e-5)

    # A bad call gets a status code and leaves the output alone.
    short = np.zeros(x.size - 1, np.float32)
    status = normalize(lib, x, short, BN_LAYOUT_NCHW, mean, var, gamma, beta, eps)
    assert status == BN_ERR_LENGTH_MISMATCH, status
    assert not short.any()
    print(f"refused as expected: {lib.bn_last_error_message().decode()}")

    print(f"OK: batchnorm {lib.bn_version().decode()} via ctypes matches numpy "
          f"on a {n}x{c}x{h}x{w} tensor in NCHW and NHWC (max |error| "
          f"{np.abs(y - want).max():.2e})")


if __name__ == "__main__":
    main()
