//! The transcode function binary.

use std::sync::Arc;

use fc_runtime::Context;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = Arc::new(transcode::Settings::from_env());
    fc_runtime::run(move |input, _ctx: Context| {
        let s = settings.clone();
        async move { transcode::handle(input, &s).await }
    })
    .await
}
