//! A `#![no_std]`, `#![no_main]` binary with its own panic handler and entry point that
//! calls every public kernel of `batchnorm`. If it links for a bare-metal target
//! (`thumbv7em-none-eabihf`: no `std`, no allocator, no `alloc` crate), nothing in the
//! library pulls in `std` or an allocator.
//!
//! Build: `cargo build --release --target thumbv7em-none-eabihf` in this folder.
#![no_std]
#![no_main]

use batchnorm::{
    Activation, Bias, Layout, Method, Moments, Momentum, NormParams, RunningStats, SavedStats,
    Shape, TrainParams, WeightLayout, WeightShape, accumulate_moments, accumulate_moments_strided,
    batch_stats, batch_stats_strided, f32s_from_bytes, fold_into_weights, normalize,
    normalize_in_place, normalize_strided, normalize_strided_in_place, train_forward,
    train_forward_in_place,
};
use core::hint::black_box;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The entry point the linker starts at. Inputs and results go through `black_box`, so no
/// call is optimized away.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    const C: usize = 3;
    let shape = Shape::new(2, C, 2, 4);
    let mut x = [0.0f32; 48];
    for (i, v) in x.iter_mut().enumerate() {
        *v = i as f32 * 0.5 - 3.0;
    }
    let x = black_box(x);
    let (gamma, beta) = (
        black_box([1.0f32, 2.0, 0.5]),
        black_box([0.0f32, 0.5, -1.0]),
    );
    let (mut mean, mut var) = ([0.0f32; C], [0.0f32; C]);
    let mut acc = [Moments::EMPTY; C];
    let mut y = [0.0f32; 48];
    let (mut rmean, mut rvar) = ([0.0f32; C], [1.0f32; C]);
    let (mut smean, mut invstd) = ([0.0f32; C], [0.0f32; C]);
    for layout in [Layout::Nchw, Layout::Nhwc] {
        for method in [Method::Welford, Method::TwoPass] {
            let _ = black_box(batch_stats(&x, shape, layout, method, &mut mean, &mut var));
            let _ = black_box(accumulate_moments(&x, shape, layout, method, &mut acc));

            let p = NormParams {
                mean: &mean,
                var: &var,
                gamma: &gamma,
                beta: &beta,
                eps: 1e-5,
            };
            let _ = black_box(normalize(&x, &mut y, shape, layout, &p, Activation::RELU6));
            let _ = black_box(normalize_in_place(
                &mut y,
                shape,
                layout,
                &p,
                Activation::Relu,
            ));

            let tp = TrainParams {
                gamma: &gamma,
                beta: &beta,
                eps: 1e-5,
                method,
                act: Activation::Identity,
            };
            let running = RunningStats {
                mean: &mut rmean,
                var: &mut rvar,
                momentum: Momentum::PYTORCH_DEFAULT,
            };
            let saved = SavedStats {
                mean: &mut smean,
                invstd: &mut invstd,
            };
            let _ = black_box(train_forward(
                &x,
                &mut y,
                shape,
                layout,
                &tp,
                Some(running),
                saved,
            ));
            let saved = SavedStats {
                mean: &mut smean,
                invstd: &mut invstd,
            };
            let _ = black_box(train_forward_in_place(
                &mut y, shape, layout, &tp, None, saved,
            ));
        }
    }

    let p = NormParams {
        mean: &mean,
        var: &var,
        gamma: &gamma,
        beta: &beta,
        eps: 1e-5,
    };
    let mut w = black_box([0.25f32; 12]);
    let mut b = [0.0f32; C];
    for layout in [WeightLayout::OutFirst, WeightLayout::OutLast] {
        let ws = WeightShape {
            out: C,
            per_out: 4,
            layout,
        };
        let _ = black_box(fold_into_weights(&mut w, ws, Bias::InPlace(&mut b), &p));
        let _ = black_box(fold_into_weights(&mut w, ws, Bias::Absent(&mut b), &p));
    }
    // Strided rows: the 16 pixels of `x` as rows 3 apart holding 2 channels.
    let strided = Shape::new(1, 2, 4, 4);
    let (sm, sv) = (&mut mean[..2], &mut var[..2]);
    let _ = black_box(batch_stats_strided(&x, 3, strided, Method::Welford, sm, sv));
    let _ = black_box(accumulate_moments_strided(
        &x,
        3,
        strided,
        Method::TwoPass,
        &mut acc[..2],
    ));
    let p2 = NormParams {
        mean: &mean[..2],
        var: &var[..2],
        gamma: &gamma[..2],
        beta: &beta[..2],
        eps: 1e-5,
    };
    let _ = black_box(normalize_strided(
        &x,
        3,
        &mut y,
        3,
        strided,
        &p2,
        Activation::Relu,
    ));
    let _ = black_box(normalize_strided_in_place(
        &mut y,
        3,
        strided,
        &p2,
        Activation::Identity,
    ));

    let bytes = black_box([0u8; 16]);
    let _ = black_box(f32s_from_bytes(&bytes));

    black_box((mean, var, acc, y, rmean, rvar, smean, invstd, w, b));
    loop {
        core::hint::spin_loop();
    }
}
