//! Where a normalize kernel reads and writes: [`Io`], out of place ([`OutOfPlace`]) or in
//! place ([`InPlace`]).

use super::act::{Act, norm};
use super::consts::Consts;
use crate::simd::{LANES, Simd, Vf32};

/// Where a kernel reads its input and writes its output: two buffers, or one in place.
/// Kernels are written once over this trait, so both forms run the same instructions. Its
/// operations are small and `#[inline(always)]`, and kernels call them from plain loops
/// (no closures), so they are compiled for the kernel's ISA.
pub(crate) trait Io {
    /// A run of whole vectors of this buffer, read and written by vector number.
    type Span<'a>: Span
    where
        Self: 'a;

    /// The rows of [`Io::rows`].
    type Rows<'a>: Iterator<Item = Self::Span<'a>>
    where
        Self: 'a;

    /// The input values (before anything is written, in place).
    fn src(&self) -> &[f32];

    /// The `count` whole vectors from `start` (none if they leave the buffer), for a hot
    /// loop: indexed by vector number within the span, with bounds the optimizer knows.
    fn span(&mut self, start: usize, count: usize) -> Self::Span<'_>;

    /// Rows `stride` values apart from `start` to the end of the buffer, each a span of
    /// the whole vectors of its `stride` values (fewer in the last row): for a loop down
    /// a strip of rows, one slice step per row instead of [`Io::span`]'s range checks.
    fn rows(&mut self, start: usize, stride: usize) -> Self::Rows<'_>;

    /// Writes `v` to `i..i + LANES` (nothing if that range leaves the buffer).
    fn store<V: Vf32>(&mut self, i: usize, v: V);

    /// Writes the first `n.min(LANES)` lanes of `v` at `i..`, stopping at the end of the
    /// buffer.
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V);

    /// Writes lane `l` of `v` at `i + l` where `pos[l] < lim[l]`, stopping at the end of
    /// the buffer; nothing else is written. For a last partial vector: lane by lane.
    fn write_where<V: Vf32>(&mut self, i: usize, v: V, pos: V, lim: V);

    /// The `LANES` values at `i..`, zero-filled past the end.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn read<S: Simd>(&self, s: S, i: usize) -> S::F {
        s.load_at(self.src(), i)
    }

    /// Number of values.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn len(&self) -> usize {
        self.src().len()
    }

    /// Replaces the whole vector at `i` (inside the buffer) with `norm(it, k, act)`: one
    /// read, one store.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn norm_at<S: Simd, A: Act<S::F>>(&mut self, s: S, i: usize, k: &Consts<S::F>, act: A) {
        let y = norm(self.read(s, i), k, act);
        self.store(i, y);
    }
}

/// Whole vectors of an [`Io`]: loads from the input, stores to the output.
pub(crate) trait Span {
    /// Number of vectors.
    fn vectors(&self) -> usize;
    /// Input vector `j < vectors()`.
    fn get<S: Simd>(&self, s: S, j: usize) -> S::F;
    /// Writes output vector `j < vectors()`.
    fn set<V: Vf32>(&mut self, j: usize, v: V);
    /// [`Span::set`] with a streaming store ([`Vf32::store_stream`]).
    fn set_stream<V: Vf32>(&mut self, j: usize, v: V);
    /// Writes the lanes `l` of output vector `j < vectors()` where `pos[l] < lim[l]`, and
    /// nothing else.
    fn set_where<V: Vf32>(&mut self, j: usize, v: V, pos: V, lim: V);
}

/// A span out of place: input and output vectors of one length.
pub(crate) struct OutSpan<'a> {
    x: &'a [[f32; LANES]],
    y: &'a mut [[f32; LANES]],
}

/// A span in place.
pub(crate) struct InSpan<'a>(&'a mut [[f32; LANES]]);

/// The range of `count` whole vectors from `start`, if it fits in `len` values.
#[cfg_attr(not(debug_assertions), inline(always))]
fn span_range(start: usize, count: usize, len: usize) -> core::ops::Range<usize> {
    match count.checked_mul(LANES).and_then(|n| n.checked_add(start)) {
        Some(end) if end <= len => start..end,
        _ => 0..0,
    }
}

impl Span for OutSpan<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn vectors(&self) -> usize {
        self.x.len().min(self.y.len())
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn get<S: Simd>(&self, s: S, j: usize) -> S::F {
        s.load(&self.x[j])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set<V: Vf32>(&mut self, j: usize, v: V) {
        v.store(&mut self.y[j]);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set_stream<V: Vf32>(&mut self, j: usize, v: V) {
        v.store_stream(&mut self.y[j]);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set_where<V: Vf32>(&mut self, j: usize, v: V, pos: V, lim: V) {
        v.store_where_lt(&mut self.y[j], pos, lim);
    }
}

impl Span for InSpan<'_> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn vectors(&self) -> usize {
        self.0.len()
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn get<S: Simd>(&self, s: S, j: usize) -> S::F {
        s.load(&self.0[j])
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set<V: Vf32>(&mut self, j: usize, v: V) {
        v.store(&mut self.0[j]);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set_stream<V: Vf32>(&mut self, j: usize, v: V) {
        v.store_stream(&mut self.0[j]);
    }
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set_where<V: Vf32>(&mut self, j: usize, v: V, pos: V, lim: V) {
        v.store_where_lt(&mut self.0[j], pos, lim);
    }
}

/// Out of place: read `x`, write `y` (same length).
pub(crate) struct OutOfPlace<'a> {
    pub x: &'a [f32],
    pub y: &'a mut [f32],
}

/// In place: read and write one buffer.
pub(crate) struct InPlace<'a>(pub &'a mut [f32]);

/// The whole vector of `buf` at `i`, if it lies inside.
#[cfg_attr(not(debug_assertions), inline(always))]
fn vector_at(buf: &mut [f32], i: usize) -> Option<&mut [f32; LANES]> {
    buf.get_mut(i..)?.first_chunk_mut::<LANES>()
}

/// The rows of [`Io::rows`] out of place.
pub(crate) struct OutRows<'a> {
    x: core::slice::Chunks<'a, f32>,
    y: core::slice::ChunksMut<'a, f32>,
}

impl<'a> Iterator for OutRows<'a> {
    type Item = OutSpan<'a>;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<OutSpan<'a>> {
        let (x, y) = (self.x.next()?, self.y.next()?);
        Some(OutSpan {
            x: x.as_chunks::<LANES>().0,
            y: y.as_chunks_mut::<LANES>().0,
        })
    }
}

/// The rows of [`Io::rows`] in place.
pub(crate) struct InRows<'a>(core::slice::ChunksMut<'a, f32>);

impl<'a> Iterator for InRows<'a> {
    type Item = InSpan<'a>;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<InSpan<'a>> {
        Some(InSpan(self.0.next()?.as_chunks_mut::<LANES>().0))
    }
}

impl Io for OutOfPlace<'_> {
    type Span<'a>
        = OutSpan<'a>
    where
        Self: 'a;

    type Rows<'a>
        = OutRows<'a>
    where
        Self: 'a;

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows(&mut self, start: usize, stride: usize) -> OutRows<'_> {
        let len = self.x.len().min(self.y.len());
        let (x, y) = (&self.x[..len], &mut self.y[..len]);
        OutRows {
            x: x.get(start..).unwrap_or(&[]).chunks(stride.max(1)),
            y: y.get_mut(start..)
                .unwrap_or(&mut [])
                .chunks_mut(stride.max(1)),
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn src(&self) -> &[f32] {
        self.x
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn span(&mut self, start: usize, count: usize) -> OutSpan<'_> {
        let r = span_range(start, count, self.x.len().min(self.y.len()));
        OutSpan {
            x: self.x[r.clone()].as_chunks::<LANES>().0,
            y: self.y[r].as_chunks_mut::<LANES>().0,
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store<V: Vf32>(&mut self, i: usize, v: V) {
        if let Some(out) = vector_at(self.y, i) {
            v.store(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V) {
        let end = self.y.len().min(i.saturating_add(n));
        if let Some(out) = self.y.get_mut(i..end) {
            v.store_partial(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write_where<V: Vf32>(&mut self, i: usize, v: V, pos: V, lim: V) {
        write_where_in(self.y, i, v, pos, lim);
    }
}

impl Io for InPlace<'_> {
    type Span<'a>
        = InSpan<'a>
    where
        Self: 'a;

    type Rows<'a>
        = InRows<'a>
    where
        Self: 'a;

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows(&mut self, start: usize, stride: usize) -> InRows<'_> {
        InRows(
            self.0
                .get_mut(start..)
                .unwrap_or(&mut [])
                .chunks_mut(stride.max(1)),
        )
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn src(&self) -> &[f32] {
        self.0
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn span(&mut self, start: usize, count: usize) -> InSpan<'_> {
        let r = span_range(start, count, self.0.len());
        InSpan(self.0[r].as_chunks_mut::<LANES>().0)
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn store<V: Vf32>(&mut self, i: usize, v: V) {
        if let Some(out) = vector_at(self.0, i) {
            v.store(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write<V: Vf32>(&mut self, i: usize, n: usize, v: V) {
        let end = self.0.len().min(i.saturating_add(n));
        if let Some(out) = self.0.get_mut(i..end) {
            v.store_partial(out);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn write_where<V: Vf32>(&mut self, i: usize, v: V, pos: V, lim: V) {
        write_where_in(self.0, i, v, pos, lim);
    }
}

/// [`Io::write_where`] on the output buffer `buf`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn write_where_in<V: Vf32>(buf: &mut [f32], i: usize, v: V, pos: V, lim: V) {
    let (v, p, l) = (v.to_array(), pos.to_array(), lim.to_array());
    let out = buf.get_mut(i..).unwrap_or(&mut []);
    for (k, o) in out.iter_mut().enumerate().take(LANES) {
        if p[k] < l[k] {
            *o = v[k];
        }
    }
}
