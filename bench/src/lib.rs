//! vpf-bench: the pipeline against the single-ffmpeg floor and the seed
//! sample's recipe, on generated inputs, side by side on one machine
//! (README, "Benchmarks"). `scripts/bench.sh` builds the release binaries and runs it;
//! results go to `bench/out/results.{json,md}`.

pub mod handlers;
pub mod ladder;
pub mod media;
pub mod meter;
pub mod pipeline;
pub mod procfs;
pub mod real_world;
pub mod report;
pub mod scaleout;
pub mod seed;
