//! The split function binary: settings from the environment at start-up, an OSS
//! client from each invocation's credentials, the logic in the library.

use std::sync::Arc;

use fc_runtime::Context;

const HELP: &str = r#"split: downloads the source to the NAS job folder, probes it, cuts key-frame-aligned
video-only pieces; the audio is a Map task for transcode. Input: the JobRequest (the execution input).

Environment:
  NAS_MOUNT_DIR (default /mnt/auto)   OSS_ENDPOINT (default the region's internal endpoint)
  FFMPEG_PATH, FFPROBE_PATH (default /opt/bin/*, else PATH)

Example:
  FC_SERVER_PORT=9011 NAS_MOUNT_DIR=/tmp/nas split &
  curl -X POST localhost:9011/invoke -H 'x-fc-access-key-id: AK' -H 'x-fc-access-key-secret: SK' \
       -H 'x-fc-region: cn-hangzhou' --data-binary @job.json"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = Arc::new(split::Settings::from_env());
    fc_runtime::run(move |input, ctx: Context| {
        let s = settings.clone();
        async move {
            let store = vpf_oss::OssClient::for_invocation(s.oss_endpoint.as_deref(), &ctx)?;
            split::handle(input, &s, &store).await
        }
    })
    .await
}
