//! The after-process function binary.

use std::sync::Arc;

use after_process::{Settings, handle};
use fc_runtime::Context;
use vpf_core::job::AfterProcessInput;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = match Settings::from_env() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("after-process: {e}");
            std::process::exit(2);
        }
    };
    let http = reqwest::Client::new();
    fc_runtime::run(move |input: AfterProcessInput, ctx: Context| {
        let s = settings.clone();
        let http = http.clone();
        async move {
            let store = vpf_oss::OssClient::for_region(
                s.oss_endpoint.as_deref(),
                &ctx.region,
                ctx.require_credentials()?.clone(),
            )?;
            handle(input, &s, &store, &http).await
        }
    })
    .await
}
