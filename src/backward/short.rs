//! NCHW backward of short planes (`h*w <` [`SHORT_PLANE`]: 7x7, 14x14) in groups of
//! `LANES` channels whose data fits in cache ([`FUSE_BYTES`]). Each channel's sums run
//! along its planes as in `planar.rs` (with running statistics, its `dx` too), but the
//! horizontal fold of its lanes waits: the group's `LANES` accumulators are added
//! across their lanes at once ([`Simd::sum_rows`]), one channel per lane. A per-channel fold (lanes widened, added,
//! the last ones one by one) is a chain of dependent operations as long as a 7x7
//! channel's whole work. Then each channel's constants, and with batch statistics its
//! `dx`, over planes the group left in cache.
//!
//! [`SHORT_PLANE`]: crate::plan::SHORT_PLANE
//! [`FUSE_BYTES`]: crate::plan::FUSE_BYTES

use super::planar::{Acc, dx_plane, running_plane, sums_plane};
use super::shared::{DxConsts, Grads, Inputs, Lanes, Mask};
use crate::normalize::io::Io;
use crate::simd::{LANES, Simd, Vf32, wide_lanes};
use crate::stats::CHUNK;

/// Every group of `LANES` channels (inside [`super::planar::run`]'s function for the ISA).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(super) fn groups<S: Simd, I: Io, M: Mask<S::F>>(s: S, io: &mut I, k: &Inputs, m: M, g: Grads) {
    let mut c0 = 0;
    while c0 < k.d.c {
        let chans = (k.d.c - c0).min(LANES);
        let dgamma = g.dgamma.get_mut(c0..c0 + chans).unwrap_or(&mut []);
        let dbeta = g.dbeta.get_mut(c0..c0 + chans).unwrap_or(&mut []);
        group(s, io, k, c0, m, dgamma, dbeta);
        c0 += chans;
    }
}

/// Channels `c0..c0 + dgamma.len()` (at most `LANES`).
#[cfg_attr(not(debug_assertions), inline(always))]
fn group<S: Simd, I: Io, M: Mask<S::F>>(
    s: S,
    io: &mut I,
    k: &Inputs,
    c0: usize,
    m: M,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let d = k.d;
    // Row `l`: channel `c0 + l`'s lanes not yet folded; `tot`: its folds so far.
    let mut rows_dy = [s.zero(); LANES];
    let mut rows_p = [s.zero(); LANES];
    let mut tot = [(0.0f64, 0.0f64); LANES];
    let chans = dgamma.len().min(LANES);
    for l in 0..chans {
        let ch = c0 + l;
        let l0 = Lanes::splat(s, DxConsts::new(k.p, ch, 0.0, 0.0, 1.0));
        // Half the usual steps between folds: the two vectors are added at the end.
        let mut acc = Acc::with_limit(s, CHUNK / 2);
        for i in 0..d.n {
            let start = (i * d.c + ch) * d.plane;
            if k.batch {
                sums_plane(s, io.src(), k, start, &l0, m, &mut acc);
            } else {
                running_plane(s, io, k, start, &l0, m, &mut acc);
            }
        }
        let (t, vdy, vp) = acc.finish_f32();
        if let (Some(rd), Some(rp), Some(tt)) =
            (rows_dy.get_mut(l), rows_p.get_mut(l), tot.get_mut(l))
        {
            (*rd, *rp, *tt) = (vdy, vp, t);
        }
    }
    // Lane `l`: the sum of row `l`'s lanes (in f32, a tree of halves), then widened.
    let sum_dy = wide_lanes(s.sum_rows(&rows_dy).widen());
    let sum_p = wide_lanes(s.sum_rows(&rows_p).widen());
    let inv_count = 1.0 / d.count as f64;
    let outs = dgamma.iter_mut().zip(dbeta.iter_mut());
    for (l, ((dgamma, dbeta), t)) in outs.zip(tot).enumerate().take(chans) {
        let sdy = t.0 + sum_dy.get(l).copied().unwrap_or(0.0);
        let sp = t.1 + sum_p.get(l).copied().unwrap_or(0.0);
        *dbeta = sdy as f32;
        *dgamma = sp as f32;
        if k.batch {
            let ch = c0 + l;
            let kc = Lanes::splat(s, DxConsts::new(k.p, ch, sdy, sp, inv_count));
            for i in 0..d.n {
                dx_plane(s, io, k, (i * d.c + ch) * d.plane, &kc, m);
            }
        }
    }
}
