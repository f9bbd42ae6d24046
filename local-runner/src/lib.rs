//! local-runner
pub mod delivery;
pub mod deploy_file;
pub mod fc;
pub mod flow;
pub mod oss;
pub mod progress;
pub mod report;
pub mod serve;
pub mod system;
