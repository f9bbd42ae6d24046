//! local-runner
pub mod console;
pub mod fc;
pub mod flow;
pub mod oss;
pub mod progress;
pub mod report;
pub mod sdevs;
pub mod serve;
pub mod system;
