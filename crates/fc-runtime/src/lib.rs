//! The Function Compute 3.0 custom-runtime contract (NOTES §2), in one place.
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
//! async fn hello(event: serde_json::Value, ctx: Context) -> Result<serde_json::Value, vpf_core::Error> {
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

const COMMON_HELP: &str = "\
Runtime (FC 3.0 custom runtime):
  Listens on 0.0.0.0:$FC_SERVER_PORT (else $FC_CUSTOM_LISTEN_PORT, else 9000);
  FC_SERVER_HOST narrows the address. POST /invoke takes the event; the
  x-fc-* headers give the request id, region and the role's temporary
  credentials. Success: 200 and JSON. Failure: 404, x-fc-status: 404,
  {\"errorType\", \"errorMessage\"}. LOG_FORMAT=json for JSON logs, RUST_LOG for the level.
  Contracts: functions/README.md.";

pub use context::{Context, headers};
pub use server::{
    ErrorBody, MAX_EVENT_BYTES, init_logging, listen_addr, router, run, serve, shutdown_signal,
};

/// An error a function can answer with: FC shows `error_type` as `errorType`,
/// and the workflow retries or catches on it.
pub trait FunctionError: std::fmt::Display {
    fn error_type(&self) -> &str;
    /// The `errorMessage`; by default the error's text.
    fn error_message(&self) -> String {
        self.to_string()
    }
}

impl FunctionError for vpf_core::Error {
    fn error_type(&self) -> &str {
        self.kind.as_str()
    }
    /// Without the kind in front: it is in `errorType` already.
    fn error_message(&self) -> String {
        self.message.clone()
    }
}
