//! local-runner
pub mod account;
pub mod console;
pub mod delivery;
pub mod deploy_file;
pub mod fc;
pub mod flow;
pub mod lock;
pub mod oss;
pub mod placeholder;
pub mod progress;
pub mod report;
pub mod serve;
pub mod system;
