use batchnorm::{Isa, Kernels, Layout, Method, Shape};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dims: Vec<usize> = args[1].split('x').map(|v| v.parse().unwrap()).collect();
    let shape = Shape::new(dims[0], dims[1], dims[2], dims[3]);
    let layout = if args[2] == "nhwc" { Layout::Nhwc } else { Layout::Nchw };
    let method = if args[3] == "two" { Method::TwoPass } else { Method::Welford };
    let len = dims.iter().product::<usize>();
    let x: Vec<f32> = (0..len).map(|i| 0.5 + ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let (mut m, mut v) = (vec![0.0; shape.c], vec![0.0; shape.c]);
    for isa in Isa::supported() {
        let k = Kernels::new(isa).unwrap();
        let mut best = f64::INFINITY;
        for _ in 0..30 {
            let t = Instant::now();
            for _ in 0..10 { k.batch_stats(&x, shape, layout, method, &mut m, &mut v).unwrap(); }
            best = best.min(t.elapsed().as_secs_f64() / 10.0);
        }
        println!("{isa}: {:.1} GB/s", len as f64 * 4.0 / best / 1e9);
    }
}
