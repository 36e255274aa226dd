//! Streaming stores ([`crate::plan::stream_rows`]) change no bit: the strided normalize is
//! forced to stream (and not to) on small tensors, at every level, out of place and in
//! place, with the output on a 64-byte line (the levels with streaming stores use them)
//! and off one (they fall back to plain stores); the values between rows stay untouched.

extern crate std;
use crate::plan::STREAM;
use crate::{Activation, Isa, Kernels, NormParams, Prepared, Shape};
use core::sync::atomic::Ordering;
use std::vec;
use std::vec::Vec;

/// A value no kernel writes: the gaps between rows must keep it.
const GAP: f32 = -123.25;

/// The output of one strided normalize of `rows` rows of `c` channels `stride` apart, at
/// `isa`, streamed or not, written at `off` values into a buffer on a 64-byte line.
#[allow(clippy::too_many_arguments)]
fn run(
    isa: Isa,
    stream: bool,
    in_place: bool,
    prepared: bool,
    c: usize,
    stride: usize,
    rows: usize,
    off: usize,
) -> Vec<u32> {
    let len = (rows - 1) * stride + c;
    let x: Vec<f32> = (0..len)
        .map(|i| {
            if i % stride < c {
                ((i * 7919) % 1013) as f32 * 0.01 - 5.0
            } else {
                GAP
            }
        })
        .collect();
    let mean: Vec<f32> = (0..c).map(|k| k as f32 * 0.003 - 0.1).collect();
    let var: Vec<f32> = (0..c).map(|k| 0.5 + k as f32 * 0.01).collect();
    let gamma: Vec<f32> = (0..c).map(|k| 1.0 - k as f32 * 0.0007).collect();
    let beta: Vec<f32> = (0..c).map(|k| k as f32 * -0.002).collect();
    let np = NormParams {
        mean: &mean,
        var: &var,
        gamma: &gamma,
        beta: &beta,
        eps: 1e-5,
    };
    let mut scale = vec![0.0; c];
    crate::prepare(&np, &mut scale).expect("valid parameters");
    let pp = Prepared {
        mean: &mean,
        scale: &scale,
        beta: &beta,
    };
    // A buffer whose element `off` starts a 64-byte line.
    let mut buf = vec![GAP; len + 32];
    let line = (16 - (buf.as_ptr() as usize / 4) % 16) % 16;
    let out = &mut buf[line + off..line + off + len];
    let shape = Shape::new(1, c, 1, rows);
    let act = Activation::Clamp {
        min: -1.0,
        max: 2.5,
    };
    let k = Kernels::new(isa).expect("supported");
    STREAM.store(if stream { 1 } else { 2 }, Ordering::Relaxed);
    let r = match (in_place, prepared) {
        (false, false) => k.normalize_strided(&x, stride, out, stride, shape, &np, act),
        (false, true) => k.normalize_prepared_strided(&x, stride, out, stride, shape, &pp, act),
        (true, false) => {
            out.copy_from_slice(&x);
            k.normalize_strided_in_place(out, stride, shape, &np, act)
        }
        (true, true) => {
            out.copy_from_slice(&x);
            k.normalize_prepared_strided_in_place(out, stride, shape, &pp, act)
        }
    };
    STREAM.store(0, Ordering::Relaxed);
    r.expect("valid arguments");
    for (i, v) in out.iter().enumerate() {
        if i % stride >= c {
            assert_eq!(v.to_bits(), GAP.to_bits(), "{isa}: gap value {i} written");
        }
    }
    out.iter().map(|v| v.to_bits()).collect()
}

// Under Miri only the portable level runs, which never streams.
#[test]
#[cfg_attr(miri, ignore)]
fn streaming_changes_no_bit() {
    // Rows of whole vectors (the span path), rows with a last partial vector (stored
    // plainly), and a block of channels that is not the first.
    for (c, stride, rows) in [(48, 80, 37), (40, 64, 21), (1100, 1152, 9)] {
        for isa in Isa::supported() {
            for (in_place, prepared) in [(false, false), (false, true), (true, false), (true, true)]
            {
                for off in [0, 4] {
                    let plain = run(isa, false, in_place, prepared, c, stride, rows, off);
                    let streamed = run(isa, true, in_place, prepared, c, stride, rows, off);
                    assert!(
                        plain == streamed,
                        "{isa}: c {c} stride {stride}, in place {in_place}, prepared {prepared}, offset {off}"
                    );
                }
            }
        }
    }
}
