//! The workflow part of the local runner: the CloudFlow state machine in
//! `flow/` loaded and executed as written ([`def`], [`expr`], [`engine`]), and
//! the Serverless Workflow API that oss-trigger calls ([`api`], with request
//! signatures checked by [`sig`]).

pub mod api;
pub mod def;
pub mod engine;
pub mod expr;
pub mod sig;

pub use def::{Flow, LoadError, Vars};
pub use engine::{
    CALL_SITE, CallSite, Engine, EngineOptions, Event, ExecutionRecord, Invoker, StartError,
    Status, TaskError,
};
