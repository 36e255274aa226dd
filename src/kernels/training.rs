//! [`Kernels`]' training entry points (forward and backward) at its level.

use super::Kernels;
use crate::backward::{Activated, BackwardParams, ForwardStats, backward_at, backward_in_place_at};
use crate::error::Error;
use crate::shape::{Layout, Shape};
use crate::train::{
    RunningStats, SavedStats, TrainParams, train_forward_at, train_forward_in_place_at,
};

impl Kernels {
    /// [`crate::train_forward`] at this level.
    ///
    /// # Errors
    /// As [`crate::train_forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn train_forward(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &TrainParams,
        running: Option<RunningStats<'_>>,
        saved: SavedStats<'_>,
    ) -> Result<(), Error> {
        train_forward_at(self.isa, x, y, shape, layout, p, running, saved)
    }

    /// [`crate::train_forward_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::train_forward_in_place`].
    pub fn train_forward_in_place(
        &self,
        x: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &TrainParams,
        running: Option<RunningStats<'_>>,
        saved: SavedStats<'_>,
    ) -> Result<(), Error> {
        train_forward_in_place_at(self.isa, x, shape, layout, p, running, saved)
    }

    /// [`fn@crate::backward`] at this level.
    ///
    /// # Errors
    /// As [`fn@crate::backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &BackwardParams,
        stats: ForwardStats,
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) -> Result<(), Error> {
        backward_at(
            self.isa,
            x,
            dy,
            Some(dx),
            shape,
            layout,
            p,
            stats,
            None,
            dgamma,
            dbeta,
        )
    }

    /// [`crate::backward_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_in_place`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_in_place(
        &self,
        x: &[f32],
        dy: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &BackwardParams,
        stats: ForwardStats,
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) -> Result<(), Error> {
        backward_in_place_at(
            self.isa, x, dy, shape, layout, p, stats, None, dgamma, dbeta,
        )
    }

    /// [`crate::backward_activated`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_activated`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_activated(
        &self,
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &BackwardParams,
        stats: ForwardStats,
        fwd: Activated,
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) -> Result<(), Error> {
        backward_at(
            self.isa,
            x,
            dy,
            Some(dx),
            shape,
            layout,
            p,
            stats,
            Some(fwd),
            dgamma,
            dbeta,
        )
    }

    /// [`crate::backward_activated_in_place`] at this level.
    ///
    /// # Errors
    /// As [`crate::backward_activated_in_place`].
    #[allow(clippy::too_many_arguments)]
    pub fn backward_activated_in_place(
        &self,
        x: &[f32],
        dy: &mut [f32],
        shape: Shape,
        layout: Layout,
        p: &BackwardParams,
        stats: ForwardStats,
        fwd: Activated,
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) -> Result<(), Error> {
        backward_in_place_at(
            self.isa,
            x,
            dy,
            shape,
            layout,
            p,
            stats,
            Some(fwd),
            dgamma,
            dbeta,
        )
    }
}
