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

pub use context::{Context, headers};
pub use server::{ErrorBody, MAX_EVENT_BYTES, init_logging, listen_addr, router, run, serve};

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
