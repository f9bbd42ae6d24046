//! The oss-trigger function: settings from the environment at start-up,
//! clients from each invocation's credentials, the logic in the library.

use std::sync::Arc;

use fc_runtime::Context;
use oss_trigger::{Live, Settings, TriggerOutput, handle_event};
use serde_json::value::RawValue;
use vpf_core::event::OssEvent;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = match Settings::from_env() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("oss-trigger: {e}");
            std::process::exit(2);
        }
    };
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
