//! The split function binary: settings from the environment at start-up, an OSS
//! client from each invocation's credentials, the logic in the library.

use std::sync::Arc;

use fc_runtime::Context;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let settings = Arc::new(split::Settings::from_env());
    fc_runtime::run(move |input, ctx: Context| {
        let s = settings.clone();
        async move {
            let store = vpf_oss::OssClient::for_region(
                s.oss_endpoint.as_deref(),
                &ctx.region,
                ctx.require_credentials()?.clone(),
            )?;
            split::handle(input, &s, &store).await
        }
    })
    .await
}
