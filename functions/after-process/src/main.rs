//! The after-process function binary.

use after_process::{Settings, handle, read_input};
use fc_runtime::Context;

const HELP: &str = r#"after-process: writes the job manifest next to the outputs, POSTs it to WEBHOOK_URL,
removes the job's NAS folder; on success and on the failure path.
Input: {"request": <JobRequest>, "merge": <merge answer>} or {"request": ..., "error": {"Error", "Cause"}}.

Environment:
  NAS_MOUNT_DIR (default /mnt/auto)   OSS_ENDPOINT   WEBHOOK_URL (optional)

Example:
  FC_SERVER_PORT=9014 NAS_MOUNT_DIR=/tmp/nas after-process &
  curl -X POST localhost:9014/invoke -H 'x-fc-access-key-id: AK' -H 'x-fc-access-key-secret: SK' \
       -H 'x-fc-region: cn-hangzhou' --data-binary @after.json"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = fc_runtime::settings(env!("CARGO_PKG_NAME"), Settings::from_env());
    let http = reqwest::Client::new();
    fc_runtime::run(move |input: serde_json::Value, ctx: Context| {
        let s = settings.clone();
        let http = http.clone();
        async move {
            let store = vpf_oss::OssClient::for_invocation(s.oss_endpoint.as_deref(), &ctx)?;
            handle(read_input(input)?, &s, &store, &http).await
        }
    })
    .await
}
