//! [`Kernels`]' normalize entry points (plain, prepared, strided) at its level.

use super::Kernels;
use crate::error::Error;
use crate::normalize::prepared::{Prepared, normalize_prepared_at, normalize_prepared_in_place_at};
use crate::normalize::strided::{
    normalize_prepared_strided_at, normalize_prepared_strided_in_place_at, normalize_strided_at,
    normalize_strided_in_place_at,
};
use crate::normalize::{Activation, NormParams, normalize_at, normalize_in_place_at};
use crate::shape::{Layout, Shape};

impl Kernels {
    /// [`fn@crate::normalize`] at this level.
    ///
    /// # Errors
    /// As [`fn@crate::normalize`].
    pub fn normalize(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_at(self.isa, x, y, shape, layout, p, act)
    }

    /// [`crate::normalize_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_in_place`].
    pub fn normalize_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_in_place_at(self.isa, x, shape, layout, p, act)
    }

    /// [`crate::normalize_prepared`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared`].
    pub fn normalize_prepared(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_at(self.isa, x, y, shape, layout, p, act)
    }

    /// [`crate::normalize_prepared_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared_in_place`].
    pub fn normalize_prepared_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_in_place_at(self.isa, x, shape, layout, p, act)
    }

    /// [`crate::normalize_strided`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_strided`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Activation, Kernels, NormParams, Shape};
    ///
    /// let x = [1.0f32, f32::NAN, 3.0]; // 2 rows of 1 channel, 2 values apart
    /// let p = NormParams { mean: &[2.0], var: &[1.0], gamma: &[1.0], beta: &[0.0], eps: 0.0 };
    /// let mut y = [9.0f32; 4];
    /// Kernels::detected().normalize_strided(&x, 2, &mut y, 3, Shape::new(2, 1, 1, 1), &p,
    ///                                       Activation::Identity)?;
    /// assert_eq!(y, [-1.0, 9.0, 9.0, 1.0]);
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_strided(
        &self,
        x: &[f32],
        x_stride: usize,
        y: &mut [f32],
        y_stride: usize,
        shape: Shape,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_strided_at(self.isa, x, x_stride, y, y_stride, shape, p, act)
    }

    /// [`crate::normalize_strided_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_strided_in_place`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Activation, Kernels, NormParams, Shape};
    ///
    /// let mut x = [1.0f32, 8.0, 3.0];
    /// let p = NormParams { mean: &[2.0], var: &[1.0], gamma: &[1.0], beta: &[0.0], eps: 0.0 };
    /// Kernels::detected().normalize_strided_in_place(&mut x, 2, Shape::new(2, 1, 1, 1), &p,
    ///                                                Activation::Identity)?;
    /// assert_eq!(x, [-1.0, 8.0, 1.0]);
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    pub fn normalize_strided_in_place(
        &self,
        x: &mut [f32],
        x_stride: usize,
        shape: Shape,
        p: &NormParams,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_strided_in_place_at(self.isa, x, x_stride, shape, p, act)
    }

    /// [`crate::normalize_prepared_strided`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared_strided`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Activation, Kernels, Prepared, Shape};
    ///
    /// let x = [1.0f32, f32::NAN, 3.0];
    /// let p = Prepared { mean: &[2.0], scale: &[1.0], beta: &[0.0] };
    /// let mut y = [9.0f32; 2];
    /// Kernels::detected().normalize_prepared_strided(&x, 2, &mut y, 1, Shape::new(2, 1, 1, 1),
    ///                                                &p, Activation::Identity)?;
    /// assert_eq!(y, [-1.0, 1.0]);
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_prepared_strided(
        &self,
        x: &[f32],
        x_stride: usize,
        y: &mut [f32],
        y_stride: usize,
        shape: Shape,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_strided_at(self.isa, x, x_stride, y, y_stride, shape, p, act)
    }

    /// [`crate::normalize_prepared_strided_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::normalize_prepared_strided_in_place`].
    ///
    /// # Example
    /// ```
    /// use batchnorm::{Activation, Kernels, Prepared, Shape};
    ///
    /// let mut x = [1.0f32, 8.0, 3.0];
    /// let p = Prepared { mean: &[2.0], scale: &[1.0], beta: &[0.0] };
    /// Kernels::detected().normalize_prepared_strided_in_place(&mut x, 2, Shape::new(2, 1, 1, 1),
    ///                                                         &p, Activation::Identity)?;
    /// assert_eq!(x, [-1.0, 8.0, 1.0]);
    /// # Ok::<(), batchnorm::Error>(())
    /// ```
    pub fn normalize_prepared_strided_in_place(
        &self,
        x: &mut [f32],
        x_stride: usize,
        shape: Shape,
        p: &Prepared,
        act: Activation,
    ) -> Result<(), Error> {
        normalize_prepared_strided_in_place_at(self.isa, x, x_stride, shape, p, act)
    }
}
