//! `vpf-bench`: runs every measurement of the README's "Benchmarks" in one go and writes
//! `<out>/results.json` and `<out>/results.md`. See `scripts/bench.sh`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use local_runner::report::RunStatus;
use vpf_bench::handlers;
use vpf_bench::ladder;
use vpf_bench::media::{self, Facts, InputSpec, R};
use vpf_bench::meter::{Gate, Meter};
use vpf_bench::pipeline::{self, HANDLERS, PipelineRun};
use vpf_bench::procfs::Machine;
use vpf_bench::real_world;
use vpf_bench::report::{
    self, DISTURBED, InputResult, LadderResult, LadderRung, Output, RETRIES, Results, RungOutput,
    Settings, Streaming, Sweep, SweepPoint, Timed,
};
use vpf_bench::seed::{self, Codecs};
use vpf_core::job::{Format, Profile};

#[derive(Parser)]
#[command(
    name = "vpf-bench",
    about = "Benchmark the pipeline against one plain ffmpeg encode and the seed sample's recipe.",
    after_help = "Usually run through scripts/bench.sh (builds release first). Examples:\n  \
vpf-bench                 # the full run, ~20 min on 2 cores\n  \
vpf-bench --smoke         # tiny inputs, seconds: checks that every part works\n  \
vpf-bench --only 1080p --skip-streaming\n  \
vpf-bench --only short --skip-real-world --skip-streaming --skip-ladder   # the short clip alone\n  \
vpf-bench --only ladder --skip-real-world --skip-streaming   # the abr ladder alone"
)]
struct Cli {
    /// Tiny inputs and few trials: checks the machinery in seconds; figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Where results.json and results.md go.
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
    /// Scratch space: generated inputs (kept for reruns) and outputs (removed). Default <out>/work.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Folder of the handler binaries. Default: this program's folder (target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The Serverless Devs file the local runner reads.
    #[arg(long, default_value = "s.yaml")]
    s_yaml: PathBuf,
    /// Before each measured step, wait until the machine is quieter than this (1-minute load, or others' busy cores).
    #[arg(long, default_value_t = 0.6)]
    max_load: f64,
    /// Most seconds spent waiting for a quiet machine over the whole run.
    #[arg(long, default_value_t = 900)]
    max_wait_total: u64,
    /// Do not wait for a quiet machine.
    #[arg(long)]
    no_wait: bool,
    /// Only inputs whose name contains this (e.g. 1080p; `short` the 12 s short clip alone; `ladder` selects the ladder's alone); the sweep and the ladder run only if their input is selected.
    #[arg(long)]
    only: Option<String>,
    /// Skip the >= 2 GB streaming run (peak RSS of split and merge).
    #[arg(long)]
    skip_streaming: bool,
    /// Skip the real-world sources (one key frame, HDR tone mapping, deinterlacing).
    #[arg(long)]
    skip_real_world: bool,
    /// Skip the adaptive-bitrate ladder (pipeline `abr` against one ffmpeg making every rung).
    #[arg(long)]
    skip_ladder: bool,
    /// Skip the seed recipe with each container's default codecs.
    #[arg(long)]
    skip_seed_default: bool,
    /// Cold-start trials per handler.
    #[arg(long)]
    trials: Option<usize>,
}

struct Plan {
    inputs: Vec<InputSpec>,
    sweep_input: String,
    sweep: Vec<f64>,
    trials: usize,
    /// Streaming run: a chunk made once, stream-copied until the file is this big.
    stream_min_bytes: u64,
    stream_chunk: InputSpec,
    /// A screen recording: one key frame, pieces of its piece length.
    sparse: InputSpec,
    /// Size of the HDR and interlaced sources for the conversions' cost.
    conversions: real_world::Sizes,
    /// The adaptive-bitrate ladder's source.
    ladder: InputSpec,
    /// The short clip's (the input named `short...`) second piece length:
    /// its own is s.yaml's, which leaves one piece.
    short_pieces: f64,
}

fn plan(smoke: bool) -> Plan {
    if smoke {
        let mut chunk = InputSpec::new("stream-chunk-smoke", 320, 240, 1.0, 1.0);
        chunk.noise = 60;
        chunk.source_crf = 0;
        Plan {
            inputs: vec![
                InputSpec::new("smoke240p6s", 424, 240, 6.0, 2.0),
                InputSpec::new("short-smoke240p4s", 424, 240, 4.0, 30.0),
            ],
            sweep_input: "smoke240p6s".into(),
            sweep: vec![2.0, 3.0],
            trials: 2,
            stream_min_bytes: 5_000_000,
            stream_chunk: chunk,
            sparse: InputSpec {
                source_keyint: Some(100_000),
                ..InputSpec::new("sparse-smoke", 320, 240, 6.0, 2.0)
            },
            conversions: real_world::Sizes {
                width: 320,
                height: 240,
                seconds: 1.0,
            },
            // Two rungs (360p, 234p): the split and every rung's path run.
            ladder: InputSpec::new("ladder-smoke360p6s", 640, 360, 6.0, 2.0),
            short_pieces: 2.0,
        }
    } else {
        let mut chunk = InputSpec::new("stream-chunk", 1280, 720, 4.0, 10.0);
        chunk.noise = 60;
        chunk.source_crf = 0;
        Plan {
            inputs: vec![
                // A short job: s.yaml's 30 s pieces, so one piece, as a
                // user's upload gets it.
                InputSpec::new("short1080p12s", 1920, 1080, 12.0, 30.0),
                // Piece length: s.yaml's default 30 s, or half the video when
                // that would leave one piece (both workers busy, chunking used).
                InputSpec::new("in1080p30s", 1920, 1080, 30.0, 15.0),
                InputSpec::new("in720p120s", 1280, 720, 120.0, 30.0),
                InputSpec::new("in2160p10s", 3840, 2160, 10.0, 5.0),
            ],
            sweep_input: "in720p120s".into(),
            sweep: vec![5.0, 10.0, 15.0, 25.0, 45.0],
            trials: 10,
            // "At least 2 GB" whichever GB is meant.
            stream_min_bytes: 2_200_000_000,
            stream_chunk: chunk,
            sparse: InputSpec {
                source_keyint: Some(100_000),
                ..InputSpec::new("sparse720p60s", 1280, 720, 60.0, 10.0)
            },
            conversions: real_world::Sizes {
                width: 1920,
                height: 1080,
                seconds: 10.0,
            },
            // The default ladder gives 1080p, 720p, 540p, 360p and 234p;
            // half the video a piece, as the 1080p input above.
            ladder: InputSpec::new("ladder1080p20s", 1920, 1080, 20.0, 10.0),
            short_pieces: 6.0,
        }
    }
}

struct Bench {
    cli: Cli,
    rt: tokio::runtime::Runtime,
    tools: vpf_media::Tools,
    work: PathBuf,
    bin_dir: PathBuf,
    gate: Gate,
    profile: Profile,
    cores: u32,
    results: Results,
    started: Instant,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vpf-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> R<ExitCode> {
    let started = Instant::now();
    let plan = plan(cli.smoke);
    let tools = vpf_media::Tools::from_env();
    // Absolute paths: concat lists and the handlers (which run in their code
    // folder) must find the files whatever the working directory.
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let work = abs(&cli.work.clone().unwrap_or_else(|| cli.out.join("work")))?;
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let bin_dir = match &cli.bin_dir {
        Some(d) => abs(d)?,
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
            .ok_or("cannot tell where this program is; pass --bin-dir")?,
    };
    for h in HANDLERS {
        if !bin_dir.join(h).is_file() {
            return Err(format!(
                "{} is missing: build first (scripts/bench.sh runs cargo build --release --locked --workspace --bins)",
                bin_dir.join(h).display()
            ));
        }
    }
    if !cli.s_yaml.is_file() {
        return Err(format!(
            "{} not found: run from the repository root or pass --s-yaml",
            cli.s_yaml.display()
        ));
    }
    let repo = cli
        .s_yaml
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2);
    let profile = Profile::default();
    let machine = Machine::read(&tools.ffmpeg, &repo);
    let command = std::iter::once("scripts/bench.sh".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let results = Results {
        smoke: cli.smoke,
        machine,
        settings: Settings {
            profile: profile.clone(),
            gop_seconds: vpf_media::KEYFRAME_SECONDS,
            // Filled from the first pipeline run (the runner's default).
            concurrency: 0,
            formats_one: "mp4".into(),
            formats_three: "mp4,flv,hls".into(),
            hls_segment_seconds: vpf_media::HLS_SEGMENT_SECONDS,
            max_load: cli.max_load,
            command,
        },
        inputs: Vec::new(),
        sweep: None,
        cold_starts: Vec::new(),
        streaming: None,
        ladder: None,
        scale_out: None,
        real_world: Default::default(),
        gates: Vec::new(),
        targets: Vec::new(),
        total_s: 0.0,
        errors: Vec::new(),
    };
    let gate = Gate::new(
        cli.max_load,
        Duration::from_secs(cli.max_wait_total),
        !(cli.no_wait || cli.smoke),
    );
    let mut b = Bench {
        rt: tokio::runtime::Runtime::new().map_err(|e| e.to_string())?,
        tools,
        work,
        bin_dir,
        gate,
        profile,
        cores,
        results,
        started,
        cli,
    };
    b.inputs(&plan)?;
    b.sweep(&plan);
    b.cold_starts(&plan);
    if !b.cli.skip_ladder {
        b.ladder(&plan);
    }
    b.scale_out();
    if !b.cli.skip_real_world {
        b.real_world(&plan);
    }
    if !b.cli.skip_streaming {
        b.streaming(&plan);
    }
    b.save()?;
    eprint!("{}", report::markdown(&b.results));
    eprintln!(
        "results: {} and {}",
        b.cli.out.join("results.json").display(),
        b.cli.out.join("results.md").display()
    );
    Ok(
        if b.results.errors.is_empty()
            && b.results.inputs.iter().all(|i| i.errors.is_empty())
            && b.results
                .ladder
                .as_ref()
                .is_none_or(|l| l.errors.is_empty())
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

impl Bench {
    fn save(&mut self) -> R<()> {
        // What the runner ran with: its default for this machine.
        let r = &self.results;
        let tasks = r
            .inputs
            .iter()
            .flat_map(|i| [&i.pipeline_one, &i.pipeline_three])
            .find_map(|o| o.as_ref().map(|o| o.run.map_tasks))
            .or_else(|| {
                r.ladder
                    .as_ref()
                    .and_then(|l| l.pipeline.as_ref().map(|p| p.run.map_tasks))
            })
            .unwrap_or(0);
        self.results.settings.concurrency = tasks;
        self.results.gates = self.gate.records.clone();
        self.results.total_s = self.started.elapsed().as_secs_f64();
        self.results.targets = report::targets(&self.results);
        std::fs::create_dir_all(&self.cli.out).map_err(|e| e.to_string())?;
        let json = serde_json::to_vec_pretty(&self.results).map_err(|e| e.to_string())?;
        std::fs::write(self.cli.out.join("results.json"), json).map_err(|e| e.to_string())?;
        std::fs::write(
            self.cli.out.join("results.md"),
            report::markdown(&self.results),
        )
        .map_err(|e| e.to_string())
    }

    fn selected(&self, name: &str) -> bool {
        self.cli.only.as_deref().is_none_or(|o| name.contains(o))
    }

    fn pipeline_cfg(&self, label: &str, formats: &str, seconds: f64) -> pipeline::Config {
        pipeline::Config {
            s_yaml: self.cli.s_yaml.clone(),
            bin_dir: self.bin_dir.clone(),
            state_dir: self.work.join(format!("state-{label}")),
            formats: formats.into(),
            segment_seconds: seconds,
            vars: Vec::new(),
            concurrency: None,
            keep_mp4: None,
            keep_abr: None,
            timeout: Duration::from_secs(3600),
        }
    }

    fn quality_of(
        &self,
        out: Option<&Path>,
        src: &Path,
    ) -> (Option<Facts>, Option<media::Quality>) {
        let Some(out) = out else { return (None, None) };
        let facts = media::facts(&self.tools.ffprobe, out).ok();
        let q = media::quality(&self.tools.ffmpeg, out, src, self.results.machine.libvmaf);
        if let Err(e) = &q {
            eprintln!("  quality of {}: {e}", out.display());
        }
        (facts, q.ok())
    }

    fn inputs(&mut self, plan: &Plan) -> R<()> {
        for spec in &plan.inputs {
            if !self.selected(&spec.name) {
                continue;
            }
            eprintln!(
                "== {} ({}x{}, {} s)",
                spec.label(),
                spec.width,
                spec.height,
                spec.seconds
            );
            let src = media::generate(&self.tools.ffmpeg, spec, &self.work)?;
            let source = media::facts(&self.tools.ffprobe, &src)?;
            let short = spec.name.starts_with(report::SHORT);
            let mut ir = InputResult {
                spec: spec.clone(),
                source,
                floor: None,
                floor_forced_gop: None,
                pipeline_one: None,
                pipeline_three: None,
                pipeline_short_pieces: None,
                short_piece_seconds: short.then_some(plan.short_pieces),
                seed_x264: None,
                seed_default: None,
                errors: Vec::new(),
            };
            let dir = self.work.join(&spec.name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            // The pipeline's 2 s grid for this source, as vpf-media computes it:
            // (a') and the seed recipe use it.
            let gop = self
                .rt
                .block_on(vpf_media::probe(&self.tools, &src))
                .map_err(|e| e.to_string())?
                .video
                .as_ref()
                .map(vpf_media::keyframe_interval)
                .ok_or_else(|| format!("{} has no video stream", src.display()))?;

            // (a) the floor: key frames where x264 puts them; (a') forced
            // 2 s GOP, on the short clip only (cheap there).
            let floor_out = dir.join("floor.mp4");
            let forced_out = dir.join("floor-forced-gop.mp4");
            let ffmpeg = self.tools.ffmpeg.clone();
            let floors = [(None, &floor_out, "(a)")]
                .into_iter()
                .chain(short.then_some((Some(gop), &forced_out, "(a')")));
            for (g, out, name) in floors {
                let floor_args = media::floor_args(&src, out, &self.profile, g);
                match least_disturbed(
                    &mut self.gate,
                    &format!("{} floor {name}", spec.name),
                    || {
                        let m = Meter::start();
                        media::run_tool(&ffmpeg, &floor_args).map(|_| m.stop())
                    },
                    |u| u,
                ) {
                    Ok((u, runs)) => {
                        eprintln!(
                            "  {name} floor {:.1} s wall, {:.1} s CPU",
                            u.wall_s, u.cpu_s
                        );
                        let slot = match g {
                            None => &mut ir.floor,
                            Some(_) => &mut ir.floor_forced_gop,
                        };
                        *slot = Some(Output::new(u, runs));
                    }
                    Err(e) => ir.errors.push(format!("floor {name}: {e}")),
                }
            }

            // (b) the pipeline, 1 and 3 formats; the short clip also with
            // shorter pieces.
            let mut runs = vec![
                (0, "mp4", spec.piece_seconds),
                (1, "mp4,flv,hls", spec.piece_seconds),
            ];
            if short {
                runs.push((2, "mp4", plan.short_pieces));
            }
            for (which, formats, piece_seconds) in runs {
                let three = which == 1;
                let mut cfg = self.pipeline_cfg(&spec.name, formats, piece_seconds);
                // The short clip compares every run's MP4 with (a).
                if !three || short {
                    cfg.keep_mp4 = Some(dir.join(format!("pipeline-{which}.mp4")));
                }
                let rt = &self.rt;
                match least_disturbed(
                    &mut self.gate,
                    &format!("{} pipeline {formats}", spec.name),
                    || succeeded(rt.block_on(pipeline::run(&cfg, &src))),
                    |r| &r.usage,
                ) {
                    Ok((run, runs)) => {
                        eprintln!(
                            "  (b) {formats}: {:.1} s wall, {:.1} s CPU, {} pieces",
                            run.wall_s, run.usage.cpu_s, run.pieces
                        );
                        if let Some(f) = report::fixed_cost(&run) {
                            eprintln!(
                                "      fixed cost {:.2} s (encode {:.2} s): trigger {:.2}, download {:.2}, probe {:.2}, cut {:.2}, Split hop {:.2}, Map hop {:.2}, join {:.2}, package {:.2}, upload {:.2}, Merge hop {:.2}, AfterProcess {:.2}",
                                f.total,
                                f.encode,
                                f.trigger,
                                f.download,
                                f.probe,
                                f.cut,
                                f.split_hop,
                                f.transcode_hop,
                                f.join,
                                f.package,
                                f.upload,
                                f.merge_hop,
                                f.after
                            );
                        }
                        if run.profile.as_ref().is_some_and(|p| p != &self.profile) {
                            ir.errors.push(format!(
                                "the pipeline ran with {:?}, the floor with {:?}: s.yaml's crf/preset differ from Profile::default()",
                                run.profile, self.profile
                            ));
                        }
                        let out = Some(Output::new(run, runs));
                        match which {
                            0 => ir.pipeline_one = out,
                            1 => ir.pipeline_three = out,
                            _ => ir.pipeline_short_pieces = out,
                        }
                    }
                    Err(e) => ir.errors.push(format!("pipeline {formats}: {e}")),
                }
            }

            // (c) the seed recipe
            let formats = [Format::Mp4, Format::Flv, Format::Hls];
            // The short clip measures the pipeline against (a) alone.
            let mut codecs = match short {
                true => vec![],
                false => vec![Codecs::X264],
            };
            if !self.cli.skip_seed_default && !short {
                codecs.push(Codecs::Default);
            }
            for c in codecs {
                let sdir = dir.join(format!("seed-{c:?}").to_lowercase());
                let (profile, workers) = (&self.profile, self.cores as usize);
                match least_disturbed(
                    &mut self.gate,
                    &format!("{} seed {c:?}", spec.name),
                    || {
                        seed::run(
                            &ffmpeg,
                            &src,
                            &sdir,
                            &formats,
                            spec.piece_seconds,
                            workers,
                            c,
                            profile,
                            gop,
                        )
                    },
                    |r| &r.usage,
                ) {
                    Ok((run, runs)) => {
                        eprintln!(
                            "  (c) seed {c:?}: {:.1} s wall, {:.1} s CPU, {} pieces",
                            run.usage.wall_s, run.usage.cpu_s, run.pieces
                        );
                        let out = Output::new(run, runs);
                        match c {
                            Codecs::X264 => ir.seed_x264 = Some(out),
                            Codecs::Default => ir.seed_default = Some(out),
                        }
                    }
                    Err(e) => ir.errors.push(format!("seed {c:?}: {e}")),
                }
            }

            // (d) quality, after the timed runs (not timed itself)
            eprintln!("  quality...");
            for (slot, out) in [
                (&mut ir.floor, &floor_out),
                (&mut ir.floor_forced_gop, &forced_out),
            ] {
                if let Some(f) = slot.as_mut() {
                    (f.facts, f.quality) = self.quality_of(Some(out), &src);
                    if short {
                        self.video_bytes(&mut f.facts, out);
                    }
                }
            }
            for slot in [
                &mut ir.pipeline_one,
                &mut ir.pipeline_three,
                &mut ir.pipeline_short_pieces,
            ] {
                if let Some(o) = slot.take() {
                    let (mut f, q) = self.quality_of(o.run.mp4.as_deref(), &src);
                    if let (true, Some(mp4)) = (short, o.run.mp4.as_deref()) {
                        self.video_bytes(&mut f, mp4);
                    }
                    *slot = Some(Output {
                        facts: f,
                        quality: q,
                        ..o
                    });
                }
            }
            for slot in [&mut ir.seed_x264, &mut ir.seed_default] {
                if let Some(o) = slot.take() {
                    let (f, q) = self.quality_of(o.run.mp4.as_deref(), &src);
                    *slot = Some(Output {
                        facts: f,
                        quality: q,
                        ..o
                    });
                }
            }
            for e in &ir.errors {
                eprintln!("  error: {e}");
            }
            self.results.inputs.push(ir);
            // Outputs are not needed any more; the input is kept for reruns.
            let _ = std::fs::remove_dir_all(&dir);
            self.save()?;
        }
        Ok(())
    }

    fn sweep(&mut self, plan: &Plan) {
        let Some(spec) = plan
            .inputs
            .iter()
            .find(|s| s.name == plan.sweep_input)
            .cloned()
        else {
            return;
        };
        if !self.selected(&spec.name) {
            return;
        }
        eprintln!("== piece-length sweep on {}", spec.label());
        let src = self.work.join(spec.file_name());
        let dir = self.work.join("sweep");
        let _ = std::fs::create_dir_all(&dir);
        let base = self
            .results
            .inputs
            .iter()
            .find(|i| i.spec.name == spec.name)
            .cloned();
        let mut sweep = Sweep {
            input: spec.label(),
            formats: "mp4".into(),
            floor_wall_s: base.as_ref().and_then(|b| b.floor_wall()),
            floor_psnr_y: base
                .as_ref()
                .and_then(|b| b.floor.as_ref())
                .and_then(|f| f.quality.as_ref())
                .and_then(|q| q.psnr_y),
            points: Vec::new(),
        };
        for &secs in &plan.sweep {
            // The (b) run at the input's own piece length is one of the points.
            if let Some(b) = base
                .as_ref()
                .filter(|_| secs == spec.piece_seconds)
                .and_then(|b| b.pipeline_one.clone())
            {
                sweep.points.push(SweepPoint {
                    piece_seconds: secs,
                    out: b,
                });
                continue;
            }
            let mut cfg = self.pipeline_cfg("sweep", "mp4", secs);
            let keep = dir.join(format!("p{secs}.mp4"));
            cfg.keep_mp4 = Some(keep.clone());
            let rt = &self.rt;
            match least_disturbed(
                &mut self.gate,
                &format!("sweep {secs} s"),
                || succeeded(rt.block_on(pipeline::run(&cfg, &src))),
                |r| &r.usage,
            ) {
                Ok((run, runs)) => {
                    eprintln!(
                        "  {secs} s: {} pieces, {:.1} s wall, {:.1} s CPU",
                        run.pieces, run.wall_s, run.usage.cpu_s
                    );
                    let (f, q) = self.quality_of(Some(&keep), &src);
                    let _ = std::fs::remove_file(&keep);
                    sweep.points.push(SweepPoint {
                        piece_seconds: secs,
                        out: Output {
                            facts: f,
                            quality: q,
                            ..Output::new(run, runs)
                        },
                    });
                }
                Err(e) => self.results.errors.push(format!("sweep {secs} s: {e}")),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        self.results.sweep = Some(sweep);
        let _ = self.save();
    }

    fn real_world(&mut self, plan: &Plan) {
        eprintln!("== real-world sources");
        let spec = &plan.sparse;
        match self.sparse(spec) {
            Ok(s) => {
                eprintln!(
                    "  one key frame in {} s: floor {:.1} s wall / {:.1} s CPU; pipeline {} pieces, {:.1} s wall / {:.1} s CPU",
                    spec.seconds,
                    s.floor.wall_s,
                    s.floor.cpu_s,
                    s.pipeline.pieces,
                    s.pipeline.wall_s,
                    s.pipeline.usage.cpu_s
                );
                self.results.real_world.sparse = Some(s);
            }
            Err(e) => self.results.errors.push(format!("sparse key frames: {e}")),
        }
        let dir = self.work.join("conversions");
        let _ = std::fs::create_dir_all(&dir);
        let sources = [
            (
                "HDR tone mapping (HLG)",
                real_world::make_hlg(&self.tools.ffmpeg, &plan.conversions, &self.work),
            ),
            (
                "deinterlacing (bwdif)",
                real_world::make_interlaced(&self.tools.ffmpeg, &plan.conversions, &self.work),
            ),
        ];
        for (name, src) in sources {
            let measured = src.and_then(|src| {
                self.gate.wait(name);
                self.rt.block_on(real_world::filter_cost(
                    &self.tools,
                    name,
                    &src,
                    &self.profile,
                    &dir,
                ))
            });
            match measured {
                Ok(c) => {
                    eprintln!(
                        "  {name}: {:.1} s CPU plain, {:.1} s CPU converted",
                        c.plain.cpu_s, c.converted.cpu_s
                    );
                    self.results.real_world.filters.push(c);
                }
                Err(e) => self.results.errors.push(format!("{name}: {e}")),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let _ = self.save();
    }

    fn sparse(&mut self, spec: &InputSpec) -> R<real_world::Sparse> {
        let src = media::generate(&self.tools.ffmpeg, spec, &self.work)?;
        let dir = self.work.join(&spec.name);
        let _ = std::fs::create_dir_all(&dir);
        let floor_out = dir.join("floor.mp4");
        let floor_args = media::floor_args(&src, &floor_out, &self.profile, None);
        let ffmpeg = self.tools.ffmpeg.clone();
        let (floor, _) = least_disturbed(
            &mut self.gate,
            &format!("{} floor", spec.name),
            || {
                let m = Meter::start();
                media::run_tool(&ffmpeg, &floor_args).map(|_| m.stop())
            },
            |u| u,
        )?;
        let cfg = self.pipeline_cfg(&spec.name, "mp4", spec.piece_seconds);
        let rt = &self.rt;
        let (pipeline, _) = least_disturbed(
            &mut self.gate,
            &format!("{} pipeline", spec.name),
            || succeeded(rt.block_on(pipeline::run(&cfg, &src))),
            |r| &r.usage,
        )?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(real_world::Sparse {
            input: spec.label(),
            seconds: spec.seconds,
            piece_seconds: spec.piece_seconds,
            floor,
            pipeline,
        })
    }

    fn ladder(&mut self, plan: &Plan) {
        let spec = plan.ladder.clone();
        if !self.selected(&spec.name) {
            return;
        }
        eprintln!(
            "== adaptive-bitrate ladder on {} ({}x{})",
            spec.label(),
            spec.width,
            spec.height
        );
        match self.ladder_run(&spec) {
            Ok(l) => {
                for e in &l.errors {
                    eprintln!("  error: {e}");
                }
                self.results.ladder = Some(l);
            }
            Err(e) => self.results.errors.push(format!("ladder: {e}")),
        }
        let _ = std::fs::remove_dir_all(self.work.join(&spec.name));
        let _ = self.save();
    }

    fn ladder_run(&mut self, spec: &InputSpec) -> R<LadderResult> {
        let src = media::generate(&self.tools.ffmpeg, spec, &self.work)?;
        let source = media::facts(&self.tools.ffprobe, &src)?;
        let info = self
            .rt
            .block_on(vpf_media::probe(&self.tools, &src))
            .map_err(|e| e.to_string())?;
        // What split plans for a job asking for `abr` with this profile.
        let renditions = info.renditions_for(&[Format::Abr], &self.profile);
        if renditions.is_empty() {
            return Err("the ladder plans no rendition for the source".into());
        }
        eprintln!(
            "  rungs: {}",
            renditions
                .iter()
                .map(|r| format!("{} ({}x{} ≤ {} kbit/s)", r.name, r.width, r.height, r.kbps))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let dir = self.work.join(&spec.name);
        let _ = std::fs::remove_dir_all(&dir);
        let (a2_dir, a3_dir, ours_dir) = (dir.join("a2"), dir.join("a3"), dir.join("pipeline"));
        for d in [&a2_dir, &a3_dir] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let files = |d: &Path| -> Vec<PathBuf> {
            renditions
                .iter()
                .map(|r| d.join(format!("{}.mp4", r.name)))
                .collect()
        };
        let (a2_out, a3_out) = (files(&a2_dir), files(&a3_dir));
        let audio = info.audio_tracks.first().or(info.audio.as_ref()).is_some();
        let a2_audio = a2_dir.join("audio.mp4");
        let a3_audio = a3_dir.join("audio.mp4");
        let a2_args = ladder::floor_args(
            &src,
            &info,
            &self.profile,
            &renditions,
            &a2_out,
            audio.then_some(a2_audio.as_path()),
        )?;
        let a3_jobs = ladder::parallel_args(
            &src,
            &info,
            &self.profile,
            &renditions,
            &a3_out,
            audio.then_some(a3_audio.as_path()),
        )?;
        let mut l = LadderResult {
            spec: spec.clone(),
            source,
            renditions: renditions.clone(),
            floor: None,
            parallel: None,
            pipeline: None,
            rungs: Vec::new(),
            errors: Vec::new(),
        };
        let ffmpeg = self.tools.ffmpeg.clone();

        // (a2) one ffmpeg, one decode, every rung
        match least_disturbed(
            &mut self.gate,
            &format!("{} ladder (a2)", spec.name),
            || {
                let m = Meter::start();
                media::run_tool(&ffmpeg, &a2_args).map(|_| m.stop())
            },
            |u| u,
        ) {
            Ok((u, runs)) => {
                eprintln!(
                    "  (a2) one ffmpeg: {:.1} s wall, {:.1} s CPU",
                    u.wall_s, u.cpu_s
                );
                l.floor = Some(Timed { run: u, runs });
            }
            Err(e) => l.errors.push(format!("(a2): {e}")),
        }

        // (a3) one ffmpeg per rung, all at once
        match least_disturbed(
            &mut self.gate,
            &format!("{} ladder (a3)", spec.name),
            || {
                let m = Meter::start();
                seed::run_all(&ffmpeg, a3_jobs.clone(), a3_jobs.len()).map(|_| m.stop())
            },
            |u| u,
        ) {
            Ok((u, runs)) => {
                eprintln!(
                    "  (a3) {} ffmpeg at once: {:.1} s wall, {:.1} s CPU",
                    a3_jobs.len(),
                    u.wall_s,
                    u.cpu_s
                );
                l.parallel = Some(Timed { run: u, runs });
            }
            Err(e) => l.errors.push(format!("(a3): {e}")),
        }
        // Only (a2)'s files are compared.
        let _ = std::fs::remove_dir_all(&a3_dir);

        // The pipeline, abr
        let mut cfg = self.pipeline_cfg(&spec.name, "abr", spec.piece_seconds);
        cfg.keep_abr = Some(ours_dir.clone());
        let rt = &self.rt;
        match least_disturbed(
            &mut self.gate,
            &format!("{} pipeline abr", spec.name),
            || {
                let _ = std::fs::remove_dir_all(&ours_dir);
                succeeded(rt.block_on(pipeline::run(&cfg, &src)))
            },
            |r| &r.usage,
        ) {
            Ok((run, runs)) => {
                eprintln!(
                    "  pipeline abr: {:.1} s wall, {:.1} s CPU, {} pieces; {}",
                    run.wall_s,
                    run.usage.cpu_s,
                    run.pieces,
                    run.steps
                        .iter()
                        .map(|s| format!("{} {:.2} s", s.name, s.seconds))
                        .chain(
                            run.handler_steps
                                .iter()
                                .map(|s| format!("[{} {:.2} s]", s.name, s.seconds))
                        )
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if run.profile.as_ref().is_some_and(|p| p != &self.profile) {
                    l.errors.push(format!(
                        "the pipeline ran with {:?}, the floor with {:?}: s.yaml's crf/preset/ladder differ from Profile::default()",
                        run.profile, self.profile
                    ));
                }
                let got: Vec<(&str, u32, u32, u32)> = run
                    .renditions
                    .iter()
                    .map(|r| (r.name.as_str(), r.width, r.height, r.cap_kbps))
                    .collect();
                let want: Vec<(&str, u32, u32, u32)> = renditions
                    .iter()
                    .map(|r| (r.name.as_str(), r.width, r.height, r.kbps))
                    .collect();
                if got != want {
                    l.errors.push(format!(
                        "the pipeline made renditions {got:?}, the floor {want:?}"
                    ));
                }
                l.pipeline = Some(Timed { run, runs });
            }
            Err(e) => l.errors.push(format!("pipeline abr: {e}")),
        }

        // Quality and bytes per rung, after the timed runs (not timed itself)
        eprintln!("  quality per rung...");
        let secs = l.clip_seconds();
        for (r, a2_file) in renditions.iter().zip(&a2_out) {
            let manifest = l
                .pipeline
                .as_ref()
                .and_then(|p| p.run.renditions.iter().find(|o| o.name == r.name).cloned());
            let floor = match l.floor {
                Some(_) => self.rung_output(a2_file.as_os_str(), &src, r, secs),
                None => Ok(RungOutput::default()),
            };
            let ours = match l.pipeline {
                Some(_) => {
                    let rdir = ours_dir.join(&r.name);
                    let pl = rdir.join(vpf_media::abr::PLAYLIST);
                    std::fs::read_to_string(&pl)
                        .map_err(|e| format!("{}: {e}", pl.display()))
                        .and_then(|text| ladder::cmaf_concat(&rdir, &text))
                        .and_then(|url| self.rung_output(&url, &src, r, secs))
                }
                None => Ok(RungOutput::default()),
            };
            let mut keep = |o: R<RungOutput>, side: &str| {
                o.unwrap_or_else(|e| {
                    l.errors.push(format!("{} {side}: {e}", r.name));
                    RungOutput::default()
                })
            };
            let floor = keep(floor, "(a2)");
            let pipeline = keep(ours, "pipeline");
            eprintln!(
                "  {}: PSNR-Y (a2) {} dB, pipeline {} dB; video (a2) {} kbit/s, pipeline {} kbit/s (cap {})",
                r.name,
                fmt_opt(floor.quality.as_ref().and_then(|q| q.psnr_y), 2),
                fmt_opt(pipeline.quality.as_ref().and_then(|q| q.psnr_y), 2),
                fmt_opt(floor.video_kbps, 0),
                fmt_opt(pipeline.video_kbps, 0),
                r.kbps
            );
            l.rungs.push(LadderRung {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                cap_kbps: r.kbps,
                floor,
                pipeline,
                manifest,
            });
        }
        Ok(l)
    }

    /// The video stream's packet bytes into `facts` (an error is printed:
    /// the table shows "-").
    fn video_bytes(&self, facts: &mut Option<Facts>, file: &Path) {
        match ladder::video_packets(&self.tools.ffprobe, file.as_os_str()) {
            Ok((bytes, _)) => {
                if let Some(f) = facts.as_mut() {
                    f.video_bytes = Some(bytes);
                }
            }
            Err(e) => eprintln!("  video bytes of {}: {e}", file.display()),
        }
    }

    /// One rung's coded bytes and quality; `input` is a file or a `concat:` URL.
    fn rung_output(
        &self,
        input: &std::ffi::OsStr,
        src: &Path,
        r: &vpf_core::ladder::Rendition,
        secs: f64,
    ) -> R<RungOutput> {
        let (bytes, frames) = ladder::video_packets(&self.tools.ffprobe, input)?;
        let quality = ladder::rung_quality(&self.tools.ffmpeg, input, src, r.width, r.height)?;
        Ok(RungOutput {
            video_bytes: Some(bytes),
            video_frames: Some(frames),
            video_kbps: ladder::kbps(bytes, secs),
            quality: Some(quality),
        })
    }

    /// The scale-out table as a model (`scaleout`), fed by the 4K input's
    /// three-format run (split, merge and hop per second of video) and by
    /// x264's speed on one and on two cores of this machine on that source.
    fn scale_out(&mut self) {
        let Some(input) = self
            .results
            .inputs
            .iter()
            .find(|i| i.spec.height >= 2160 || (self.cli.smoke && i.pipeline_three.is_some()))
        else {
            return;
        };
        let Some(run) = input.pipeline_three.as_ref().map(|o| &o.run) else {
            return;
        };
        let seconds = input.spec.seconds.max(1e-3);
        let step = |name: &str| run.steps.iter().find(|s| s.name == name).map(|s| s.seconds);
        let handler = |name: &str| {
            run.handler_steps
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.seconds)
        };
        let (Some(split), Some(merge)) = (step("Split"), step("Merge")) else {
            return;
        };
        let hops: Vec<f64> = [("Split", "split"), ("Merge", "merge")]
            .iter()
            .filter_map(|(f, h)| Some((step(f)? - handler(h)?).max(0.0)))
            .collect();
        let hop = hops.iter().sum::<f64>() / hops.len().max(1) as f64;
        let src = self.work.join(format!("{}.mp4", input.spec.name));
        let take = seconds.min(4.0);
        let gop = self
            .rt
            .block_on(vpf_media::probe(&self.tools, &src))
            .ok()
            .and_then(|i| i.video.map(|v| vpf_media::keyframe_interval(&v)));
        let mut encode = |cores: &str| -> R<f64> {
            self.gate.wait(&format!("scale-out x264 on cores {cores}"));
            let out = self.work.join("scaleout.mp4");
            let mut a = media::floor_args(&src, &out, &self.profile, gop);
            let last = a.pop().unwrap_or_default();
            a.extend(["-t".into(), format!("{take:.3}").into(), last]);
            let started = Instant::now();
            let status = std::process::Command::new("taskset")
                .arg("-c")
                .arg(cores)
                .arg(&self.tools.ffmpeg)
                .args(&a)
                .status()
                .map_err(|e| format!("taskset: {e}"))?;
            let _ = std::fs::remove_file(&out);
            match status.success() {
                true => Ok(started.elapsed().as_secs_f64() / take),
                false => Err(format!("x264 on cores {cores} failed ({status})")),
            }
        };
        let (one, two) = match (encode("0"), encode("0,1")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                self.results.errors.push(format!("scale-out model: {e}"));
                return;
            }
        };
        let costs = vpf_bench::scaleout::Costs {
            encode_1core: one,
            encode_2core: two,
            split_per_second: (split - hop).max(0.0) / seconds,
            merge_per_second: (merge - hop).max(0.0) / seconds,
            hop,
        };
        let fc = vpf_bench::scaleout::Fc {
            vcpus: 4.0,
            concurrency: 10,
        };
        let rows = vpf_bench::scaleout::DOCUMENT_ROWS
            .iter()
            .map(|&(piece, _)| {
                vpf_bench::scaleout::predict(
                    &costs,
                    &fc,
                    vpf_bench::scaleout::DOCUMENT_SECONDS,
                    piece,
                )
            })
            .collect();
        self.results.scale_out = Some(report::ScaleOut {
            input: input.spec.label(),
            costs,
            fc,
            rows,
        });
    }

    fn cold_starts(&mut self, plan: &Plan) {
        eprintln!("== handler cold starts");
        let trials = self.cli.trials.unwrap_or(plan.trials);
        let nas = self.work.join("nas-cold");
        let _ = std::fs::create_dir_all(&nas);
        self.gate.wait("cold starts");
        for h in HANDLERS {
            match handlers::measure(&self.bin_dir, h, trials, &nas) {
                Ok(c) => {
                    eprintln!(
                        "  {h}: ready {:.1} ms (median), idle RSS {:.1} MB",
                        c.median_ms(),
                        c.median_rss_kb() / 1024.0
                    );
                    self.results.cold_starts.push(c);
                }
                Err(e) => self.results.errors.push(format!("cold start of {h}: {e}")),
            }
        }
        let _ = std::fs::remove_dir_all(&nas);
        let _ = self.save();
    }

    fn streaming(&mut self, plan: &Plan) {
        eprintln!("== streaming a large source (peak RSS of split and merge)");
        match self.streaming_run(plan) {
            Ok(s) => {
                eprintln!(
                    "  {:.2} GB: peak RSS {:?} kB",
                    s.source_bytes as f64 / 1e9,
                    s.run.peak_rss_kb
                );
                self.results.streaming = Some(s);
            }
            Err(e) => self.results.errors.push(format!("streaming run: {e}")),
        }
        let _ = self.save();
    }

    /// A source of at least `stream_min_bytes`, made cheaply: one short
    /// lossless chunk of heavy noise (incompressible, so about raw size),
    /// stream-copied end to end as many times as needed into one valid MP4.
    /// The pipeline then runs with CRF 0 / ultrafast, so the merged output
    /// is as large as the source and merge streams it up too.
    fn streaming_run(&mut self, plan: &Plan) -> R<Streaming> {
        let m = Meter::start();
        let chunk = media::generate(&self.tools.ffmpeg, &plan.stream_chunk, &self.work)?;
        let chunk_bytes = std::fs::metadata(&chunk)
            .map_err(|e| e.to_string())?
            .len()
            .max(1);
        let copies = plan.stream_min_bytes.div_ceil(chunk_bytes).max(1);
        let dir = self.work.join("stream");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // Video only: joining the chunk with its audio would start the video
        // 21 ms after the audio (each copy's AAC priming); one fresh audio
        // track is laid over the joined video instead.
        let video = dir.join("chunk-video.mp4");
        let mut a = media::quiet_ffmpeg();
        a.extend(vpf_bench::args![
            "-i", &chunk, "-map", "0:v:0", "-c", "copy", &video
        ]);
        media::run_tool(&self.tools.ffmpeg, &a)?;
        let list = dir.join("list.ffconcat");
        std::fs::write(&list, seed::concat_list(&vec![video; copies as usize]))
            .map_err(|e| e.to_string())?;
        let big = dir.join("large.mp4");
        let mut a = media::quiet_ffmpeg();
        a.extend(vpf_bench::args![
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            &list,
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=0.4*sin(440*2*PI*t)|0.4*sin(660*2*PI*t):s=48000",
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            &big
        ]);
        media::run_tool(&self.tools.ffmpeg, &a)?;
        let generate_s = m.stop().wall_s;
        let source_bytes = std::fs::metadata(&big).map_err(|e| e.to_string())?.len();
        if source_bytes < plan.stream_min_bytes {
            return Err(format!("made only {source_bytes} bytes"));
        }
        let mut cfg = self.pipeline_cfg("stream", "mp4", plan.stream_chunk.piece_seconds);
        cfg.vars = vec![
            ("crf".into(), "0".into()),
            ("preset".into(), "ultrafast".into()),
        ];
        let spec = &plan.stream_chunk;
        let settings = format!(
            "{}x{} noise, lossless x264, {} copies of a {:.0} MB chunk; pipeline with CRF 0 / ultrafast, mp4, {} s pieces",
            spec.width,
            spec.height,
            copies,
            chunk_bytes as f64 / 1e6,
            spec.piece_seconds
        );
        let run: R<PipelineRun> = self.rt.block_on(pipeline::run(&cfg, &big));
        let _ = std::fs::remove_dir_all(&dir);
        let run = succeeded(run)?;
        Ok(Streaming {
            source_bytes,
            generate_s,
            settings,
            run,
        })
    }
}

/// Run a measured step after the gate; while the best run so far lost more
/// than `DISTURBED` cores to the rest of the machine (others' work plus the
/// hypervisor's steal, on average), run it again once the machine is quiet
/// (up to `RETRIES` more times) and keep the least disturbed. Returns it and
/// the number of runs. An error ends it at once.
fn least_disturbed<T>(
    gate: &mut Gate,
    step: &str,
    mut run: impl FnMut() -> R<T>,
    usage: impl Fn(&T) -> &vpf_bench::meter::Usage,
) -> R<(T, u32)> {
    let mut best: Option<T> = None;
    let mut runs = 0;
    loop {
        gate.wait(step);
        runs += 1;
        let t = run()?;
        let d = usage(&t).disturbance();
        if best.as_ref().is_none_or(|b| d < usage(b).disturbance()) {
            best = Some(t);
        }
        let least = best.as_ref().map(|b| usage(b).disturbance()).unwrap_or(0.0);
        if least <= DISTURBED || runs > RETRIES {
            break;
        }
        eprintln!("  {step}: disturbed ({d:.2} cores taken by others); running it again");
    }
    best.map(|b| (b, runs))
        .ok_or_else(|| format!("{step}: no run"))
}

/// A pipeline run that did not succeed is an error of the benchmark.
fn succeeded(r: R<PipelineRun>) -> R<PipelineRun> {
    let run = r?;
    if run.status != RunStatus::Succeeded {
        return Err(format!(
            "the job {}: {}",
            run.status,
            run.error.clone().unwrap_or_default()
        ));
    }
    Ok(run)
}

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}
