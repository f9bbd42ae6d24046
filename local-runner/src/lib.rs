//! local-runner
pub mod fc;
pub mod flow;
pub mod oss;
pub mod sdevs;
pub mod system;
pub mod report;
pub mod progress;
