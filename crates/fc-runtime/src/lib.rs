//! The Function Compute 3.0 custom-runtime contract, in one place: what
//! Alibaba Cloud documents as "Custom runtime: HTTP server and request
//! headers" for FC 3.0. It stands alone, like `lambda-runtime`: it knows
//! no crate of this project, and a function's error type says its own name
//! through [`FunctionError`].
//!
//! A function is a plain `async fn(event, Context) -> Result<Output, Error>`;
//! [`run`] serves it the way FC expects:
//!
//! - listens on `0.0.0.0:$FC_SERVER_PORT` (or `$FC_CUSTOM_LISTEN_PORT`, default 9000);
//! - `POST /invoke`: the body is the event; `POST /initialize`: answered 200;
//! - success is HTTP 200 with the JSON result; failure is HTTP 404 **and**
//!   `x-fc-status: 404` (without the header FC counts the call as a success)
//!   with `{"errorType", "errorMessage"}`;
//! - `FC Invoke Start RequestId: X` / `FC Invoke End RequestId: X` frame each call.
//!
//! ```no_run
//! use fc_runtime::{run, Context};
//! # #[derive(Debug)] struct Oops(String);
//! # impl std::fmt::Display for Oops {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
//! # }
//! # impl fc_runtime::FunctionError for Oops {
//! #     fn error_type(&self) -> &str { "Oops" }
//! #     fn bad_event(message: String) -> Self { Oops(message) }
//! #     fn internal(message: String) -> Self { Oops(message) }
//! # }
//! async fn hello(event: serde_json::Value, ctx: Context) -> Result<serde_json::Value, Oops> {
//!     Ok(serde_json::json!({"requestId": ctx.request_id, "echo": event}))
//! }
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     run(hello).await
//! }
//! ```

mod context;
mod server;

/// `--help` / `-h` prints `help` and exits; `--version` / `-V` prints the
/// version. Any other argument is refused: FC starts functions without any.
/// Call it first thing in `main`, before reading settings.
pub fn cli(name: &str, version: &str, help: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("--help" | "-h") => {
            println!("{}", help.trim_end());
            println!("\n{}", COMMON_HELP.trim_end());
            std::process::exit(0);
        }
        Some("--version" | "-V") => {
            println!("{name} {version}");
            std::process::exit(0);
        }
        Some(other) => {
            eprintln!("{name}: unexpected argument {other:?}; it takes none (see {name} --help)");
            std::process::exit(2);
        }
    }
}

/// A function's settings, read once at start-up and shared by every call.
/// A mistake in them ends the process with the message and exit code 2,
/// before any call is taken: FC reports the instance as failing to start.
pub fn settings<T, E: std::fmt::Display>(name: &str, read: Result<T, E>) -> std::sync::Arc<T> {
    match read {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(2);
        }
    }
}

const COMMON_HELP: &str = "\
Runtime (FC 3.0 custom runtime):
  Listens on 0.0.0.0:$FC_SERVER_PORT (else $FC_CUSTOM_LISTEN_PORT, else 9000);
  FC_SERVER_HOST narrows the address. POST /invoke takes the event; the
  x-fc-* headers give the request id, region and the role's temporary
  credentials. Success: 200 and JSON. Failure: 404, x-fc-status: 404,
  {\"errorType\", \"errorMessage\"}. LOG_FORMAT=json for JSON logs, RUST_LOG for the level.
  Contracts: functions/README.md.";

pub use context::{Context, Credentials, headers};
pub use server::{
    ErrorBody, MAX_EVENT_BYTES, init_logging, listen_addr, router, run, serve, shutdown_signal,
};

/// An error a function can answer with: FC shows `error_type` as `errorType`,
/// and the workflow retries or catches on it. The runtime's own failures
/// (an event the function does not take, a panic, a result that cannot be
/// encoded) are made by the function's error type too, so every name a
/// function answers with is that type's.
pub trait FunctionError: std::fmt::Display {
    fn error_type(&self) -> &str;
    /// The `errorMessage`; by default the error's text.
    fn error_message(&self) -> String {
        self.to_string()
    }
    /// The error for an event that is not what the function takes.
    fn bad_event(message: String) -> Self
    where
        Self: Sized;
    /// The error for a failure of the runtime itself (a panic, a result
    /// that cannot be encoded).
    fn internal(message: String) -> Self
    where
        Self: Sized;
}
