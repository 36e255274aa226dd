//! Streaming stores ([`crate::plan::stream_rows`]) change no bit: the strided normalize is
//! forced to stream (and not to) on small tensors, at every level, out of place and in
//! place, with the output on a 64-byte line (the levels with streaming stores use them)
//! and off one (they fall back to plain stores); the values between rows stay untouched.
//! Nor does the 256-bit identity normalize at AVX-512 ([`crate::plan::normalize_level`]).

extern crate std;
use crate::plan::{NARROW, STREAM, normalize_level};
use crate::{Activation, Isa, Kernels, NormParams, Prepared, Shape};
use core::sync::atomic::Ordering;
use std::vec;
use std::vec::Vec;

/// A value no kernel writes: the gaps between rows must keep it.
const GAP: f32 = -123.25;

/// Parameters of `c` channels: `[mean, var, gamma, beta, scale]`, `scale` prepared
/// from the others.
fn params(c: usize) -> [Vec<f32>; 5] {
    let mean: Vec<f32> = (0..c).map(|k| k as f32 * 0.37 - 3.0).collect();
    let var: Vec<f32> = (0..c).map(|k| 0.25 + k as f32 * 0.11).collect();
    let gamma: Vec<f32> = (0..c).map(|k| 1.5 - k as f32 * 0.013).collect();
    let beta: Vec<f32> = (0..c).map(|k| k as f32 * 0.07 - 0.4).collect();
    let mut scale = vec![0.0; c];
    let (np, _) = views(&mean, &var, &gamma, &beta, &scale);
    let mut out = vec![0.0; c];
    crate::prepare(&np, &mut out).expect("valid parameters");
    scale.copy_from_slice(&out);
    [mean, var, gamma, beta, scale]
}

/// The [`NormParams`] and [`Prepared`] views of [`params`].
fn views<'a>(
    mean: &'a [f32],
    var: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    scale: &'a [f32],
) -> (NormParams<'a>, Prepared<'a>) {
    let np = NormParams {
        mean,
        var,
        gamma,
        beta,
        eps: 1e-5,
    };
    (np, Prepared { mean, scale, beta })
}

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
    let [mean, var, gamma, beta, scale] = params(c);
    let (np, pp) = views(&mean, &var, &gamma, &beta, &scale);
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

/// The identity normalize at [`Isa::Avx512`] of `x` (`shape`, `layout`), as the plan
/// runs it (`narrow`: at AVX2 where [`normalize_level`] says so) or forced to AVX-512:
/// the bits of the plain and prepared normalize, out of place and in place.
fn identity_bits(x: &[f32], shape: Shape, layout: crate::Layout, narrow: bool) -> [Vec<u32>; 4] {
    let [mean, var, gamma, beta, scale] = params(shape.c);
    let (np, pp) = views(&mean, &var, &gamma, &beta, &scale);
    let k = Kernels::new(Isa::Avx512).expect("supported");
    let act = Activation::Identity;
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut c_, mut d) = (x.to_vec(), x.to_vec());
    NARROW.store(if narrow { 0 } else { 2 }, Ordering::Relaxed);
    let r = (
        k.normalize(x, &mut a, shape, layout, &np, act),
        k.normalize_prepared(x, &mut b, shape, layout, &pp, act),
        k.normalize_in_place(&mut c_, shape, layout, &np, act),
        k.normalize_prepared_in_place(&mut d, shape, layout, &pp, act),
    );
    NARROW.store(0, Ordering::Relaxed);
    assert!(
        r.0.is_ok() && r.1.is_ok() && r.2.is_ok() && r.3.is_ok(),
        "{r:?}"
    );
    [bits(&a), bits(&b), bits(&c_), bits(&d)]
}

// Under Miri only the portable level runs.
#[test]
#[cfg_attr(miri, ignore)]
fn narrow_identity_changes_no_bit() {
    use crate::Layout::{Nchw, Nhwc};
    if !Isa::Avx512.is_supported() {
        return;
    }
    // Contiguous rows of a whole number of vectors and of a partial one; planes of whole
    // vectors and planes that end mid-vector, over two images.
    let cases = [
        (Shape::new(1, 64, 14, 14), Nhwc),
        (Shape::new(3, 19, 15, 15), Nhwc),
        (Shape::new(1, 16, 32, 32), Nchw),
        (Shape::new(2, 3, 47, 45), Nchw),
    ];
    for (shape, layout) in cases {
        let n = shape.numel().expect("small");
        let plane = (layout == Nchw).then_some(shape.h * shape.w);
        assert_eq!(
            normalize_level(Isa::Avx512, plane, true, n, true),
            Isa::Avx2,
            "{shape:?} {layout:?} must take the 256-bit path"
        );
        let x: Vec<f32> = (0..n)
            .map(|i| (((i % 2003) * 7919) % 2003) as f32 * 0.013 - 11.0)
            .collect();
        let wide = identity_bits(&x, shape, layout, false);
        let narrow = identity_bits(&x, shape, layout, true);
        for (what, (w, v)) in ["normalize", "prepared", "in place", "prepared in place"]
            .iter()
            .zip(wide.iter().zip(&narrow))
        {
            let diff = w.iter().zip(v).position(|(a, b)| a != b);
            assert_eq!(
                diff, None,
                "{shape:?} {layout:?} {what}: first differing value"
            );
        }
    }
}

/// The bits of the plain and prepared normalize of `x` out of place, at `isa`, with the
/// contiguous output streamed or not ([`crate::plan::stream_out`]), written at `off`
/// values past a 64-byte line.
fn contiguous_bits(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    layout: crate::Layout,
    stream: bool,
    off: usize,
) -> [Vec<u32>; 2] {
    let [mean, var, gamma, beta, scale] = params(shape.c);
    let (np, pp) = views(&mean, &var, &gamma, &beta, &scale);
    let k = Kernels::new(isa).expect("supported");
    let act = Activation::HardSwish;
    let len = x.len();
    let (mut a, mut b) = (vec![GAP; len + 32], vec![GAP; len + 32]);
    let la = (16 - (a.as_ptr() as usize / 4) % 16) % 16 + off;
    let lb = (16 - (b.as_ptr() as usize / 4) % 16) % 16 + off;
    STREAM.store(if stream { 1 } else { 2 }, Ordering::Relaxed);
    let r = (
        k.normalize(x, &mut a[la..la + len], shape, layout, &np, act),
        k.normalize_prepared(x, &mut b[lb..lb + len], shape, layout, &pp, act),
    );
    STREAM.store(0, Ordering::Relaxed);
    assert!(r.0.is_ok() && r.1.is_ok(), "{r:?}");
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    [bits(&a[la..la + len]), bits(&b[lb..lb + len])]
}

// Under Miri only the portable level runs, which never streams.
#[test]
#[cfg_attr(miri, ignore)]
fn contiguous_streaming_changes_no_bit() {
    use crate::Layout::{Nchw, Nhwc};
    // Every contiguous kernel family: NCHW planes of whole vectors, of a partial one and
    // shorter than a vector; NHWC tiles in registers (32) and on the stack (19), and rows
    // of many channels, one with a partial vector: register tiles (cached), groups of
    // rows (past `plan::CACHED`) and one row at a time (past `plan::STREAMED`).
    let cases = [
        (Shape::new(2, 32, 8, 8), Nchw),
        (Shape::new(2, 3, 15, 15), Nchw),
        (Shape::new(3, 7, 3, 3), Nchw),
        (Shape::new(1, 32, 9, 9), Nhwc),
        (Shape::new(2, 19, 5, 5), Nhwc),
        (Shape::new(2, 1100, 2, 3), Nhwc),
        (Shape::new(37, 257, 1, 1), Nchw),
        (Shape::new(2, 1100, 5, 8), Nhwc),
        (Shape::new(1, 600, 30, 30), Nhwc),
    ];
    for (shape, layout) in cases {
        let n = shape.numel().expect("small");
        let x: Vec<f32> = (0..n)
            .map(|i| (((i % 2003) * 7919) % 2003) as f32 * 0.013 - 11.0)
            .collect();
        for isa in Isa::supported() {
            for off in [0, 4] {
                let plain = contiguous_bits(isa, &x, shape, layout, false, off);
                let streamed = contiguous_bits(isa, &x, shape, layout, true, off);
                for (what, (p, s)) in ["normalize", "prepared"]
                    .iter()
                    .zip(plain.iter().zip(&streamed))
                {
                    let diff = p.iter().zip(s).position(|(a, b)| a != b);
                    assert_eq!(
                        diff, None,
                        "{isa} {shape:?} {layout:?} {what}, offset {off}: first differing value"
                    );
                }
            }
        }
    }
}
