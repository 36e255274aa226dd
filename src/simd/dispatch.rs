//! Picks the instruction set: detects the CPU once (cpuid and xgetbv through `core::arch`,
//! no `std`), caches the answer, and runs a kernel generic over [`Simd`] with the token of
//! the ISA asked for. The only place that makes x86 tokens.

#[cfg(target_arch = "x86_64")]
use super::Body;
use super::{Portable, Simd};
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// An instruction-set level the kernels can run at.
///
/// Every level computes with the same 16 logical lanes and the same kernels, within the
/// same error bounds. The bits can differ between levels in two ways: the portable level
/// rounds `a*b + c` twice where it is compiled without FMA (the x86-64 default build,
/// wasm32), and the number of independent accumulators ([`Isa::Avx2`] keeps 2, AVX-512
/// 8) splits the sums of NCHW planes of 512 or more values differently. A level gives the
/// same bits on every CPU that runs it: pin one with [`crate::Kernels`] for identical
/// results across machines.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable SIMD through the `wide` crate, with the instructions the crate was compiled
    /// for: SSE2 on the x86-64 baseline, NEON on aarch64, simd128 on wasm32 with that
    /// feature, scalar code elsewhere. Runs everywhere.
    Portable,
    /// x86-64 AVX2 with FMA (Intel Haswell, AMD Zen and later).
    Avx2,
    /// x86-64 AVX-512F and AVX-512DQ (with AVX2 and FMA): every AVX-512 CPU from Intel
    /// Skylake-SP and AMD Zen 4 on (Xeon Phi, which lacks DQ, runs [`Isa::Avx2`]). The
    /// identity normalize past L1 runs its [`Isa::Avx2`] code, with the same bits (see
    /// [`crate::Kernels`]).
    Avx512,
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// A short lower-case name: `portable`, `avx2`, `avx512`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU (and its OS, which must save the wider registers) runs this level.
    /// Checked once per process; later calls read a cached value.
    pub fn is_supported(self) -> bool {
        self <= Isa::detected()
    }

    /// The best level this CPU supports: what every function of the crate runs at unless
    /// it is given a level (see [`crate::Kernels`]). Detected on first use, then cached.
    pub fn detected() -> Isa {
        static CACHE: AtomicU8 = AtomicU8::new(0);
        match CACHE.load(Ordering::Relaxed) {
            1 => Isa::Portable,
            2 => Isa::Avx2,
            3 => Isa::Avx512,
            _ => {
                let isa = detect();
                CACHE.store(isa as u8 + 1, Ordering::Relaxed);
                isa
            }
        }
    }

    /// The levels this CPU supports, lowest first.
    pub fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported())
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// No x86-64, or Miri (which interprets the portable lanes, not `cpuid` or AVX).
#[cfg(any(not(target_arch = "x86_64"), miri))]
fn detect() -> Isa {
    Isa::Portable
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
fn detect() -> Isa {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let bit = |v: u32, b: u32| v & (1 << b) != 0;
    // SAFETY: `cpuid` exists on every x86-64 CPU.
    #[allow(unused_unsafe)]
    let (max_leaf, l1) = unsafe { (__cpuid(0).eax, __cpuid(1)) };
    if max_leaf < 7 || !bit(l1.ecx, 27) {
        // No extended features, or the OS does not use XSAVE (so no AVX state).
        return Isa::Portable;
    }
    // SAFETY: `cpuid` exists on every x86-64 CPU, and leaf 7 is within `max_leaf`.
    #[allow(unused_unsafe)]
    let l7 = unsafe { __cpuid_count(7, 0) };
    // SAFETY: CPUID.1:ECX.OSXSAVE (bit 27) is set, so `xgetbv` exists and XCR0 is readable.
    let xcr0 = unsafe { xcr0() };
    let (fma, avx) = (bit(l1.ecx, 12), bit(l1.ecx, 28));
    let (avx2, avx512f, avx512dq) = (bit(l7.ebx, 5), bit(l7.ebx, 16), bit(l7.ebx, 17));
    // The OS saves the SSE and AVX state (XCR0 bits 1, 2), and for AVX-512 also the
    // opmask and the upper ZMM state (bits 5, 6, 7).
    let ymm = xcr0 & 0b110 == 0b110;
    let zmm = ymm && xcr0 & 0b1110_0000 == 0b1110_0000;
    if avx && avx2 && fma && ymm {
        if avx512f && avx512dq && zmm {
            Isa::Avx512
        } else {
            Isa::Avx2
        }
    } else {
        Isa::Portable
    }
}

/// XCR0, the register of the state components the OS saves.
///
/// # Safety
/// The CPU must support `xgetbv` (CPUID.1:ECX.OSXSAVE).
/// Whether the CPU is AMD's (`cpuid` vendor string `AuthenticAMD`), read once. A few
/// kernel choices depend on the core's memory pipeline, which differs between vendors
/// ([`crate::plan::hold_aliased_rows`]).
pub(crate) fn amd() -> bool {
    static CACHE: AtomicU8 = AtomicU8::new(0);
    match CACHE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let amd = vendor_is_amd();
            CACHE.store(u8::from(amd) + 1, Ordering::Relaxed);
            amd
        }
    }
}

/// The size of the core's L2 cache in bytes (`cpuid` leaf `0x8000_0006`, which Intel
/// and AMD both fill), read once; 0 where unknown (no such leaf, not x86-64, Miri). The
/// plan streams stores by it ([`crate::plan::stream_out`]).
pub(crate) fn l2_bytes() -> usize {
    static CACHE: AtomicU32 = AtomicU32::new(u32::MAX);
    match CACHE.load(Ordering::Relaxed) {
        u32::MAX => {
            let kib = l2_kib();
            CACHE.store(kib, Ordering::Relaxed);
            kib as usize * 1024
        }
        kib => kib as usize * 1024,
    }
}

#[cfg(any(not(target_arch = "x86_64"), miri))]
fn l2_kib() -> u32 {
    0
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
fn l2_kib() -> u32 {
    use core::arch::x86_64::__cpuid;
    // SAFETY: `cpuid` leaf 0x8000_0000 exists on every x86-64 CPU and only reads
    // identification registers (a safe function in newer Rust versions, hence the allow).
    #[allow(unused_unsafe)]
    let max = unsafe { __cpuid(0x8000_0000).eax };
    if max < 0x8000_0006 {
        return 0;
    }
    // SAFETY: as above, and the leaf is within the highest extended leaf `max`.
    #[allow(unused_unsafe)]
    let ecx = unsafe { __cpuid(0x8000_0006).ecx };
    // ECX bits 31..16: L2 size in KiB.
    ecx >> 16
}

#[cfg(any(not(target_arch = "x86_64"), miri))]
fn vendor_is_amd() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
fn vendor_is_amd() -> bool {
    // SAFETY: `cpuid` leaf 0 exists on every x86-64 CPU and only reads identification
    // registers (a safe function in newer Rust versions, hence the allow).
    #[allow(unused_unsafe)]
    let l0 = unsafe { core::arch::x86_64::__cpuid(0) };
    // "AuthenticAMD" in EBX, EDX, ECX.
    (l0.ebx, l0.edx, l0.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    // SAFETY: the caller guarantees `xgetbv`.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}

/// A computation generic over the lanes, run by [`dispatch`].
pub(crate) trait WithSimd {
    /// What it returns.
    type Output;
    /// Runs with the token `s`. Implementations are `#[inline(always)]`, so the body
    /// lands inside the function compiled for the ISA.
    fn run<S: Simd>(self, s: S) -> Self::Output;
}

/// A whole [`WithSimd`] computation as one [`Body`] (for the x86 levels' functions).
#[cfg(target_arch = "x86_64")]
struct Whole<W>(W);

#[cfg(target_arch = "x86_64")]
impl<S: Simd, W: WithSimd> Body<S> for Whole<W> {
    type Output = W::Output;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn run(self, s: S) -> W::Output {
        self.0.run(s)
    }
}

/// Runs `w` at level `isa`, which must be supported (callers take it from [`Isa::detected`]
/// or from a checked [`crate::Kernels`]); an unsupported level runs the portable lanes.
#[inline]
pub(crate) fn dispatch<W: WithSimd>(isa: Isa, w: W) -> W::Output {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::{Avx2, Avx512};
        match isa {
            Isa::Avx512 if Isa::Avx512.is_supported() => {
                // SAFETY: detection found AVX-512F, AVX-512DQ, AVX2 and FMA, with OS support.
                let s = unsafe { Avx512::new_unchecked() };
                return s.vectorize(Whole(w));
            }
            Isa::Avx2 if Isa::Avx2.is_supported() => {
                // SAFETY: detection found AVX2 and FMA, with OS support.
                let s = unsafe { Avx2::new_unchecked() };
                return s.vectorize(Whole(w));
            }
            _ => {}
        }
    }
    let _ = isa;
    w.run(Portable)
}
