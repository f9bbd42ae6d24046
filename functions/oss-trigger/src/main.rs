//! The oss-trigger function: settings from the environment at start-up,
//! clients from each invocation's credentials, the logic in the library.

use fc_runtime::Context;
use oss_trigger::{Live, Settings, TriggerOutput, handle_event};
use serde_json::value::RawValue;
use vpf_core::event::OssEvent;

const HELP: &str = r#"oss-trigger: turns OSS upload events into workflow executions, one per new object.

Takes the OSS event ({"events": [...]}); skips, with a reason, events that are not
ObjectCreated:*, keys outside INPUT_PREFIX or without an extension of
INPUT_EXTENSIONS (any case; video or sound) and keys under OUTPUT_PREFIX;
starts FLOW_NAME once per object (execution name from bucket, key and eTag).
A .json object under INPUT_PREFIX is a job file: {"source": "<video key>", ...settings}
starts a job for that video with its settings (execution name from the video and the
job file's key and eTag) and writes OUTPUT_PREFIX/<path>.json/receipt.json; a job file
with a mistake starts nothing and its receipt says why (schemas/job-file.schema.json).

Environment:
  FLOW_NAME (required)   FLOW_ENDPOINT (default https://<region>.fnf.aliyuncs.com)
  INPUT_PREFIX, OUTPUT_PREFIX (default dest)
  INPUT_EXTENSIONS (default mp4, m4v, mov, mkv, webm, ts, mts, m2ts, avi, flv, 3gp, mpg, mpeg, mxf,
                    mp3, m4a, aac, wav, flac, ogg, opus)
  SEGMENT_SECONDS (30), MAX_PIECES (100), FORMATS (mp4, flv, hls)
  CRF (23), PRESET (veryfast), MAX_HEIGHT, AUDIO_KBPS (128), GIF_SECONDS (3)
  AUDIO_SAMPLE_RATE, AUDIO_CHANNELS, LOUDNESS_LUFS, DENOISE (false)
  WATERMARK_KEY, WATERMARK_CORNER, WATERMARK_SCALE, WATERMARK_MARGIN
  LADDER (2160:16000, 1440:10000, 1080:6000, 720:3000, 540:2000, 360:700, 234:150)
  OSS_ENDPOINT (default https://oss-<region>-internal.aliyuncs.com)

Example:
  FC_SERVER_PORT=9010 FLOW_NAME=video-process-flow INPUT_PREFIX=source/ oss-trigger &
  curl -X POST localhost:9010/invoke -H 'x-fc-access-key-id: AK' -H 'x-fc-access-key-secret: SK' \
       -H 'x-fc-region: cn-hangzhou' --data-binary @event.json"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = fc_runtime::settings(env!("CARGO_PKG_NAME"), Settings::from_env());
    fc_runtime::run(move |event: Box<RawValue>, ctx: Context| {
        let s = settings.clone();
        async move {
            // Raw bytes, so that OssEvent::parse applies its own size limit
            // and error message, before anything else is asked of the call.
            let event = OssEvent::parse(event.get().as_bytes())?;
            let live = Live::new(&s, &ctx)?;
            let out: TriggerOutput = handle_event(&event, &s, &live).await?;
            Ok::<_, vpf_core::Error>(out)
        }
    })
    .await
}
