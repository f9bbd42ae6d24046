//! The payloads that travel through the workflow, and the records a job keeps
//! in its NAS folder, under one path: each lives in the module a reader
//! would look in ([`crate::format`], [`crate::request`], [`crate::media`],
//! [`crate::plan`], [`crate::steps`], [`crate::manifest`]).

pub use crate::format::*;
pub use crate::manifest::*;
pub use crate::media::*;
pub use crate::plan::*;
pub use crate::request::*;
pub use crate::steps::*;
