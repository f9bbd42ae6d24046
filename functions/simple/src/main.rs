//! The simple function: settings from the environment at start-up, an OSS
//! client from each invocation's credentials, the logic in the library.

use fc_runtime::Context;
use serde_json::value::RawValue;
use simple::Settings;
use vpf_core::event::OssEvent;

const HELP: &str = r#"simple: the one-function system. Takes the OSS event ({"events": [...]}) directly,
screens each record as oss-trigger does (ObjectCreated:*, under INPUT_PREFIX, a video
extension of INPUT_EXTENSIONS, not under OUTPUT_PREFIX), and for each new video:
downloads it to local disk, probes it, transcodes it whole (one piece), verifies and
uploads the outputs under OUTPUT_PREFIX, writes manifest.json, calls WEBHOOK_URL.
Sources longer than MAX_SOURCE_SECONDS or larger than MAX_SOURCE_BYTES are refused
with a failed manifest: they belong to the workflow.

Environment:
  INPUT_PREFIX, OUTPUT_PREFIX (default dest)
  INPUT_EXTENSIONS (default mp4, m4v, mov, mkv, webm, ts, mts, m2ts, avi, flv, 3gp, mpg, mpeg, mxf,
                    mp3, m4a, aac, wav, flac, ogg, opus)
  FORMATS (mp4, flv, hls)   CRF (23), PRESET (veryfast), MAX_HEIGHT, AUDIO_KBPS (128), GIF_SECONDS (3)
  AUDIO_SAMPLE_RATE, AUDIO_CHANNELS, LOUDNESS_LUFS, DENOISE (false)
  WATERMARK_KEY, WATERMARK_CORNER, WATERMARK_SCALE, WATERMARK_MARGIN
  LADDER   WEBHOOK_URL   MAX_SOURCE_SECONDS (300)   MAX_SOURCE_BYTES (2147483648)
  OSS_ENDPOINT (default https://oss-<region>-internal.aliyuncs.com)   FFMPEG_PATH, FFPROBE_PATH
  TMPDIR (job folders; default /tmp)

Example:
  FC_SERVER_PORT=9015 INPUT_PREFIX=source/ FORMATS=mp4,gif,jpg simple &
  curl -X POST localhost:9015/invoke -H 'x-fc-access-key-id: AK' -H 'x-fc-access-key-secret: SK' \
       -H 'x-fc-region: cn-hangzhou' --data-binary @event.json"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    fc_runtime::cli(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), HELP);
    let settings = fc_runtime::settings(env!("CARGO_PKG_NAME"), Settings::from_env());
    let http = reqwest::Client::new();
    fc_runtime::run(move |event: Box<RawValue>, ctx: Context| {
        let s = settings.clone();
        let http = http.clone();
        async move {
            // Raw bytes, so that OssEvent::parse applies its own size limit
            // and error message, before anything else is asked of the call.
            let event = OssEvent::parse(event.get().as_bytes())?;
            let store = vpf_oss::OssClient::for_invocation(s.steps.oss_endpoint.as_deref(), &ctx)?;
            simple::handle(&event, &s, &store, &http).await
        }
    })
    .await
}
