//! Contracts shared by the five functions, the workflow and the local runner.
//!
//! Everything that crosses a process boundary is defined here exactly once:
//! the OSS event ([`event`]), the payloads that travel through the workflow
//! ([`job`], which gathers [`format`], [`request`], [`media`], [`plan`],
//! [`steps`] and [`manifest`]), the error types the workflow retries or
//! catches ([`error`]), the layout of a job's folder on NAS ([`nas`]), the
//! adaptive-streaming ladder ([`ladder`]) and the watermark's placement
//! ([`watermark`]).
//!
//! The modules import one way: the vocabulary ([`error`], [`keys`],
//! [`format`], [`setting`], [`ladder`], [`watermark`], [`cost`]) imports
//! nothing above it; the request, the probe, the plan, the step payloads and
//! the manifest build on it; [`tracks`], [`overrides`] and [`nas`] work on
//! those; [`job`] only re-exports.

pub mod config;
pub mod content_type;
pub mod cost;
pub mod credentials;
pub mod error;
pub mod event;
#[cfg(feature = "fc")]
pub mod fc;
pub mod format;
pub mod job;
pub mod keys;
pub mod ladder;
pub mod manifest;
pub mod media;
pub mod nas;
pub mod overrides;
pub mod plan;
pub mod request;
pub mod setting;
pub mod steps;
pub mod tracks;
pub mod watermark;

pub use error::{Error, ErrorKind, Result};
