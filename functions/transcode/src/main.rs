//! The transcode function binary.

use std::sync::Arc;

use fc_runtime::Context;

const HELP: &str = r#"transcode: encodes one Map item of a job, atomically: a video piece to
H.264 (libx264), or the whole audio track once to AAC.
Input: {"jobId": "...", "track": "video", "index": N} or {"jobId": "...", "track": "audio"}
(the items of split's answer; "track" defaults to "video").

Environment:
  NAS_MOUNT_DIR (default /mnt/auto)   FFMPEG_PATH, FFPROBE_PATH

Example:
  FC_SERVER_PORT=9012 NAS_MOUNT_DIR=/tmp/nas transcode &
  curl -X POST localhost:9012/invoke -d '{"jobId": "v-a-mp4-0123456789abcdef01234567", "index": 0}'"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = Arc::new(transcode::Settings::from_env());
    fc_runtime::run(move |input, _ctx: Context| {
        let s = settings.clone();
        async move { transcode::handle(input, &s).await }
    })
    .await
}
