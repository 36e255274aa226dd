//! Parallel entry points over rayon (the `rayon` feature): the tensor is cut into blocks
//! fixed by its shape alone, the serial kernels run on the blocks on rayon's pool, and
//! the blocks' statistics are merged in block order. So the results never depend on the
//! number of threads.
//!
//! # Blocks
//! Each block is a contiguous run of the buffer that is itself a tensor the serial
//! kernels accept, about [`BLOCK`] values long:
//! - NHWC, and NCHW with 1x1 planes (the same memory order): runs of whole pixel rows
//!   (`c` values each), about [`ROWS_BLOCK`] values, at least one row;
//! - NCHW, `c*h*w <= BLOCK`: runs of whole batch items;
//! - NCHW, `h*w <= BLOCK < c*h*w`: runs of whole channel planes within one batch item;
//! - NCHW, `h*w > BLOCK`: equal pieces of one channel plane.
//!
//! Statistics: each block's per-channel [`Moments`] (one `Vec` for all blocks), then per
//! channel [`Moments::merge`] over the blocks in buffer order. Normalize: each block
//! normalized on its own, which gives bitwise the serial result (every element gets the
//! same arithmetic whatever the block; the scales are computed once, as [`crate::prepare`]
//! computes them, which [`crate::normalize`] matches bit for bit).
//!
//! Every function checks its arguments first, with the checks of its serial version, so
//! it returns the same [`Error`] for the same arguments, and writes nothing on error.
//!
//! # Speed
//! Measure before you switch: `cargo run --release --features rayon --example
//! par_speedup` times every grid shape, serial against a pool of 2 threads. On the
//! 2-core machine it was first run on (a busy one, with blocks of [`BLOCK`] values for
//! every layout), the NCHW shapes with planes of more
//! than one value gained up to 2x, but statistics in NHWC (and NCHW with 1x1 planes)
//! were slower than the serial call, as was NHWC normalize of `8x512x28x28`: the
//! interleaved kernels cost more per call than the planar ones. Those layouts now take
//! blocks of [`ROWS_BLOCK`] values, so tensors below 2 MiB run as one serial call; the
//! larger blocks have not been measured yet.

use rayon::prelude::*;
use std::vec;
use std::vec::Vec;

use crate::check;
use crate::error::Error;
use crate::moments::Moments;
use crate::normalize::prepared::{
    Prepared, normalize_prepared_in_place_at, normalize_prepared_part,
};
use crate::normalize::{Activation, NormParams};
use crate::shape::{Dims, Layout, Shape, check_len};
use crate::simd::Isa;
use crate::stats::{Each, Method, channel_moments};

/// The number of values a block aims at (128 KiB of `f32`): large enough that the
/// per-block work (a kernel call, a merge per channel) is noise, small enough that the
/// grid's single-image shapes still split into several blocks.
pub const BLOCK: usize = 1 << 15;

/// The number of values a block of pixel rows aims at (NHWC, and NCHW with 1x1 planes,
/// which the interleaved kernels run): 2 MiB of `f32`. Those kernels cost more per call
/// (starting pivots, per-call register tiles, the row plan depends on the row count), so
/// their blocks are 16 times larger; a tensor smaller than this is one block (the serial
/// speed), a larger one splits.
pub const ROWS_BLOCK: usize = 1 << 19;

/// One block: `len` values from `start`, the tensor `shape` in `layout`, holding channels
/// `k0..k0 + shape.c` of the whole tensor.
#[derive(Debug, Clone, Copy)]
struct Block {
    start: usize,
    len: usize,
    shape: Shape,
    layout: Layout,
    k0: usize,
}

/// The blocks of a validated, non-empty tensor, in buffer order (they tile it).
fn blocks(shape: Shape, d: Dims, layout: Layout) -> Vec<Block> {
    let Dims { n, c, plane, count } = d;
    let mut out = Vec::new();
    match layout {
        _ if layout == Layout::Nhwc || plane == 1 => {
            let rows_per = (ROWS_BLOCK / c).max(1);
            let mut r0 = 0;
            while r0 < count {
                let rows = rows_per.min(count - r0);
                out.push(Block {
                    start: r0 * c,
                    len: rows * c,
                    shape: Shape::new(rows, c, 1, 1),
                    layout,
                    k0: 0,
                });
                r0 += rows;
            }
        }
        Layout::Nchw if plane > BLOCK => {
            let pieces = plane.div_ceil(BLOCK);
            let piece = plane.div_ceil(pieces);
            for q in 0..n * c {
                let mut p0 = 0;
                while p0 < plane {
                    let len = piece.min(plane - p0);
                    out.push(Block {
                        start: q * plane + p0,
                        len,
                        shape: Shape::new(1, 1, 1, len),
                        layout,
                        k0: q % c,
                    });
                    p0 += len;
                }
            }
        }
        Layout::Nchw if c * plane <= BLOCK => {
            let items_per = BLOCK / (c * plane);
            let mut b0 = 0;
            while b0 < n {
                let items = items_per.min(n - b0);
                out.push(Block {
                    start: b0 * c * plane,
                    len: items * c * plane,
                    shape: Shape::new(items, c, shape.h, shape.w),
                    layout,
                    k0: 0,
                });
                b0 += items;
            }
        }
        _ => {
            let chans_per = BLOCK / plane;
            for b in 0..n {
                let mut k0 = 0;
                while k0 < c {
                    let chans = chans_per.min(c - k0);
                    out.push(Block {
                        start: (b * c + k0) * plane,
                        len: chans * plane,
                        shape: Shape::new(1, chans, shape.h, shape.w),
                        layout,
                        k0,
                    });
                    k0 += chans;
                }
            }
        }
    }
    out
}

/// The per-channel moments of a validated tensor with at least one value per channel
/// and `c > 0`: blocks in parallel, merged per channel in block order.
fn moments(
    isa: Isa,
    x: &[f32],
    shape: Shape,
    d: Dims,
    layout: Layout,
    method: Method,
) -> Vec<Moments> {
    let blocks = blocks(shape, d, layout);
    let mut parts = vec![Moments::EMPTY; blocks.iter().map(|b| b.shape.c).sum()];
    let mut jobs = Vec::with_capacity(blocks.len());
    let mut rest = &mut parts[..];
    for b in &blocks {
        let (part, tail) = rest.split_at_mut(b.shape.c);
        jobs.push((*b, part));
        rest = tail;
    }
    jobs.into_par_iter().for_each(|(b, part)| {
        let xb = &x[b.start..b.start + b.len];
        // A block of a validated tensor is valid: `dims` cannot fail here.
        if let Ok(db) = b.shape.dims(xb.len(), true) {
            let out = Each::new(|k, m| part[k] = m);
            channel_moments(isa, xb, db, b.layout, db.c, method, out);
        }
    });
    let mut total = vec![Moments::EMPTY; d.c];
    let mut parts = &parts[..];
    for b in &blocks {
        let (part, tail) = parts.split_at(b.shape.c);
        for (t, m) in total[b.k0..b.k0 + b.shape.c].iter_mut().zip(part) {
            *t = t.merge(*m);
        }
        parts = tail;
    }
    total
}

/// [`crate::batch_stats`] on rayon's pool: the same arguments, checks and errors; the
/// statistics of blocks fixed by the shape (see the [module docs](self)) merged in a fixed
/// order, so the result is bitwise the same whatever the number of threads. It may
/// differ from the serial result in the last bits (the blocks' moments are merged with
/// Chan's formula in f64), within the same error bounds ([`Method`]).
///
/// # Errors
/// As [`crate::batch_stats`]. On error `mean` and `var` are untouched.
pub fn batch_stats(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    mean: &mut [f32],
    var: &mut [f32],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("mean", d.c, mean.len())?;
    check_len("var", d.c, var.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let inv_count = 1.0 / d.count as f64;
    let total = moments(Isa::detected(), x, shape, d, layout, method);
    for ((m, mean), var) in total.iter().zip(mean).zip(var) {
        *mean = m.mean as f32;
        *var = (m.m2 * inv_count) as f32;
    }
    Ok(())
}

/// [`crate::accumulate_moments`] on rayon's pool: the tensor's per-channel [`Moments`]
/// (computed as in [`batch_stats`], independent of the number of threads) merged into
/// `acc` with [`Moments::merge`].
///
/// # Errors
/// As [`crate::accumulate_moments`]. On error `acc` is untouched.
pub fn accumulate_moments(
    x: &[f32],
    shape: Shape,
    layout: Layout,
    method: Method,
    acc: &mut [Moments],
) -> Result<(), Error> {
    let d = shape.dims(x.len(), true)?;
    check_len("acc", d.c, acc.len())?;
    if x.is_empty() {
        return Ok(());
    }
    let total = moments(Isa::detected(), x, shape, d, layout, method);
    for (a, m) in acc.iter_mut().zip(total) {
        *a = a.merge(m);
    }
    Ok(())
}

/// [`crate::normalize`] on rayon's pool: the same arguments, checks and errors, and
/// bitwise the same result, whatever the number of threads.
///
/// # Errors
/// As [`crate::normalize`]. On error `y` is untouched.
pub fn normalize(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    check::norm_params(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    let scale = scales(p, d.c);
    let q = Prepared {
        mean: p.mean,
        scale: &scale,
        beta: p.beta,
    };
    run(Isa::detected(), x, y, shape, d, layout, &q, act)
}

/// [`crate::normalize_in_place`] on rayon's pool: bitwise the same result, whatever the
/// number of threads.
///
/// # Errors
/// As [`crate::normalize_in_place`]. On error `x` is untouched.
pub fn normalize_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &NormParams,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check::norm_params(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    let scale = scales(p, d.c);
    let q = Prepared {
        mean: p.mean,
        scale: &scale,
        beta: p.beta,
    };
    run_in_place(Isa::detected(), x, shape, d, layout, &q, act)
}

/// The scales of `p`'s `c` channels, as [`crate::prepare`] computes them (and
/// [`crate::normalize`], bit for bit), without `prepare`'s checks of the values.
fn scales(p: &NormParams, c: usize) -> Vec<f32> {
    let mut scale = vec![0.0f32; c];
    crate::simd::scales(crate::simd::Portable, p.gamma, p.var, p.eps, &mut scale);
    scale
}

/// [`crate::normalize_prepared`] on rayon's pool: the same arguments, checks and errors,
/// and bitwise the same result, whatever the number of threads.
///
/// # Errors
/// As [`crate::normalize_prepared`]. On error `y` is untouched.
pub fn normalize_prepared(
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check_len("y", x.len(), y.len())?;
    check::prepared(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    run(Isa::detected(), x, y, shape, d, layout, p, act)
}

/// [`crate::normalize_prepared_in_place`] on rayon's pool: bitwise the same result,
/// whatever the number of threads.
///
/// # Errors
/// As [`crate::normalize_prepared_in_place`]. On error `x` is untouched.
pub fn normalize_prepared_in_place(
    x: &mut [f32],
    shape: Shape,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let d = shape.dims(x.len(), false)?;
    check::prepared(p, d.c)?;
    check::activation(act)?;
    if x.is_empty() {
        return Ok(());
    }
    run_in_place(Isa::detected(), x, shape, d, layout, p, act)
}

/// Normalizes the blocks of a validated, non-empty tensor in place, in parallel.
fn run_in_place(
    isa: Isa,
    x: &mut [f32],
    shape: Shape,
    d: Dims,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let blocks = blocks(shape, d, layout);
    let mut jobs = Vec::with_capacity(blocks.len());
    let mut rest = x;
    for b in blocks {
        let (xb, tail) = rest.split_at_mut(b.len);
        jobs.push((b, xb));
        rest = tail;
    }
    jobs.into_par_iter().try_for_each(|(b, xb)| {
        normalize_prepared_in_place_at(isa, xb, b.shape, b.layout, &sub(p, b), act)
    })
}

/// The constants of block `b`'s channels.
fn sub<'a>(p: &Prepared<'a>, b: Block) -> Prepared<'a> {
    let k = b.k0..b.k0 + b.shape.c;
    Prepared {
        mean: &p.mean[k.clone()],
        scale: &p.scale[k.clone()],
        beta: &p.beta[k],
    }
}

/// Normalizes the blocks of a validated, non-empty tensor in parallel.
#[allow(clippy::too_many_arguments)]
fn run(
    isa: Isa,
    x: &[f32],
    y: &mut [f32],
    shape: Shape,
    d: Dims,
    layout: Layout,
    p: &Prepared,
    act: Activation,
) -> Result<(), Error> {
    let blocks = blocks(shape, d, layout);
    let mut jobs = Vec::with_capacity(blocks.len());
    let mut rest = y;
    for b in blocks {
        let (yb, tail) = rest.split_at_mut(b.len);
        jobs.push((b, yb));
        rest = tail;
    }
    jobs.into_par_iter().try_for_each(|(b, yb)| {
        let xb = &x[b.start..b.start + b.len];
        // Streaming stores or not as for the whole tensor.
        normalize_prepared_part(isa, xb, yb, b.shape, b.layout, &sub(p, b), act, x.len())
    })
}
