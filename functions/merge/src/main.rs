//! The merge function binary: settings from the environment at start-up, an OSS
//! client from each invocation's credentials, the logic in the library.

use std::sync::Arc;

use fc_runtime::Context;

const HELP: &str = r#"merge: joins the encoded pieces in order, muxes the audio, packages every requested format
from the one encode, verifies the result against the source and uploads it.
Input: {"jobId": "...", "tasks": [<transcode answers: the pieces and the audio>]}.

Environment:
  NAS_MOUNT_DIR (default /mnt/auto)   OSS_ENDPOINT   FFMPEG_PATH, FFPROBE_PATH

Example:
  FC_SERVER_PORT=9013 NAS_MOUNT_DIR=/tmp/nas merge &
  curl -X POST localhost:9013/invoke -H 'x-fc-access-key-id: AK' -H 'x-fc-access-key-secret: SK' \
       -H 'x-fc-region: cn-hangzhou' --data-binary @merge-input.json"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = Arc::new(merge::Settings::from_env());
    fc_runtime::run(move |input, ctx: Context| {
        let s = settings.clone();
        async move {
            let store = vpf_oss::OssClient::for_invocation(s.oss_endpoint.as_deref(), &ctx)?;
            merge::handle(input, &s, &store).await
        }
    })
    .await
}
