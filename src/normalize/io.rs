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

    /// The rows of [`Io::rows_back`].
    type RowsBack<'a>: Iterator<Item = Self::Span<'a>>
    where
        Self: 'a;

    /// The input values (before anything is written, in place).
    fn src(&self) -> &[f32];

    /// Whether the whole vectors of spans go out with streaming stores ([`OutOfPlace`]
    /// with `NT`): a kernel that writes through such an `Io` fences ([`Simd::fence`])
    /// before it returns. In place they never do.
    const STREAMS: bool = false;

    /// The `count` whole vectors from `start` (none if they leave the buffer), for a hot
    /// loop: indexed by vector number within the span, with bounds the optimizer knows.
    fn span(&mut self, start: usize, count: usize) -> Self::Span<'_>;

    /// Rows `stride` values apart from `start` to the end of the buffer, each a span of
    /// the whole vectors of its `stride` values (fewer in the last row): for a loop down
    /// a strip of rows, one slice step per row instead of [`Io::span`]'s range checks.
    fn rows(&mut self, start: usize, stride: usize) -> Self::Rows<'_>;

    /// The `n` rows of [`Io::rows`] from `start`, `count` whole vectors each, the last row
    /// first: none at all if the last one leaves the buffer or `count` vectors are more
    /// than `stride` values. For a loop up a strip of rows, one slice split per row.
    fn rows_back(
        &mut self,
        start: usize,
        stride: usize,
        n: usize,
        count: usize,
    ) -> Self::RowsBack<'_>;

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

/// A span out of place: input and output vectors of one length; [`Span::set`] stores
/// with streaming stores when `NT`.
pub(crate) struct OutSpan<'a, const NT: bool> {
    x: &'a [[f32; LANES]],
    y: &'a mut [[f32; LANES]],
}

impl<'a, const NT: bool> OutSpan<'a, NT> {
    /// The whole vectors of a row of `x` and of the same row of `y`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn of_row(x: &'a [f32], y: &'a mut [f32]) -> Self {
        OutSpan {
            x: x.as_chunks::<LANES>().0,
            y: y.as_chunks_mut::<LANES>().0,
        }
    }
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

impl<const NT: bool> Span for OutSpan<'_, NT> {
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
        if NT {
            v.store_stream(&mut self.y[j]);
        } else {
            v.store(&mut self.y[j]);
        }
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

/// Out of place: read `x`, write `y` (same length). With `NT`, the whole vectors of
/// spans ([`Io::span`], [`Io::rows`], [`Io::rows_back`]) go out with streaming stores
/// ([`Vf32::store_stream`]; [`Io::STREAMS`]); single stores ([`Io::store`],
/// [`Io::write`]) stay plain. A type parameter, not a flag: a test in the stores of the
/// hot loops cost the NHWC backward of 1x1280x7x7 9%.
pub(crate) struct OutOfPlace<'a, const NT: bool = false> {
    pub x: &'a [f32],
    pub y: &'a mut [f32],
}

impl<'a> OutOfPlace<'a> {
    /// `x` to `y` with plain stores.
    pub(crate) fn new(x: &'a [f32], y: &'a mut [f32]) -> Self {
        OutOfPlace { x, y }
    }
}

impl<'a> OutOfPlace<'a, true> {
    /// `x` to `y`, the whole vectors of spans with streaming stores.
    pub(crate) fn streaming(x: &'a [f32], y: &'a mut [f32]) -> Self {
        OutOfPlace { x, y }
    }
}

/// In place: read and write one buffer.
pub(crate) struct InPlace<'a>(pub &'a mut [f32]);

/// The whole vector of `buf` at `i`, if it lies inside.
#[cfg_attr(not(debug_assertions), inline(always))]
fn vector_at(buf: &mut [f32], i: usize) -> Option<&mut [f32; LANES]> {
    buf.get_mut(i..)?.first_chunk_mut::<LANES>()
}

/// The rows of [`Io::rows`] out of place.
pub(crate) struct OutRows<'a, const NT: bool> {
    x: core::slice::Chunks<'a, f32>,
    y: core::slice::ChunksMut<'a, f32>,
}

impl<'a, const NT: bool> Iterator for OutRows<'a, NT> {
    type Item = OutSpan<'a, NT>;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<OutSpan<'a, NT>> {
        Some(OutSpan::of_row(self.x.next()?, self.y.next()?))
    }
}

/// The range of `n` rows of `len` values, `stride` apart from `start`: from the first
/// row's start to the last row's end, if that fits in `size` values (empty otherwise).
#[cfg_attr(not(debug_assertions), inline(always))]
fn rows_range(
    start: usize,
    stride: usize,
    n: usize,
    len: usize,
    size: usize,
) -> core::ops::Range<usize> {
    let end = n
        .checked_sub(1)
        .and_then(|k| k.checked_mul(stride))
        .and_then(|o| o.checked_add(start))
        .and_then(|o| o.checked_add(len));
    match end {
        Some(end) if end <= size && len <= stride => start..end,
        _ => 0..0,
    }
}

/// Rows of `len` values `gap + len` apart, the last one first, split off the end of
/// `rest` (which runs from the first row's start to the last row's end).
pub(crate) struct Back<'a> {
    rest: &'a [f32],
    gap: usize,
    len: usize,
}

impl<'a> Back<'a> {
    /// The `n` rows of `len` values `stride` apart from `start` in `buf`, the last one
    /// first (none if the last one leaves `buf`, or if `len > stride`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn new(buf: &'a [f32], start: usize, stride: usize, n: usize, len: usize) -> Self {
        Back {
            rest: &buf[rows_range(start, stride, n, len, buf.len())],
            gap: stride.saturating_sub(len),
            len,
        }
    }
}

impl<'a> Iterator for Back<'a> {
    type Item = &'a [f32];
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<&'a [f32]> {
        let cut = self.rest.len().checked_sub(self.len)?;
        let (head, row) = self.rest.split_at(cut);
        self.rest = head
            .get(..head.len().saturating_sub(self.gap))
            .unwrap_or(&[]);
        Some(row)
    }
}

/// [`Back`], writable.
pub(crate) struct BackMut<'a> {
    rest: &'a mut [f32],
    gap: usize,
    len: usize,
}

impl<'a> BackMut<'a> {
    /// As [`Back::new`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn new(buf: &'a mut [f32], start: usize, stride: usize, n: usize, len: usize) -> Self {
        let r = rows_range(start, stride, n, len, buf.len());
        BackMut {
            rest: &mut buf[r],
            gap: stride.saturating_sub(len),
            len,
        }
    }
}

impl<'a> Iterator for BackMut<'a> {
    type Item = &'a mut [f32];
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<&'a mut [f32]> {
        let cut = self.rest.len().checked_sub(self.len)?;
        let (head, row) = core::mem::take(&mut self.rest).split_at_mut(cut);
        let keep = head.len().saturating_sub(self.gap);
        self.rest = head.get_mut(..keep).unwrap_or(&mut []);
        Some(row)
    }
}

/// The rows of [`Io::rows_back`] out of place.
pub(crate) struct OutRowsBack<'a, const NT: bool> {
    x: Back<'a>,
    y: BackMut<'a>,
}

impl<'a, const NT: bool> Iterator for OutRowsBack<'a, NT> {
    type Item = OutSpan<'a, NT>;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<OutSpan<'a, NT>> {
        Some(OutSpan::of_row(self.x.next()?, self.y.next()?))
    }
}

/// The rows of [`Io::rows_back`] in place.
pub(crate) struct InRowsBack<'a>(BackMut<'a>);

impl<'a> Iterator for InRowsBack<'a> {
    type Item = InSpan<'a>;
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn next(&mut self) -> Option<InSpan<'a>> {
        Some(InSpan(self.0.next()?.as_chunks_mut::<LANES>().0))
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

impl<const NT: bool> Io for OutOfPlace<'_, NT> {
    type Span<'a>
        = OutSpan<'a, NT>
    where
        Self: 'a;

    type Rows<'a>
        = OutRows<'a, NT>
    where
        Self: 'a;

    type RowsBack<'a>
        = OutRowsBack<'a, NT>
    where
        Self: 'a;

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows_back(
        &mut self,
        start: usize,
        stride: usize,
        n: usize,
        count: usize,
    ) -> OutRowsBack<'_, NT> {
        let len = self.x.len().min(self.y.len());
        let count = count.saturating_mul(LANES);
        OutRowsBack {
            x: Back::new(&self.x[..len], start, stride, n, count),
            y: BackMut::new(&mut self.y[..len], start, stride, n, count),
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows(&mut self, start: usize, stride: usize) -> OutRows<'_, NT> {
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

    const STREAMS: bool = NT;

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn span(&mut self, start: usize, count: usize) -> OutSpan<'_, NT> {
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

    type RowsBack<'a>
        = InRowsBack<'a>
    where
        Self: 'a;

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rows_back(&mut self, start: usize, stride: usize, n: usize, count: usize) -> InRowsBack<'_> {
        let count = count.saturating_mul(LANES);
        InRowsBack(BackMut::new(self.0, start, stride, n, count))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The first value of each span that `rows_back` yields (the buffers hold their index).
    fn firsts<I: Io>(io: &mut I, start: usize, stride: usize, n: usize, count: usize) -> [f32; 8] {
        let mut out = [-1.0; 8];
        for (o, span) in out.iter_mut().zip(io.rows_back(start, stride, n, count)) {
            assert_eq!(span.vectors(), count);
            *o = span.get(crate::simd::Portable, 0).to_array()[0];
        }
        out
    }

    #[test]
    fn rows_back_walks_up_from_the_last_row_or_not_at_all() {
        let mut x = [0.0f32; 200];
        for (i, v) in x.iter_mut().enumerate() {
            *v = i as f32;
        }
        let mut y = x;
        let mut z = x;
        // 3 rows of one vector, 40 apart from 5: the last row is 85..101.
        let want = [85.0, 45.0, 5.0, -1.0, -1.0, -1.0, -1.0, -1.0];
        assert_eq!(firsts(&mut OutOfPlace::new(&x, &mut y), 5, 40, 3, 1), want);
        assert_eq!(firsts(&mut InPlace(&mut z), 5, 40, 3, 1), want);
        // Rows of two vectors, the last one ending at the buffer's end exactly.
        let want = [168.0, 68.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0];
        assert_eq!(firsts(&mut InPlace(&mut z), 68, 100, 2, 2), want);
        // No rows: none; a last row one value past the end, a row longer than the
        // stride, or an offset that overflows: none at all.
        let none = [-1.0; 8];
        for (start, stride, n, count) in [
            (0, 40, 0, 1),
            (69, 100, 2, 2),
            (0, 20, 3, 2),
            (usize::MAX - 8, 40, 2, 1),
            (0, usize::MAX / 2, 3, 1),
        ] {
            assert_eq!(firsts(&mut InPlace(&mut z), start, stride, n, count), none);
            assert_eq!(
                firsts(&mut OutOfPlace::new(&x, &mut y), start, stride, n, count),
                none
            );
        }
        // The writes land on the rows walked, in place and out of place (where the
        // input is read from `x`, untouched).
        let mut io = InPlace(&mut z);
        for mut span in io.rows_back(5, 40, 3, 1) {
            span.set(0, crate::simd::Portable.splat(-2.0));
        }
        let mut io = OutOfPlace::new(&x, &mut y);
        for mut span in io.rows_back(5, 40, 3, 1) {
            let v = span.get(crate::simd::Portable, 0);
            span.set(0, v * crate::simd::Portable.splat(-1.0));
        }
        for (i, (v, w)) in z.iter().zip(&y).enumerate() {
            let row = i >= 5 && (i - 5) % 40 < LANES && (i - 5) / 40 < 3;
            assert_eq!(*v, if row { -2.0 } else { i as f32 }, "in place, value {i}");
            assert_eq!(
                *w,
                if row { -(i as f32) } else { i as f32 },
                "out of place, value {i}"
            );
        }
        assert!(x.iter().enumerate().all(|(i, v)| *v == i as f32));
    }
}
