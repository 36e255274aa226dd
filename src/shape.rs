//! `Shape`, `Layout`, and the validation of every buffer length, in one place.

use crate::error::Error;

/// How the four dimensions of a tensor are laid out in its flat buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Planar: element `(n, c, h, w)` is at `((n*C + c)*H + h)*W + w`. Each channel is
    /// `n` contiguous planes of `h*w` values.
    Nchw,
    /// Interleaved ("channels last"): element `(n, c, h, w)` is at
    /// `((n*H + h)*W + w)*C + c`. Each row of `C` values holds one pixel.
    Nhwc,
}

/// The dimensions of a 4-D tensor: batch `n`, channels `c`, height `h`, width `w`.
///
/// A 2-D `[batch, features]` input (after a linear layer) is `Shape::new(batch, features, 1, 1)`.
///
/// # Zero-sized shapes
/// A shape with any dimension 0 holds no values: [`Shape::numel`] is `Ok(0)` and no
/// function that takes a `Shape` reports [`Error::ShapeOverflow`] for it, whatever the
/// other dimensions are (`Shape::new(usize::MAX, 3, 0, 7)` and
/// `Shape::new(usize::MAX, 0, 1, 1)` alike). The buffers must still have the lengths the
/// shape gives (`x` empty, per-channel buffers `c` long), and channels with no values
/// (`c > 0`, `n*h*w == 0`) are still [`Error::EmptyChannel`] for the functions that
/// compute statistics. The one product that can still overflow is
/// [`Shape::count_per_channel`] with `c == 0` and `n*h*w` beyond `usize`: that method
/// reports it, but the functions taking the shape accept it (there is no channel to count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// A shape from its four dimensions.
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Shape { n, c, h, w }
    }

    /// Whether any dimension is 0 (the tensor holds no values).
    pub const fn is_zero_sized(&self) -> bool {
        self.n == 0 || self.c == 0 || self.h == 0 || self.w == 0
    }

    /// The number of elements `n*c*h*w`: 0 when any dimension is 0 (whatever the others),
    /// else the product, or [`Error::ShapeOverflow`] if it does not fit in `usize`.
    pub fn numel(&self) -> Result<usize, Error> {
        if self.is_zero_sized() {
            return Ok(0);
        }
        self.n
            .checked_mul(self.c)
            .and_then(|v| v.checked_mul(self.h))
            .and_then(|v| v.checked_mul(self.w))
            .ok_or(self.overflow())
    }

    /// The number of values in each channel, `n*h*w`: 0 when `n`, `h` or `w` is 0
    /// (whatever the others), else the product, or [`Error::ShapeOverflow`] if it does
    /// not fit in `usize` (with `c > 0` the whole tensor then overflows too).
    pub fn count_per_channel(&self) -> Result<usize, Error> {
        if self.n == 0 || self.h == 0 || self.w == 0 {
            return Ok(0);
        }
        self.n
            .checked_mul(self.h)
            .and_then(|v| v.checked_mul(self.w))
            .ok_or(self.overflow())
    }

    fn overflow(&self) -> Error {
        Error::ShapeOverflow {
            n: self.n,
            c: self.c,
            h: self.h,
            w: self.w,
        }
    }

    /// Checks the shape and the input length for a kernel that reads `x`, and returns the
    /// derived sizes. With `need_values`, every channel must hold at least one value
    /// (`n*h*w > 0`) unless there are no channels at all. A zero-sized shape is never
    /// [`Error::ShapeOverflow`]; its products that do not fit (`h*w`, or `n*h*w` with
    /// `c == 0`) are given as 0 in the [`Dims`], which then describe no values at all.
    pub(crate) fn dims(&self, x_len: usize, need_values: bool) -> Result<Dims, Error> {
        let numel = self.numel()?;
        let zero = self.is_zero_sized();
        // Past `numel`, only a zero-sized shape can overflow these products.
        let count = match self.count_per_channel() {
            Err(_) if zero => 0,
            r => r?,
        };
        let plane = match self.h.checked_mul(self.w) {
            None if zero => 0,
            r => r.ok_or(self.overflow())?,
        };
        check_len("x", numel, x_len)?;
        if need_values && count == 0 && self.c > 0 {
            return Err(Error::EmptyChannel {
                n: self.n,
                h: self.h,
                w: self.w,
            });
        }
        Ok(Dims {
            n: self.n,
            c: self.c,
            plane,
            count,
        })
    }
}

/// Rows of an NHWC tensor `stride` values apart in a buffer (see
/// [`crate::normalize_strided`]), validated: how many rows, and how long a buffer they
/// span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pitch {
    /// Distance between row starts, `>= c`.
    pub stride: usize,
    /// `(rows - 1) * stride + c`, or 0 for no rows (or no channels).
    pub span: usize,
}

impl Shape {
    /// Checks the shape of strided NHWC rows and the buffer `x` (of `x_len` values) that
    /// holds them, in the order the strided functions document: [`Error::ShapeOverflow`],
    /// then [`Dims::pitch`] for `x`, then (with `need_values`) [`Error::EmptyChannel`].
    pub(crate) fn strided_dims(
        &self,
        x_len: usize,
        x_stride: usize,
        need_values: bool,
    ) -> Result<(Dims, Pitch), Error> {
        let numel = self.numel()?;
        let d = self.dims(numel, false)?;
        let pitch = d.pitch(("x", x_len), ("x_stride", x_stride))?;
        if need_values {
            self.dims(numel, true)?;
        }
        Ok((d, pitch))
    }
}

impl Dims {
    /// Checks one buffer of strided rows against validated sizes: the stride named
    /// `stride.0` is at least `c` ([`Error::StrideTooSmall`]), the span
    /// `(rows - 1) * stride + c` fits ([`Error::StrideOverflow`]), and the buffer named
    /// `buf.0` holds at least that many values ([`Error::BufferTooShort`]).
    pub(crate) fn pitch(
        &self,
        buf: (&'static str, usize),
        stride: (&'static str, usize),
    ) -> Result<Pitch, Error> {
        let ((buffer, actual), (name, stride)) = (buf, stride);
        if stride < self.c {
            return Err(Error::StrideTooSmall {
                name,
                stride,
                c: self.c,
            });
        }
        // Rows: `n*h*w`, known to fit when `c > 0` (otherwise nothing is spanned).
        let rows = if self.c == 0 { 0 } else { self.count };
        let span = match rows {
            0 => 0,
            r => (r - 1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(self.c))
                .ok_or(Error::StrideOverflow {
                    name,
                    pixels: r,
                    stride,
                    c: self.c,
                })?,
        };
        if actual < span {
            return Err(Error::BufferTooShort {
                buffer,
                needed: span,
                actual,
            });
        }
        Ok(Pitch { stride, span })
    }
}

/// Sizes derived from a validated [`Shape`]; every product in it is known not to overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// `h*w`.
    pub plane: usize,
    /// Values per channel, `n*h*w`.
    pub count: usize,
}

/// `Ok` when `actual == expected`, else [`Error::LengthMismatch`] naming `buffer`.
pub(crate) fn check_len(buffer: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            buffer,
            expected,
            actual,
        })
    }
}

/// Views raw bytes (a tensor read from a file or a DMA buffer) as `f32` values without copying.
///
/// Each group of 4 bytes is read as one `f32` in the **native byte order** of the target:
/// little-endian on x86-64, wasm32 and the usual aarch64, Arm Cortex-M and RISC-V targets,
/// big-endian on big-endian targets. No byte is swapped, so bytes written by
/// `f32::to_ne_bytes` on the same kind of machine come back as the same values, bit for
/// bit. For data stored in a fixed order that may differ from the target's (a
/// little-endian file read on a big-endian machine), decode with [`f32::from_le_bytes`] /
/// [`f32::from_be_bytes`] into your own buffer instead.
///
/// Nothing is copied, padded or truncated: `bytes` must start at a 4-byte boundary and be
/// a whole number of `f32`s, and the view has `bytes.len() / 4` values.
///
/// # Errors
/// - [`Error::Misaligned`] (with the address and the alignment, 4) when `bytes` does not
///   start at a 4-byte boundary. This is checked first, so a buffer both misaligned and
///   of a wrong length gives `Misaligned`. It applies to empty buffers too: an empty slice
///   at a 4-byte boundary gives `Ok(&[])`, but one at an address that is not (an empty
///   `Vec<u8>` or `&[]` usually has the dangling address 1) gives `Misaligned`.
/// - [`Error::ByteLength`] (with the length) when `bytes` is aligned but its length is not
///   a multiple of 4. Trailing bytes are never silently dropped.
///
/// # Example
/// ```
/// use batchnorm::{f32s_from_bytes, Error};
///
/// // Bytes as a file or a device would deliver them, here in this machine's byte order,
/// // in a buffer aligned for f32.
/// #[repr(C, align(4))]
/// struct Aligned([u8; 12]);
/// let mut buf = Aligned([0; 12]);
/// for (chunk, v) in buf.0.chunks_exact_mut(4).zip([1.5f32, -2.0, 0.25]) {
///     chunk.copy_from_slice(&v.to_ne_bytes());
/// }
///
/// let x: &[f32] = f32s_from_bytes(&buf.0)?;
/// assert_eq!(x, [1.5, -2.0, 0.25]);
/// assert_eq!(x.as_ptr() as usize, buf.0.as_ptr() as usize); // the same memory
///
/// // Starting one byte in: refused, nothing is copied to fix it.
/// let start = buf.0.as_ptr() as usize + 1;
/// assert_eq!(f32s_from_bytes(&buf.0[1..9]),
///            Err(Error::Misaligned { address: start, align: 4 }));
/// // Aligned, but 6 bytes: one and a half f32s.
/// assert_eq!(f32s_from_bytes(&buf.0[..6]), Err(Error::ByteLength { len: 6 }));
/// // Both wrong: the alignment is reported.
/// assert!(matches!(f32s_from_bytes(&buf.0[1..3]), Err(Error::Misaligned { .. })));
/// // Empty at a 4-byte boundary: an empty view.
/// assert_eq!(f32s_from_bytes(&buf.0[4..4])?, &[] as &[f32]);
///
/// // Data stored little-endian whatever the machine: decode it instead of viewing it.
/// let le: Vec<f32> = buf.0.chunks_exact(4)
///     .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
///     .collect();
/// if cfg!(target_endian = "little") {
///     assert_eq!(le, [1.5, -2.0, 0.25]);
/// }
/// # Ok::<(), Error>(())
/// ```
pub fn f32s_from_bytes(bytes: &[u8]) -> Result<&[f32], Error> {
    bytemuck::try_cast_slice(bytes).map_err(|e| cast_error(e, bytes.as_ptr() as usize, bytes.len()))
}

/// Views raw bytes as mutable `f32` values without copying (e.g. to normalize in place):
/// writes through the view change the bytes, in the target's native byte order.
///
/// The same rules as [`f32s_from_bytes`]: native byte order, no copy, `bytes.len() / 4`
/// values.
///
/// # Errors
/// As [`f32s_from_bytes`]: [`Error::Misaligned`] when `bytes` does not start at a 4-byte
/// boundary (checked first, empty buffers included), [`Error::ByteLength`] when its length
/// is not a multiple of 4. On error `bytes` is untouched.
///
/// # Example
/// ```
/// use batchnorm::{f32s_from_bytes_mut, Error};
///
/// #[repr(C, align(4))]
/// struct Aligned([u8; 8]);
/// let mut buf = Aligned([0; 8]);
/// buf.0[4..].copy_from_slice(&3.0f32.to_ne_bytes());
///
/// let x = f32s_from_bytes_mut(&mut buf.0)?;
/// assert_eq!(x, [0.0, 3.0]);
/// x[0] = -0.5;
/// assert_eq!(buf.0[..4], (-0.5f32).to_ne_bytes());
///
/// assert_eq!(f32s_from_bytes_mut(&mut buf.0[..7]), Err(Error::ByteLength { len: 7 }));
/// # Ok::<(), Error>(())
/// ```
pub fn f32s_from_bytes_mut(bytes: &mut [u8]) -> Result<&mut [f32], Error> {
    let (address, len) = (bytes.as_ptr() as usize, bytes.len());
    bytemuck::try_cast_slice_mut(bytes).map_err(|e| cast_error(e, address, len))
}

fn cast_error(e: bytemuck::PodCastError, address: usize, len: usize) -> Error {
    match e {
        bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned => Error::Misaligned {
            address,
            align: core::mem::align_of::<f32>(),
        },
        _ => Error::ByteLength { len },
    }
}
