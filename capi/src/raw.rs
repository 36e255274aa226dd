//! The only module with `unsafe` code: pointers and lengths from C become slices and
//! struct values here, after every check that can be made on them (NULL, alignment,
//! size, overlap).
//!
//! The functions are safe to call but rely on the contract of the exported functions
//! (each an `unsafe extern "C" fn` with a `# Safety` section): a non-NULL pointer given
//! with a length points to that many readable (inputs) or writable (outputs) elements,
//! nothing else accesses them during the call, and a non-NULL struct pointer points to
//! a readable struct. Only pointers received by an exported function reach this module.

use crate::status::{Fail, Status, fail};
use crate::types::{
    BnBackwardParams, BnMoments, BnNormParams, BnPrepared, BnRunningStats, BnSavedStats,
    BnTrainParams,
};
use core::mem::{align_of, size_of};

/// Element and struct types for which every bit pattern is a valid value, so memory from
/// C can be read as them.
///
/// # Safety
/// Implement only for types without invalid bit patterns (no `bool`, enums, references).
pub(crate) unsafe trait Plain: Copy {}

// SAFETY: every bit pattern is an f32.
unsafe impl Plain for f32 {}
// SAFETY: u64 and f64 fields, `repr(C)`, no padding: every bit pattern is valid.
unsafe impl Plain for BnMoments {}
// SAFETY: `batchnorm::Moments` is `repr(C)` with the same u64, f64, f64 fields as
// `BnMoments` (checked at compile time in `types.rs`): every bit pattern is valid.
unsafe impl Plain for batchnorm::Moments {}
// SAFETY: raw pointers, integers and floats only (enums are `c_int` fields), `repr(C)`;
// padding bytes are never read as values.
unsafe impl Plain for BnNormParams {}
// SAFETY: as `BnNormParams`.
unsafe impl Plain for BnPrepared {}
// SAFETY: as `BnNormParams` (the enum fields and `bn_activation`'s are `c_int`).
unsafe impl Plain for BnTrainParams {}
// SAFETY: as `BnNormParams`.
unsafe impl Plain for BnRunningStats {}
// SAFETY: as `BnNormParams`.
unsafe impl Plain for BnSavedStats {}
// SAFETY: as `BnNormParams`.
unsafe impl Plain for BnBackwardParams {}

/// A buffer as C passed it: a pointer, a length in elements, and whether it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buf<T> {
    name: &'static str,
    ptr: *mut T,
    len: usize,
    out: bool,
}

impl<T: Plain> Buf<T> {
    /// A buffer that is only read.
    pub(crate) fn input(name: &'static str, ptr: *const T, len: usize) -> Self {
        Buf {
            name,
            ptr: ptr.cast_mut(),
            len,
            out: false,
        }
    }

    /// A buffer that is written (and possibly read).
    pub(crate) fn output(name: &'static str, ptr: *mut T, len: usize) -> Self {
        Buf {
            name,
            ptr,
            len,
            out: true,
        }
    }

    /// The length in elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether both buffers start at the same (non-NULL) address.
    pub(crate) fn same_start<U>(&self, other: &Buf<U>) -> bool {
        !self.ptr.is_null() && self.ptr.addr() == other.ptr.addr()
    }

    /// The byte range the buffer covers, after the checks that need no other buffer:
    /// NULL with a nonzero length, misalignment, a length no buffer can have. An empty
    /// buffer covers nothing, whatever its pointer.
    pub(crate) fn region(&self) -> Result<Region, Fail> {
        if self.len == 0 {
            return Ok(Region {
                name: self.name,
                start: 0,
                end: 0,
                out: self.out,
            });
        }
        if self.ptr.is_null() {
            return Err(fail!(
                Status::NullPointer,
                "`{}` is NULL but `{}_len` is {}",
                self.name,
                self.name,
                self.len
            ));
        }
        let start = self.ptr.addr();
        if !start.is_multiple_of(align_of::<T>()) {
            return Err(fail!(
                Status::Misaligned,
                "`{}` at address {start:#x} is not aligned to {} bytes",
                self.name,
                align_of::<T>()
            ));
        }
        let end = self
            .len
            .checked_mul(size_of::<T>())
            .filter(|bytes| *bytes <= isize::MAX as usize)
            .and_then(|bytes| start.checked_add(bytes))
            .ok_or_else(|| {
                fail!(
                    Status::LengthMismatch,
                    "`{}_len` is {}, more than any buffer can hold",
                    self.name,
                    self.len
                )
            })?;
        Ok(Region {
            name: self.name,
            start,
            end,
            out: self.out,
        })
    }

    /// The buffer as a slice (empty when its length is 0). Call only after
    /// [`check_disjoint`] accepted the buffers of the call.
    pub(crate) fn slice<'a>(self) -> Result<&'a [T], Fail> {
        self.region()?;
        if self.len == 0 {
            return Ok(&[]);
        }
        // SAFETY: `region` checked that the pointer is non-NULL and aligned and that
        // `len * size_of::<T>()` fits in `isize` without wrapping the address space; the
        // exported function's contract makes the caller promise `len` readable elements
        // untouched by anyone else during the call; `T: Plain` accepts any bits; and
        // `check_disjoint` ensured no written buffer of the call overlaps this one.
        Ok(unsafe { core::slice::from_raw_parts(self.ptr.cast_const(), self.len) })
    }

    /// The buffer as a mutable slice (empty when its length is 0). Call only after
    /// [`check_disjoint`] accepted the buffers of the call, with this one declared written.
    pub(crate) fn slice_mut<'a>(self) -> Result<&'a mut [T], Fail> {
        self.region()?;
        if self.len == 0 {
            return Ok(&mut []);
        }
        if !self.out {
            return Err(fail!(
                Status::Internal,
                "`{}` is not declared as written",
                self.name
            ));
        }
        // SAFETY: as in `slice`, with `len` writable elements promised by the caller; the
        // buffer is declared written, so `check_disjoint` ensured no other buffer of the
        // call overlaps it: this is the only reference to that memory.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) })
    }
}

/// `x` and `y` as one written buffer when `y` starts where `x` does (in place, lengths
/// equal), else `None`. (`x` and `y` stand for the input and the output: `dy` and `dx`
/// in `bn_backward`; messages use the buffers' names.)
pub(crate) fn in_place(x: Buf<f32>, y: Buf<f32>) -> Result<Option<Buf<f32>>, Fail> {
    if !y.same_start(&x) {
        return Ok(None);
    }
    if y.len() != x.len() {
        return Err(fail!(
            Status::LengthMismatch,
            "`{}` == `{}` (in place) but `{}_len` is {} and `{}_len` {}",
            y.name,
            x.name,
            y.name,
            y.len(),
            x.name,
            x.len()
        ));
    }
    Ok(Some(y))
}

/// The bytes a buffer covers (`start == end` when empty), and whether it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    name: &'static str,
    start: usize,
    end: usize,
    out: bool,
}

/// `Ok` when no written buffer overlaps another buffer of the same call (read-only
/// buffers may overlap each other). Callers pass each buffer once: an in-place buffer is
/// passed as one written buffer.
pub(crate) fn check_disjoint(regions: &[Region]) -> Result<(), Fail> {
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            let empty = a.start == a.end || b.start == b.end;
            if (a.out || b.out) && !empty && a.start < b.end && b.start < a.end {
                return Err(fail!(
                    Status::Overlap,
                    "`{}` overlaps `{}` (bytes {:#x}..{:#x} and {:#x}..{:#x})",
                    a.name,
                    b.name,
                    a.start,
                    a.end,
                    b.start,
                    b.end
                ));
            }
        }
    }
    Ok(())
}

impl Region {
    /// No buffer: covers nothing, overlaps nothing (a slot of [`check_all`] left unused).
    pub(crate) const NONE: Region = Region {
        name: "",
        start: 0,
        end: 0,
        out: false,
    };
}

/// The regions of `bufs`, checked each and then against each other.
pub(crate) fn check_all<const N: usize>(bufs: [Result<Region, Fail>; N]) -> Result<(), Fail> {
    let mut regions = [Region::NONE; N];
    for (r, b) in regions.iter_mut().zip(bufs) {
        *r = b?;
    }
    check_disjoint(&regions)
}

/// A copy of the struct `ptr` points to; [`Status::NullPointer`] when it is NULL.
pub(crate) fn read<T: Plain>(name: &'static str, ptr: *const T) -> Result<T, Fail> {
    read_opt(name, ptr)?.ok_or_else(|| fail!(Status::NullPointer, "`{name}` is NULL"))
}

/// A copy of the struct `ptr` points to, or `None` when it is NULL.
pub(crate) fn read_opt<T: Plain>(name: &'static str, ptr: *const T) -> Result<Option<T>, Fail> {
    if ptr.is_null() {
        return Ok(None);
    }
    if !ptr.addr().is_multiple_of(align_of::<T>()) {
        return Err(fail!(
            Status::Misaligned,
            "`{name}` at address {:#x} is not aligned to {} bytes",
            ptr.addr(),
            align_of::<T>()
        ));
    }
    // SAFETY: non-NULL and aligned; the caller promises a readable struct (the exported
    // function's contract); `T: Plain` accepts any bits.
    Ok(Some(unsafe { ptr.read() }))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn empty_buffers_need_no_pointer() {
        let b = Buf::<f32>::input("x", std::ptr::null(), 0);
        assert_eq!(b.slice().unwrap(), &[] as &[f32]);
        let b = Buf::<f32>::output("y", std::ptr::null_mut(), 0);
        assert!(b.slice_mut().unwrap().is_empty());
    }

    #[test]
    fn null_misaligned_and_huge_are_refused() {
        let b = Buf::<f32>::input("x", std::ptr::null(), 3);
        assert_eq!(b.slice().unwrap_err().status(), Status::NullPointer);
        let v = [0.0f32; 4];
        let odd = v.as_ptr().cast::<u8>().wrapping_add(1).cast::<f32>();
        assert_eq!(
            Buf::input("x", odd, 1).slice().unwrap_err().status(),
            Status::Misaligned
        );
        assert_eq!(
            Buf::input("x", v.as_ptr(), usize::MAX / 2)
                .slice()
                .unwrap_err()
                .status(),
            Status::LengthMismatch
        );
        let p = odd.cast::<BnNormParams>();
        assert_eq!(read("p", p).unwrap_err().status(), Status::Misaligned);
        assert_eq!(
            read::<BnNormParams>("p", std::ptr::null())
                .unwrap_err()
                .status(),
            Status::NullPointer
        );
    }

    #[test]
    fn overlap_rules() {
        let mut v = [0.0f32; 8];
        let p = v.as_mut_ptr();
        let a = Buf::input("a", p, 4).region().unwrap();
        let b = Buf::input("b", p.wrapping_add(2), 4).region().unwrap();
        let c = Buf::output("c", p.wrapping_add(4), 4).region().unwrap();
        let e = Buf::output("e", p.wrapping_add(1), 0).region().unwrap();
        // Inputs may overlap each other; an empty output overlaps nothing.
        assert!(check_disjoint(&[a, b, e]).is_ok());
        // Touching is not overlapping.
        assert!(check_disjoint(&[a, c]).is_ok());
        assert_eq!(
            check_disjoint(&[b, c]).unwrap_err().status(),
            Status::Overlap
        );
        let d = Buf::output("d", p.wrapping_add(3), 2).region().unwrap();
        assert_eq!(
            check_disjoint(&[d, c]).unwrap_err().status(),
            Status::Overlap
        );
    }

    #[test]
    fn slices_see_the_memory() {
        let mut v = [1.0f32, 2.0, 3.0];
        let b = Buf::output("y", v.as_mut_ptr(), 3);
        check_all([b.region()]).unwrap();
        b.slice_mut().unwrap()[1] = 5.0;
        assert_eq!(v, [1.0, 5.0, 3.0]);
        let m = BnMoments {
            count: 3,
            mean: 1.5,
            m2: 2.0,
        };
        assert_eq!(read("m", &m).unwrap(), m);
        assert_eq!(read_opt::<BnMoments>("m", std::ptr::null()).unwrap(), None);
    }
}
