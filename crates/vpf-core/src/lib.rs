//! Contracts shared by the five functions, the workflow and the local runner.
//!
//! Everything that crosses a process boundary is defined here exactly once:
//! the OSS event ([`event`]), the payloads that travel through the workflow
//! ([`job`]), the error types the workflow retries or catches ([`error`]),
//! the layout of a job's folder on NAS ([`nas`]), the adaptive-streaming
//! ladder ([`ladder`]) and the watermark's placement ([`watermark`]).

pub mod config;
pub mod cost;
pub mod credentials;
pub mod error;
pub mod event;
pub mod job;
pub mod keys;
pub mod ladder;
pub mod nas;
pub mod overrides;
pub mod tracks;
pub mod watermark;

pub use error::{Error, ErrorKind, Result};
