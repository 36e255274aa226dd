//! The bodies of batchnorm's fuzz targets, as plain functions of the raw fuzz input.
//!
//! Each `fuzz_targets/<name>.rs` calls `<name>(data)`; the root crate's
//! `tests/fuzz_seeds.rs` includes this file with `#[path]` and runs every body over the
//! committed seeds in `seeds/<name>/`, so `cargo test` keeps the harness compiling and
//! passing. (Module paths here are relative, never `crate::`, for that reason.) A body
//! panics on any broken contract; an input too short to decode is skipped.
//!
//! - [`stats`]: `batch_stats` and `accumulate_moments`, both methods, against the f64
//!   reference within the DESIGN.md bounds; accumulating onto existing moments equals
//!   merging the fresh ones.
//! - [`api`]: shapes (overflowing ones included) and buffer lengths that are mostly wrong:
//!   every call returns `Ok` or `Err` as the reference does, never panics, and on `Err`
//!   leaves every output bitwise unchanged.

pub mod check;
pub mod input;

use arbitrary::{Arbitrary, Unstructured};
use batchnorm::{Error, Method, Moments, Shape};
use input::{Rng, Tensor};

/// A target's body: runs one raw fuzz input, panics on a broken contract.
pub type Body = fn(&[u8]);

/// Every target, by its name in `fuzz/Cargo.toml` and `seeds/`.
pub const TARGETS: [(&str, Body); 2] = [("stats", stats), ("api", api)];

/// Both statistics methods.
const METHODS: [Method; 2] = [Method::Welford, Method::TwoPass];

/// Fuzz target `stats`.
pub fn stats(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(t) = Tensor::arbitrary(&mut u) else {
        return;
    };
    // Moments the accumulators already hold before `accumulate_moments` adds the batch.
    let prior = Moments {
        count: u.int_in_range(0..=1000).unwrap_or(0),
        mean: f64::from(f32::arbitrary(&mut u).unwrap_or(0.0)),
        m2: f64::from(f32::arbitrary(&mut u).unwrap_or(0.0)).abs(),
    };
    let prior = if prior.count == 0 {
        Moments::EMPTY
    } else {
        prior
    };
    let Tensor { shape, layout, x } = &t;
    let (shape, layout) = (*shape, *layout);
    let exp = check::expected(x, shape, layout);
    let fail = |what: &str, method: Method, c: usize, msg: String| -> ! {
        panic!(
            "{what} {shape:?} {layout:?} {method:?} channel {c} (reference {:?}, A {:e}, \
             kappa {:e}): {msg}",
            exp[c].m,
            exp[c].abs_mean,
            exp[c].kappa()
        )
    };
    for method in METHODS {
        let (mut mean, mut var) = (vec![f32::NAN; shape.c], vec![f32::NAN; shape.c]);
        batchnorm::batch_stats(x, shape, layout, method, &mut mean, &mut var)
            .expect("batch_stats rejected a valid tensor");
        for (c, e) in exp.iter().enumerate() {
            check::stats(f64::from(mean[c]), f64::from(var[c]), e, method, true)
                .unwrap_or_else(|msg| fail("batch_stats", method, c, msg));
        }

        let mut fresh = vec![Moments::EMPTY; shape.c];
        batchnorm::accumulate_moments(x, shape, layout, method, &mut fresh)
            .expect("accumulate_moments rejected a valid tensor");
        for (c, (m, e)) in fresh.iter().zip(&exp).enumerate() {
            if m.count != e.m.count {
                fail(
                    "accumulate_moments",
                    method,
                    c,
                    format!("count {}", m.count),
                );
            }
            check::stats(m.mean, m.variance(), e, method, false)
                .unwrap_or_else(|msg| fail("accumulate_moments", method, c, msg));
        }

        let mut acc = vec![prior; shape.c];
        batchnorm::accumulate_moments(x, shape, layout, method, &mut acc)
            .expect("accumulate_moments rejected a valid tensor");
        for (c, (a, m)) in acc.iter().zip(&fresh).enumerate() {
            let want = prior.merge(*m);
            if !check::same_moments(a, &want) {
                fail(
                    "accumulate_moments onto prior moments",
                    method,
                    c,
                    format!("got {a:?}, want prior.merge(fresh) = {want:?}"),
                );
            }
        }
    }
}

/// Longest `x` the `api` target allocates.
const API_MAX_X: usize = 4096;
/// Longest per-channel buffer the `api` target allocates.
const API_MAX_C: usize = 700;

/// A dimension: small, or one that makes products overflow `usize`.
fn api_dim(u: &mut Unstructured<'_>) -> arbitrary::Result<usize> {
    let half = 1usize << (usize::BITS / 2);
    Ok(if u.ratio(1u8, 6)? {
        *u.choose(&[
            usize::MAX,
            usize::MAX / 2 + 1,
            usize::MAX / 3,
            half,
            half + 1,
            half - 1,
            1 << 20,
        ])?
    } else {
        u.int_in_range(0..=12)?
    })
}

/// A buffer length: often the right one (`want`, when it is small), or near it, or not.
fn api_len(u: &mut Unstructured<'_>, want: Option<usize>, max: usize) -> arbitrary::Result<usize> {
    Ok(match (want, u.int_in_range(0u8..=7)?) {
        (Some(w), 0..=4) if w <= max => w,
        (Some(w), 5) if w < max => w + 1,
        (Some(w), 6) if w > 0 && w <= max => w - 1,
        _ => u.int_in_range(0..=max.min(64))?,
    })
}

/// `n` values of arbitrary bits, NaN payloads included: outputs start as this sentinel.
fn sentinel(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect()
}

/// Bit patterns, to compare buffers holding NaNs.
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Checks the `Ok`/`Err` contract of one call: on `Err`, each `(name, before, after)`
/// buffer is bitwise unchanged, and the error prints.
fn untouched_on_err(call: &str, r: &Result<(), Error>, outputs: &[(&str, &[u32], &[u32])]) {
    if let Err(e) = r {
        let _ = format!("{e} {e:?}");
        for (name, before, after) in outputs {
            assert_eq!(before, after, "{call} returned {e:?} but changed `{name}`");
        }
    }
}

/// Fuzz target `api`.
pub fn api(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(parts) = (|| -> arbitrary::Result<_> {
        let shape = Shape::new(
            api_dim(&mut u)?,
            api_dim(&mut u)?,
            api_dim(&mut u)?,
            api_dim(&mut u)?,
        );
        let layout = input::layout(&mut u)?;
        let method = input::method(&mut u)?;
        let numel = shape.numel().ok();
        let c = Some(shape.c);
        let lens = [
            api_len(&mut u, numel, API_MAX_X)?,
            api_len(&mut u, c, API_MAX_C)?,
            api_len(&mut u, c, API_MAX_C)?,
            api_len(&mut u, c, API_MAX_C)?,
        ];
        Ok((shape, layout, method, lens, u64::arbitrary(&mut u)?))
    })() else {
        return;
    };
    let (shape, layout, method, [x_len, mean_len, var_len, acc_len], seed) = parts;
    let mut rng = Rng::new(seed);

    // Shape arithmetic never panics and agrees with checked multiplication.
    let product = [shape.c, shape.h, shape.w]
        .iter()
        .try_fold(shape.n, |a, &b| a.checked_mul(b));
    assert_eq!(shape.numel().ok(), product, "Shape::numel of {shape:?}");
    let _ = shape.count_per_channel();

    let x: Vec<f32> = (0..x_len)
        .map(|_| input::Dist::Specials.sample(&mut rng))
        .collect();

    // batch_stats: the same verdict as the reference, outputs untouched on error.
    let (mut mean, mut var) = (sentinel(&mut rng, mean_len), sentinel(&mut rng, var_len));
    let (mean0, var0) = (bits(&mean), bits(&var));
    let r = batchnorm::batch_stats(&x, shape, layout, method, &mut mean, &mut var);
    untouched_on_err(
        "batch_stats",
        &r,
        &[("mean", &mean0, &bits(&mean)), ("var", &var0, &bits(&var))],
    );
    let (mut rm, mut rv) = (vec![0.0f64; mean_len], vec![0.0f64; var_len]);
    let rr = batchnorm::reference::batch_stats(&x, shape, layout, &mut rm, &mut rv);
    assert_eq!(
        format!("{r:?}"),
        format!("{rr:?}"),
        "batch_stats and reference::batch_stats disagree on {shape:?} x {x_len} mean {mean_len} var {var_len}"
    );

    // accumulate_moments: accumulators untouched on error.
    let prior = Moments {
        count: rng.next_u64() % 4,
        mean: rng.symmetric(),
        m2: rng.symmetric().abs(),
    };
    let mut acc = vec![prior; acc_len];
    let r = batchnorm::accumulate_moments(&x, shape, layout, method, &mut acc);
    if let Err(e) = &r {
        let _ = format!("{e} {e:?}");
        assert!(
            acc.iter().all(|a| check::same_moments(a, &prior)),
            "accumulate_moments returned {e:?} but changed `acc`"
        );
    }
    let mut out = vec![Moments::EMPTY; acc_len];
    let rr = batchnorm::reference::moments(&x, shape, layout, &mut out);
    assert_eq!(
        r.is_ok(),
        rr.is_ok(),
        "accumulate_moments {r:?} but reference::moments {rr:?} on {shape:?} x {x_len} acc {acc_len}"
    );

    // Byte views: Ok exactly when the window is aligned and a whole number of f32s.
    let mut backing = vec![0u32; 8];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut backing);
    let start = (seed % 8) as usize;
    let end = start + ((seed >> 8) % (bytes.len() - start + 1) as u64) as usize;
    let whole = start.is_multiple_of(4) && (end - start).is_multiple_of(4);
    let r = batchnorm::f32s_from_bytes(&bytes[start..end]);
    assert_eq!(r.is_ok(), whole, "f32s_from_bytes({start}..{end}) = {r:?}");
    if let Ok(v) = r {
        assert_eq!(v.len(), (end - start) / 4);
    }
    let r = batchnorm::f32s_from_bytes_mut(&mut bytes[start..end]).map(|v| v.len());
    assert_eq!(
        r.is_ok(),
        whole,
        "f32s_from_bytes_mut({start}..{end}) = {r:?}"
    );
}
