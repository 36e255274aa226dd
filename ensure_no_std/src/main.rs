//! A `#![no_std]`, `#![no_main]` binary with its own panic handler and entry point that
//! calls every public kernel of `batchnorm`. If it links for a bare-metal target
//! (`thumbv7em-none-eabihf`, no `std`, no allocator, no `alloc` crate), nothing in the
//! library pulls in `std` or an allocator.
//!
//! Build: `cargo build --release --target thumbv7em-none-eabihf` in this folder.
#![no_std]
#![no_main]

use batchnorm::{Layout, Method, Moments, Shape, accumulate_moments, batch_stats};
use core::hint::black_box;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The entry point the linker starts at. Everything goes through `black_box`, so no call
/// is optimized away.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let shape = Shape::new(2, 3, 2, 4);
    let mut x = [0.0f32; 48];
    for (i, v) in x.iter_mut().enumerate() {
        *v = i as f32 * 0.5 - 3.0;
    }
    let x = black_box(x);
    let (mut mean, mut var) = ([0.0f32; 3], [0.0f32; 3]);
    let mut acc = [Moments::EMPTY; 3];
    for layout in [Layout::Nchw, Layout::Nhwc] {
        for method in [Method::Welford, Method::TwoPass] {
            let _ = black_box(batch_stats(&x, shape, layout, method, &mut mean, &mut var));
            let _ = black_box(accumulate_moments(&x, shape, layout, method, &mut acc));
        }
    }
    black_box((mean, var, acc));
    loop {
        core::hint::spin_loop();
    }
}
