//! Everything one run measured (results.json) and its tables (results.md).

use std::fmt::Write as _;

use serde::Serialize;
use vpf_core::job::Profile;

use crate::handlers::ColdStart;
use crate::media::{Facts, InputSpec, Quality};
use crate::meter::{GateRecord, Usage};

/// Shown in the notes; the bench binary applies them.
pub const DISTURBED: f64 = 0.25;
pub const RETRIES: u32 = 2;
use crate::pipeline::PipelineRun;
use crate::procfs::Machine;
use crate::real_world::RealWorld;
use crate::seed::SeedRun;
use vpf_core::ladder::{Rendition, RenditionOutcome};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub profile: Profile,
    pub gop_seconds: f64,
    /// Pieces (and seed tasks) at once.
    pub concurrency: u32,
    pub formats_one: String,
    pub formats_three: String,
    pub hls_segment_seconds: u32,
    pub max_load: f64,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output<T> {
    pub run: T,
    pub facts: Option<Facts>,
    pub quality: Option<Quality>,
    /// Runs it took to get one the rest of the machine did not disturb.
    pub runs: u32,
}

impl<T> Output<T> {
    pub fn new(run: T, runs: u32) -> Output<T> {
        Output {
            run,
            facts: None,
            quality: None,
            runs,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputResult {
    pub spec: InputSpec,
    pub source: Facts,
    /// (a) one plain encode, key frames where x264 puts them.
    pub floor: Option<Output<Usage>>,
    /// (a') the same with the pipeline's forced 2 s closed GOP (short clip only).
    pub floor_forced_gop: Option<Output<Usage>>,
    pub pipeline_one: Option<Output<PipelineRun>>,
    pub pipeline_three: Option<Output<PipelineRun>>,
    /// Short clip: `mp4` with shorter pieces than s.yaml's (`short_piece_seconds`).
    pub pipeline_short_pieces: Option<Output<PipelineRun>>,
    pub short_piece_seconds: Option<f64>,
    pub seed_x264: Option<Output<SeedRun>>,
    pub seed_default: Option<Output<SeedRun>>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepPoint {
    pub piece_seconds: f64,
    pub out: Output<PipelineRun>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub input: String,
    pub formats: String,
    pub floor_wall_s: Option<f64>,
    pub floor_psnr_y: Option<f64>,
    pub points: Vec<SweepPoint>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Streaming {
    pub source_bytes: u64,
    pub generate_s: f64,
    pub settings: String,
    pub run: PipelineRun,
}

/// A measured run and how many runs it took to get one the rest of the
/// machine did not disturb.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timed<T> {
    pub run: T,
    pub runs: u32,
}

/// One rung's output on one side: its coded video and its quality.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RungOutput {
    /// The video packets' bytes (coded pictures, no container).
    pub video_bytes: Option<u64>,
    pub video_frames: Option<u64>,
    /// `video_bytes` over the clip's length.
    pub video_kbps: Option<f64>,
    /// Against the source scaled to the rung's size.
    pub quality: Option<Quality>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LadderRung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub cap_kbps: u32,
    /// (a2) the one-ffmpeg ladder.
    pub floor: RungOutput,
    /// The pipeline's rendition (its CMAF segments, read in order).
    pub pipeline: RungOutput,
    /// What the pipeline's manifest reports for it.
    pub manifest: Option<RenditionOutcome>,
}

/// The adaptive-bitrate ladder: the pipeline (`abr`) against one ffmpeg
/// making every rung from one decode (a2), and one ffmpeg per rung all at
/// once (a3).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LadderResult {
    pub spec: InputSpec,
    pub source: Facts,
    /// The rungs both sides encode (`Ladder::plan` on the probed source).
    pub renditions: Vec<Rendition>,
    pub floor: Option<Timed<Usage>>,
    pub parallel: Option<Timed<Usage>>,
    pub pipeline: Option<Timed<PipelineRun>>,
    pub rungs: Vec<LadderRung>,
    pub errors: Vec<String>,
}

impl LadderResult {
    /// Seconds of video the rates are averaged over.
    pub fn clip_seconds(&self) -> f64 {
        self.source.video_seconds.unwrap_or(self.spec.seconds)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub target: String,
    pub input: String,
    pub value: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub smoke: bool,
    pub machine: Machine,
    pub settings: Settings,
    pub inputs: Vec<InputResult>,
    pub sweep: Option<Sweep>,
    pub cold_starts: Vec<ColdStart>,
    pub streaming: Option<Streaming>,
    pub ladder: Option<LadderResult>,
    /// The scale-out table as a model (the 4K input feeds it).
    pub scale_out: Option<ScaleOut>,
    pub real_world: RealWorld,
    pub gates: Vec<GateRecord>,
    pub targets: Vec<Target>,
    pub total_s: f64,
    pub errors: Vec<String>,
}

/// The document's scale-out table beside our model of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleOut {
    /// The input whose run fed the model.
    pub input: String,
    pub costs: crate::scaleout::Costs,
    pub fc: crate::scaleout::Fc,
    pub rows: Vec<crate::scaleout::Row>,
}

fn scale_out_section(s: &mut String, so: &ScaleOut) {
    use crate::scaleout::{DOCUMENT_MANAGED, DOCUMENT_ROWS, DOCUMENT_SECONDS};
    let c = &so.costs;
    let _ = writeln!(
        s,
        "## Scale-out: the document's {DOCUMENT_SECONDS} s 4K source, as a model\n\n\
         A model, not a measurement (no machine with 16 or more cores here): FC instances of {} vCPUs, \
         {} pieces at once (`transcodeConcurrency`). Fed by {}: x264 takes {} s per second of 4K on one core \
         of this machine and {} s on two (so {} s on {} vCPUs, taking the one-to-two speed-up for each \
         further doubling); split {} s and merge (mp4, flv, hls) {} s per second of video; {} s per hop. \
         The document: managed service {DOCUMENT_MANAGED} s.\n",
        so.fc.vcpus,
        so.fc.concurrency,
        so.input,
        n2(c.encode_1core),
        n2(c.encode_2core),
        n2(c.encode_on(so.fc.vcpus)),
        so.fc.vcpus,
        n2(c.split_per_second),
        n2(c.merge_per_second),
        n2(c.hop),
    );
    let _ = writeln!(
        s,
        "| piece s | pieces | waves | split s | transcode s | merge s | model total s | document's FC workflow s |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &so.rows {
        let doc = DOCUMENT_ROWS
            .iter()
            .find(|(p, _)| (p - r.piece_seconds).abs() < 1e-9)
            .map(|(_, t)| n1(*t))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {doc} |",
            n1(r.piece_seconds),
            r.pieces,
            r.waves,
            n1(r.split),
            n1(r.transcode),
            n1(r.merge),
            n1(r.total)
        );
    }
    s.push('\n');
}

fn n1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "-".into()
    }
}
fn n2(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "-".into()
    }
}
fn o1(x: Option<f64>) -> String {
    x.map(n1).unwrap_or_else(|| "-".into())
}
fn o2(x: Option<f64>) -> String {
    x.map(n2).unwrap_or_else(|| "-".into())
}
fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

impl InputResult {
    pub fn floor_wall(&self) -> Option<f64> {
        self.floor.as_ref().map(|f| f.run.wall_s)
    }

    /// The short-clip input (its own table and targets).
    pub fn is_short(&self) -> bool {
        self.spec.name.starts_with(SHORT)
    }
}

/// Inputs named so are the short clip.
pub const SHORT: &str = "short";

/// What a pipeline run spent besides the encodes, from the flow states,
/// the manifest's handler times and the handlers' logged sub-steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedCost {
    /// From the source in OSS to the flow's first state, plus the engine's
    /// time after the last: the run's wall minus the states.
    pub trigger: f64,
    pub download: f64,
    pub probe: f64,
    pub cut: f64,
    /// The rest of split's handler (job folder, plan).
    pub split_rest: f64,
    /// Split's state minus its handler time.
    pub split_hop: f64,
    /// The Map state minus its longest task (pieces at most as many as run at once).
    pub transcode_hop: f64,
    /// The longest task of the Map: the encode on the critical path.
    pub encode: f64,
    pub join: f64,
    /// verify runs beside the packagers; `package` includes both.
    pub verify: f64,
    pub package: f64,
    pub upload: f64,
    pub merge_rest: f64,
    pub merge_hop: f64,
    /// after-process, state and handler.
    pub after: f64,
    /// The run's wall minus `encode`.
    pub total: f64,
}

/// The fixed-cost breakdown of a run; `None` without the logged sub-steps.
pub fn fixed_cost(r: &PipelineRun) -> Option<FixedCost> {
    let sub = |name: &str| -> f64 {
        r.sub_steps
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.seconds)
            .sum()
    };
    let longest = r
        .sub_steps
        .iter()
        .filter(|s| s.name == "encode" || s.name == "audio")
        .map(|s| s.seconds)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))?;
    let state = |n: &str| r.steps.iter().find(|s| s.name == n).map(|s| s.seconds);
    let handler = |n: &str| {
        r.handler_steps
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.seconds)
    };
    let (split_s, map_s, merge_s) = (state("Split")?, state("TranscodeAll")?, state("Merge")?);
    let after = state("AfterProcess").unwrap_or(0.0);
    let (split_h, merge_h) = (handler("split")?, handler("merge")?);
    let (download, probe, cut) = (sub("download"), sub("probe"), sub("cut"));
    let (join, package, upload) = (sub("join"), sub("package"), sub("upload"));
    Some(FixedCost {
        trigger: r.wall_s - (split_s + map_s + merge_s + after),
        download,
        probe,
        cut,
        split_rest: split_h - download - probe - cut,
        split_hop: split_s - split_h,
        transcode_hop: map_s - longest,
        encode: longest,
        join,
        verify: sub("verify"),
        package,
        upload,
        merge_rest: merge_h - join - package - upload,
        merge_hop: merge_s - merge_h,
        after,
        total: r.wall_s - longest,
    })
}

/// Check the targets against what was measured.
pub fn targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();
    for i in &r.inputs {
        let label = i.spec.label();
        let floor = i.floor_wall();
        let short = i.is_short();
        if let (Some(a), Some(b)) = (floor, &i.pipeline_one) {
            let x = ratio(b.run.wall_s, a);
            t.push(Target {
                target: "(b) 1 format within 1.10x of (a) wall (encoder's default GOP)".into(),
                input: label.clone(),
                value: format!("{x:.2}x"),
                met: x <= 1.10,
            });
        }
        let three = if short { 1.15 } else { 1.25 };
        if let (Some(a), Some(b)) = (floor, &i.pipeline_three) {
            let x = ratio(b.run.wall_s, a);
            t.push(Target {
                target: format!(
                    "(b) 3 formats within {three:.2}x of (a) wall (encoder's default GOP)"
                ),
                input: label.clone(),
                value: format!("{x:.2}x"),
                met: x <= three,
            });
        }
        if short {
            let bytes = |o: Option<&Facts>| o.and_then(|f| f.video_bytes).map(|b| b as f64);
            let fb = bytes(i.floor.as_ref().and_then(|f| f.facts.as_ref()));
            let pb = bytes(i.pipeline_one.as_ref().and_then(|f| f.facts.as_ref()));
            if let (Some(a), Some(b)) = (fb, pb) {
                let x = ratio(b, a);
                t.push(Target {
                    target: "(b) mp4 video bytes at most 1.03x of (a) (PSNR/SSIM in the short-clip table)".into(),
                    input: label.clone(),
                    value: format!("{x:.3}x"),
                    met: x <= 1.03,
                });
            }
            if let Some(f) = i.pipeline_one.as_ref().and_then(|o| fixed_cost(&o.run)) {
                t.push(Target {
                    target: "fixed cost per job (all but the encodes) under 0.5 s, mp4".into(),
                    input: label.clone(),
                    value: format!("{:.2} s", f.total),
                    met: f.total < 0.5,
                });
            }
        }
        if let Some(b) = &i.pipeline_three {
            for (name, c) in [
                ("same x264", &i.seed_x264),
                ("default codecs", &i.seed_default),
            ] {
                if let Some(c) = c {
                    let x = ratio(c.run.usage.wall_s, b.run.wall_s);
                    t.push(Target {
                        target: format!("(b) 3 formats ≥ 2.5x faster than (c) seed, {name}"),
                        input: label.clone(),
                        value: format!("{x:.2}x"),
                        met: x >= 2.5,
                    });
                }
            }
        }
        let psnr = |o: &Option<Output<_>>| -> Option<f64> {
            o.as_ref()
                .and_then(|x: &Output<PipelineRun>| x.quality.as_ref())
                .and_then(|q| q.psnr_y)
        };
        let floor_psnr = i
            .floor
            .as_ref()
            .and_then(|f| f.quality.as_ref())
            .and_then(|q| q.psnr_y);
        if let (Some(a), Some(b)) = (floor_psnr, psnr(&i.pipeline_one)) {
            t.push(Target {
                target: "PSNR-Y of (b) within 0.3 dB of (a)".into(),
                input: label.clone(),
                value: format!("{:+.2} dB", b - a),
                met: (b - a).abs() <= 0.3 || b > a,
            });
        }
    }
    for c in &r.cold_starts {
        let ms = c.median_ms();
        t.push(Target {
            target: "handler ready within 20 ms (median)".into(),
            input: c.function.clone(),
            value: format!("{ms:.1} ms"),
            met: ms <= 20.0,
        });
        let rss = c.median_rss_kb() / 1024.0;
        t.push(Target {
            target: "handler idle RSS under 15 MB".into(),
            input: c.function.clone(),
            value: format!("{rss:.1} MB"),
            met: rss < 15.0,
        });
    }
    if let Some(sp) = &r.real_world.sparse {
        let x = ratio(sp.pipeline.usage.cpu_s, sp.floor.cpu_s);
        t.push(Target {
            target: "one key frame: total CPU within 1.25x of one plain ffmpeg".into(),
            input: sp.input.clone(),
            value: format!("{x:.2}x"),
            met: x <= 1.25,
        });
        let want = (sp.seconds / sp.piece_seconds).ceil() as usize;
        t.push(Target {
            target: "one key frame: pieces of the requested length".into(),
            input: sp.input.clone(),
            value: format!("{} pieces (want {want})", sp.pipeline.pieces),
            met: sp.pipeline.pieces == want,
        });
    }
    if let Some(l) = &r.ladder {
        let label = l.spec.label();
        if let (Some(a), Some(b)) = (&l.floor, &l.pipeline) {
            let x = ratio(b.run.wall_s, a.run.wall_s);
            t.push(Target {
                target: "abr: pipeline within 1.15x of one ffmpeg ladder (a2) wall".into(),
                input: label.clone(),
                value: format!("{x:.2}x"),
                met: x <= 1.15,
            });
        }
        for g in &l.rungs {
            let psnr = |o: &RungOutput| o.quality.as_ref().and_then(|q| q.psnr_y);
            if let (Some(a), Some(b)) = (psnr(&g.floor), psnr(&g.pipeline)) {
                t.push(Target {
                    target: format!("abr {}: PSNR-Y within 0.3 dB of (a2)", g.name),
                    input: label.clone(),
                    value: format!("{:+.2} dB", b - a),
                    met: (b - a).abs() <= 0.3 || b > a,
                });
            }
        }
    }
    if let Some(s) = &r.streaming {
        for f in ["split", "merge"] {
            if let Some(kb) = s.run.peak_rss_kb.get(f) {
                let mbs = *kb as f64 / 1024.0;
                t.push(Target {
                    target: format!(
                        "{f} peak RSS under 64 MB streaming {:.2} GB",
                        s.source_bytes as f64 / 1e9
                    ),
                    input: f.into(),
                    value: format!("{mbs:.1} MB"),
                    met: mbs < 64.0,
                });
            }
        }
    }
    t
}

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let p = &r.settings.profile;
    let _ = writeln!(
        s,
        "# Benchmark{}\n",
        if r.smoke {
            " (smoke run: tiny inputs, figures mean nothing)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "- Machine: {} ({} cores), {:.1} GiB RAM, Linux {}; run {} at commit {}, {:.0} s in all.",
        m.cpu_model, m.cores, m.memory_gib, m.kernel, m.date, m.commit, r.total_s
    );
    let _ = writeln!(
        s,
        "- {}; VMAF: {}.",
        m.ffmpeg,
        if m.libvmaf {
            "libvmaf present"
        } else {
            "not in this ffmpeg build (no libvmaf), PSNR and SSIM only"
        }
    );
    let _ = writeln!(
        s,
        "- Encoder settings everywhere: libx264 CRF {} preset {}, yuv420p; AAC {} kbit/s; MP4 with faststart. \
Key frames: (a) and a job of downloads only (mp4, flv) leave them to x264; TS HLS at most every {} s; (a') forces a closed GOP of {} s. \
Pipeline: local runner in-process, release handlers, {} pieces at once (the runner's default here: \
cores / the largest function's vCPUs in s.yaml, at least one); formats `{}` and `{}` (HLS {} s segments).",
        p.crf,
        p.preset,
        p.audio_kbps,
        r.settings.gop_seconds,
        r.settings.gop_seconds,
        r.settings.concurrency,
        r.settings.formats_one,
        r.settings.formats_three,
        r.settings.hls_segment_seconds
    );
    let quiet = r.gates.iter().filter(|g| g.quiet).count();
    let _ = writeln!(
        s,
        "- Machine load (2 cores shared with other developers): each measured step waits for a quiet \
machine ({} of {} started quiet: 1-minute load or others' busy cores under {}); \"taken\" below is the CPU \
the rest of the machine (and the hypervisor's steal) took during the step, in cores; a step that lost \
more than {DISTURBED} cores is run again (up to {RETRIES} times) and the least disturbed run kept (\"runs\").",
        quiet,
        r.gates.len(),
        r.settings.max_load,
    );
    let _ = writeln!(
        s,
        "- (a) one plain `ffmpeg -i source -c:v libx264 -preset P -crf C -c:a aac out.mp4` encode of the whole file with \
the encoder's default GOP, as a user runs it; every ratio to \"the floor\" is to (a). (a') the same with the pipeline's forced 2 s GOP, short clip only. (b) the pipeline from the source \
being in OSS (the trigger fires) to the outputs in OSS and the manifest written; the client's upload \
is shown apart. (c) the seed's recipe: stream-copy split with audio, every piece re-encoded once per \
format ({} at once), concat-demuxer joins; \"same x264\" gives it our encoder settings, \"default \
codecs\" is its bare `ffmpeg -i piece out.<ext>` (libx264 preset medium for MP4, MPEG-2 in TS for HLS, FLV1 for FLV).",
        r.machine.cores
    );
    let _ = writeln!(s, "- Rerun: `{}`.\n", r.settings.command);

    let _ = writeln!(
        s,
        "## Speed: wall time (s), CPU time (s) and ratio to the floor\n"
    );
    let _ = writeln!(
        s,
        "| input | pieces | (a) one ffmpeg | (b) pipeline, mp4 | (b) pipeline, mp4+flv+hls | (c) seed recipe, same x264 | (c) seed recipe, default codecs | (c)/(b3) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for i in &r.inputs {
        let a = i.floor_wall().unwrap_or(f64::NAN);
        let taken = |u: &Usage, runs: u32| {
            let mut t = format!("taken {:.2}", u.disturbance());
            if runs > 1 {
                t.push_str(&format!(", {runs} runs"));
            }
            t
        };
        let cell = |wall: f64, u: &Usage, runs: u32| {
            format!(
                "{} / {} ({}x; {})",
                n1(wall),
                n1(u.cpu_s),
                n2(ratio(wall, a)),
                taken(u, runs)
            )
        };
        let floor = i
            .floor
            .as_ref()
            .map(|f| {
                format!(
                    "{} / {} ({})",
                    n1(f.run.wall_s),
                    n1(f.run.cpu_s),
                    taken(&f.run, f.runs)
                )
            })
            .unwrap_or_else(|| "-".into());
        let pipe = |o: &Option<Output<PipelineRun>>| {
            o.as_ref()
                .map(|o| cell(o.run.wall_s, &o.run.usage, o.runs))
                .unwrap_or_else(|| "-".into())
        };
        let seed = |o: &Option<Output<SeedRun>>| {
            o.as_ref()
                .map(|o| cell(o.run.usage.wall_s, &o.run.usage, o.runs))
                .unwrap_or_else(|| "-".into())
        };
        let b3 = i.pipeline_three.as_ref().map(|o| o.run.wall_s);
        let c_over_b = |o: &Option<Output<SeedRun>>| {
            o.as_ref()
                .zip(b3)
                .map(|(c, b)| n2(ratio(c.run.usage.wall_s, b)))
                .unwrap_or_else(|| "-".into())
        };
        let pieces = i
            .pipeline_one
            .as_ref()
            .map(|o| format!("{} × {} s", o.run.pieces, i.spec.piece_seconds))
            .unwrap_or_else(|| format!("{} s", i.spec.piece_seconds));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {}x / {}x |",
            i.spec.label(),
            pieces,
            floor,
            pipe(&i.pipeline_one),
            pipe(&i.pipeline_three),
            seed(&i.seed_x264),
            seed(&i.seed_default),
            c_over_b(&i.seed_x264),
            c_over_b(&i.seed_default)
        );
    }

    for i in r.inputs.iter().filter(|i| i.is_short()) {
        short_section(&mut s, i);
    }

    let _ = writeln!(s, "\n## Where the time goes (s)\n");
    let _ = writeln!(
        s,
        "Flow states as the engine timed them; in brackets the time inside the handlers \
(transcode: the sum over pieces, and the audio encoded once beside them; {} tasks run at once). \
Seed: its three phases.\n",
        r.settings.concurrency
    );
    let _ = writeln!(
        s,
        "| input | run | client upload (not counted) | Split | TranscodeAll | Merge | AfterProcess | total |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for i in &r.inputs {
        for (name, o) in [
            ("(b) mp4", &i.pipeline_one),
            ("(b) mp4+flv+hls", &i.pipeline_three),
        ] {
            let Some(o) = o else { continue };
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                i.spec.label(),
                name,
                step_cells(&o.run)
            );
        }
        for (name, o) in [
            ("(c) same x264", &i.seed_x264),
            ("(c) default codecs", &i.seed_default),
        ] {
            let Some(o) = o else { continue };
            let _ = writeln!(
                s,
                "| {} | {} | - | {} | {} | {} | - | {} |",
                i.spec.label(),
                name,
                n2(o.run.split_s),
                n2(o.run.transcode_s),
                n2(o.run.merge_s),
                n2(o.run.usage.wall_s)
            );
        }
    }

    let _ = writeln!(s, "\n## Quality against the source (MP4 outputs)\n");
    let _ = writeln!(
        s,
        "| input | output | PSNR-Y dB | PSNR avg dB | SSIM | VMAF | video kbit/s | file kbit/s | frames (source) | audio − video ms |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for i in &r.inputs {
        let row = |s: &mut String, name: &str, q: Option<&Quality>, f: Option<&Facts>| {
            let q = q.cloned().unwrap_or_default();
            let f = f.cloned().unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
                i.spec.label(),
                name,
                o2(q.psnr_y),
                o2(q.psnr_avg),
                q.ssim
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into()),
                o1(q.vmaf),
                o1(f.video_kbps),
                o1(f.total_kbps),
                f.video_frames
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                i.source
                    .video_frames
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                o1(f.av_delta_ms())
            );
        };
        if let Some(o) = &i.floor {
            row(
                &mut s,
                "(a) one ffmpeg",
                o.quality.as_ref(),
                o.facts.as_ref(),
            );
        }
        if let Some(o) = &i.pipeline_one {
            row(&mut s, "(b) pipeline", o.quality.as_ref(), o.facts.as_ref());
        }
        if let Some(o) = &i.seed_x264 {
            row(
                &mut s,
                "(c) seed, same x264",
                o.quality.as_ref(),
                o.facts.as_ref(),
            );
        }
        if let Some(o) = &i.seed_default {
            row(
                &mut s,
                "(c) seed, default codecs",
                o.quality.as_ref(),
                o.facts.as_ref(),
            );
        }
    }

    let _ = writeln!(
        s,
        "\nFrames are compared by time. The seed's joins add a frame and make the audio run long \
(AAC priming in every piece), so after the first join its frames no longer line up with the \
source: its PSNR measures that shift as much as x264's quality."
    );

    if let Some(sw) = &r.sweep {
        let _ = writeln!(
            s,
            "\n## Piece-length sweep: {} , formats `{}` (floor {} s, PSNR-Y {} dB)\n",
            sw.input,
            sw.formats,
            o1(sw.floor_wall_s),
            o2(sw.floor_psnr_y)
        );
        let _ = writeln!(
            s,
            "| piece s | pieces | wall s | CPU s | ×floor | taken | PSNR-Y dB | SSIM | video kbit/s |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for pt in &sw.points {
            let q = pt.out.quality.clone().unwrap_or_default();
            let f = pt.out.facts.clone().unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                pt.piece_seconds,
                pt.out.run.pieces,
                n1(pt.out.run.wall_s),
                n1(pt.out.run.usage.cpu_s),
                sw.floor_wall_s
                    .map(|a| format!("{}x", n2(ratio(pt.out.run.wall_s, a))))
                    .unwrap_or_else(|| "-".into()),
                n2(pt.out.run.usage.disturbance()),
                o2(q.psnr_y),
                q.ssim
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into()),
                o1(f.video_kbps)
            );
        }
    }

    if !r.cold_starts.is_empty() {
        let _ = writeln!(s, "\n## Handlers: cold start and memory\n");
        let _ = writeln!(
            s,
            "Exec of the release binary to the first `POST /invoke` answered (a malformed event, answered `{}`), {} trials each; RSS read 300 ms after the answer.\n",
            r.cold_starts
                .first()
                .map(|c| c.answer.as_str())
                .unwrap_or(""),
            r.cold_starts.first().map(|c| c.ready_ms.len()).unwrap_or(0)
        );
        let _ = writeln!(
            s,
            "| handler | ready ms (median) | min | max | idle RSS MB | peak RSS MB in (b) runs |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for c in &r.cold_starts {
            let min = c.ready_ms.iter().copied().fold(f64::INFINITY, f64::min);
            let max = c.ready_ms.iter().copied().fold(0.0, f64::max);
            let peak = r
                .inputs
                .iter()
                .flat_map(|i| [&i.pipeline_one, &i.pipeline_three])
                .flatten()
                .filter_map(|o| o.run.peak_rss_kb.get(&c.function))
                .max()
                .map(|kb| mb(*kb))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                c.function,
                n1(c.median_ms()),
                n1(min),
                n1(max),
                n1(c.median_rss_kb() / 1024.0),
                peak
            );
        }
    }

    if let Some(st) = &r.streaming {
        let _ = writeln!(
            s,
            "\n## Streaming a {:.2} GB source through the OSS emulator\n",
            st.source_bytes as f64 / 1e9
        );
        let out_bytes: u64 = st.run.outputs.iter().map(|o| o.1).sum();
        let _ = writeln!(
            s,
            "{} ({} s to make). Job {} in {} s; outputs {:.2} GB uploaded by merge.\n",
            st.settings,
            n1(st.generate_s),
            st.run.status,
            n1(st.run.wall_s),
            out_bytes as f64 / 1e9
        );
        let _ = writeln!(s, "| handler | instances | peak RSS (VmHWM) MB |");
        let _ = writeln!(s, "|---|---|---|");
        for (f, kb) in &st.run.peak_rss_kb {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                f,
                st.run.instances.get(f).copied().unwrap_or(0),
                mb(*kb)
            );
        }
    }

    if let Some(l) = &r.ladder {
        ladder_section(&mut s, l, &r.settings.profile);
    }
    if let Some(so) = &r.scale_out {
        scale_out_section(&mut s, so);
    }

    real_world_section(&mut s, &r.real_world);

    let _ = writeln!(s, "\n## Targets\n");
    let _ = writeln!(s, "| target | input | measured | met |");
    let _ = writeln!(s, "|---|---|---|---|");
    for t in &r.targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.target,
            t.input,
            t.value,
            if t.met { "yes" } else { "**no**" }
        );
    }
    if !r.errors.is_empty() {
        let _ = writeln!(s, "\n## Errors\n");
        for e in &r.errors {
            let _ = writeln!(s, "- {e}");
        }
    }
    s
}

/// The short clip: each run against (a), bytes and quality side by side,
/// then what each pipeline run spent besides the encode.
fn short_section(s: &mut String, i: &InputResult) {
    let _ = writeln!(
        s,
        "\n## Short clip: {} ({}x{}, noise), against (a) one plain ffmpeg\n",
        i.spec.label(),
        i.spec.width,
        i.spec.height
    );
    let a_wall = i.floor_wall().unwrap_or(f64::NAN);
    let a_bytes = i
        .floor
        .as_ref()
        .and_then(|f| f.facts.as_ref())
        .and_then(|f| f.video_bytes);
    let _ = writeln!(
        s,
        "| run | pieces | wall s | CPU s | wall ×(a) | taken | video bytes | bytes ×(a) | PSNR-Y dB | SSIM |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    let mut row = |name: &str,
                   pieces: String,
                   wall: f64,
                   u: &Usage,
                   runs: u32,
                   facts: Option<&Facts>,
                   q: Option<&Quality>| {
        let bytes = facts.and_then(|f| f.video_bytes);
        let mut taken = format!("{:.2}", u.disturbance());
        if runs > 1 {
            taken.push_str(&format!(", {runs} runs"));
        }
        let _ = writeln!(
            s,
            "| {name} | {pieces} | {} | {} | {} | {taken} | {} | {} | {} | {} |",
            n2(wall),
            n2(u.cpu_s),
            n2(ratio(wall, a_wall)),
            bytes.map_or("-".into(), |b| b.to_string()),
            bytes.zip(a_bytes).map_or("-".into(), |(b, a)| format!(
                "{:.3}",
                ratio(b as f64, a as f64)
            )),
            o2(q.and_then(|q| q.psnr_y)),
            q.and_then(|q| q.ssim)
                .map_or("-".into(), |x| format!("{x:.4}")),
        );
    };
    for (name, o) in [
        ("(a) one ffmpeg, encoder's GOP", &i.floor),
        ("(a') one ffmpeg, forced 2 s GOP", &i.floor_forced_gop),
    ] {
        if let Some(o) = o {
            row(
                name,
                "-".into(),
                o.run.wall_s,
                &o.run,
                o.runs,
                o.facts.as_ref(),
                o.quality.as_ref(),
            );
        }
    }
    let pieces_of = |o: &Output<PipelineRun>| {
        format!(
            "{} × {} s",
            o.run.pieces,
            o.run.piece_seconds.map_or("-".into(), n1)
        )
    };
    let runs = [
        ("(b) pipeline, mp4".to_string(), &i.pipeline_one),
        ("(b) pipeline, mp4+flv+hls".to_string(), &i.pipeline_three),
        (
            format!(
                "(b) pipeline, mp4, {} s pieces",
                i.short_piece_seconds.map_or("-".into(), n1)
            ),
            &i.pipeline_short_pieces,
        ),
    ];
    for (name, o) in &runs {
        if let Some(o) = o {
            row(
                name,
                pieces_of(o),
                o.run.wall_s,
                &o.run.usage,
                o.runs,
                o.facts.as_ref(),
                o.quality.as_ref(),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nVideo bytes: the video stream's packets (ffprobe), container and audio left out. \
The mp4+flv+hls row's bytes and quality are of its MP4 output.\n"
    );
    let _ = writeln!(
        s,
        "Fixed cost (s): everything but the encode on the critical path (the longest task of the Map). \
trigger: the run's wall minus the flow states (the OSS event, the trigger function, the engine). \
hop: a state's time minus its handler's. Sub-steps from the handlers' logs. \
verify runs beside the packagers and is part of package.\n"
    );
    let _ = writeln!(
        s,
        "| run | trigger | download | probe | cut | split rest | Split hop | Map hop | join | verify | package | upload | merge rest | Merge hop | AfterProcess | fixed total | encode | wall |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (name, o) in &runs {
        let Some(o) = o else { continue };
        let Some(f) = fixed_cost(&o.run) else {
            let _ = writeln!(s, "| {name} | no sub-step times in the logs |");
            continue;
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** | {} | {} |",
            n2(f.trigger),
            n2(f.download),
            n2(f.probe),
            n2(f.cut),
            n2(f.split_rest),
            n2(f.split_hop),
            n2(f.transcode_hop),
            n2(f.join),
            n2(f.verify),
            n2(f.package),
            n2(f.upload),
            n2(f.merge_rest),
            n2(f.merge_hop),
            n2(f.after),
            n2(f.total),
            n2(f.encode),
            n2(o.run.wall_s)
        );
    }
}

fn step_cells(r: &PipelineRun) -> String {
    let state = |n: &str| {
        let st = r.steps.iter().find(|s| s.name == n).map(|s| s.seconds);
        let h = match n {
            "Split" => Some("split"),
            "TranscodeAll" => Some("transcode"),
            "Merge" => Some("merge"),
            _ => None,
        }
        .and_then(|h| r.handler_steps.iter().find(|s| s.name == h))
        .map(|s| s.seconds);
        // The audio task runs in the Map beside the pieces.
        let audio = (n == "TranscodeAll")
            .then(|| r.handler_steps.iter().find(|s| s.name == "audio"))
            .flatten()
            .map(|s| format!(" + audio {}", n2(s.seconds)))
            .unwrap_or_default();
        match (st, h) {
            (Some(a), Some(b)) => format!("{} ({}{audio})", n2(a), n2(b)),
            (Some(a), None) => n2(a),
            _ => "-".into(),
        }
    };
    format!(
        "{} | {} | {} | {} | {} | {}",
        n2(r.upload_s),
        state("Split"),
        state("TranscodeAll"),
        state("Merge"),
        state("AfterProcess"),
        n2(r.wall_s)
    )
}

fn real_world_section(s: &mut String, rw: &RealWorld) {
    if rw.sparse.is_none() && rw.filters.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Real-world sources\n");
    if let Some(sp) = &rw.sparse {
        let split = sp
            .pipeline
            .handler_steps
            .iter()
            .find(|h| h.name == "split")
            .map(|h| h.seconds);
        let _ = writeln!(
            s,
            "One key frame in {} (testsrc2 with noise, the benchmark's camera-like picture), pieces asked for every {} s, mp4: one plain ffmpeg {} s wall / {} s CPU; \
the pipeline {} pieces, {} s wall ({:.2}x) / {} s CPU ({:.2}x), of which split (decode once, lossless \
intermediate cut at every piece) {} s.\n",
            sp.input,
            sp.piece_seconds,
            n1(sp.floor.wall_s),
            n1(sp.floor.cpu_s),
            sp.pipeline.pieces,
            n1(sp.pipeline.wall_s),
            ratio(sp.pipeline.wall_s, sp.floor.wall_s),
            n1(sp.pipeline.usage.cpu_s),
            ratio(sp.pipeline.usage.cpu_s, sp.floor.cpu_s),
            o1(split)
        );
    }
    if !rw.filters.is_empty() {
        let _ = writeln!(
            s,
            "| conversion | input | encode without, wall / CPU (s) | with the pipeline's filter, wall / CPU (s) | CPU ratio |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for f in &rw.filters {
            let _ = writeln!(
                s,
                "| {} | {} | {} / {} | {} / {} | {:.2}x |",
                f.conversion,
                f.input,
                n1(f.plain.wall_s),
                n1(f.plain.cpu_s),
                n1(f.converted.wall_s),
                n1(f.converted.cpu_s),
                ratio(f.converted.cpu_s, f.plain.cpu_s)
            );
        }
    }
}

fn ladder_section(s: &mut String, l: &LadderResult, p: &Profile) {
    let rungs: Vec<String> = l
        .renditions
        .iter()
        .map(|r| format!("{}x{} ≤ {}", r.width, r.height, r.kbps))
        .collect();
    let _ = writeln!(
        s,
        "\n## Adaptive-bitrate ladder: {} ({}x{})\n",
        l.spec.label(),
        l.spec.width,
        l.spec.height
    );
    let pieces = l
        .pipeline
        .as_ref()
        .map(|p| format!("{} × {} s", p.run.pieces, l.spec.piece_seconds))
        .unwrap_or_else(|| format!("{} s", l.spec.piece_seconds));
    let _ = writeln!(
        s,
        "Rungs (`Ladder::default().plan` on the probed source; kbit/s cap): {}. Every encode: libx264 \
CRF {} preset {}, `-maxrate` the cap, `-bufsize` twice it, a key frame every 2 s exactly \
(`-keyint_min` the same, `-sc_threshold 0`, closed GOPs), the pipeline's own filter graph and encoder \
arguments (`transcode_args` for one piece spanning the file); AAC {} kbit/s once. \
(a2) one ffmpeg: decode once, `split`, one encode per rung, MP4 files. (a3) one ffmpeg per rung, \
all started at once, each decoding the whole file. Pipeline: formats `abr`, pieces {pieces}, \
from the source in OSS to CMAF segments, HLS and DASH manifests in OSS.\n",
        rungs.join(", "),
        p.crf,
        p.preset,
        p.audio_kbps
    );
    let _ = writeln!(
        s,
        "| run | wall s | CPU s | wall / (a2) | CPU / (a2) | taken |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let (a2_wall, a2_cpu) = l
        .floor
        .as_ref()
        .map(|f| (f.run.wall_s, f.run.cpu_s))
        .unwrap_or((f64::NAN, f64::NAN));
    let row = |s: &mut String, name: &str, u: &Usage, wall: f64, runs: u32| {
        let mut taken = format!("{:.2}", u.disturbance());
        if runs > 1 {
            taken.push_str(&format!(", {runs} runs"));
        }
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {}x | {}x | {taken} |",
            n1(wall),
            n1(u.cpu_s),
            n2(ratio(wall, a2_wall)),
            n2(ratio(u.cpu_s, a2_cpu))
        );
    };
    let n = l.renditions.len();
    if let Some(f) = &l.floor {
        row(
            s,
            &format!("(a2) one ffmpeg, one decode, {n} encodes"),
            &f.run,
            f.run.wall_s,
            f.runs,
        );
    }
    if let Some(f) = &l.parallel {
        row(
            s,
            &format!("(a3) {n} ffmpeg at once, {n} decodes"),
            &f.run,
            f.run.wall_s,
            f.runs,
        );
    }
    if let Some(p) = &l.pipeline {
        row(
            s,
            &format!("pipeline, abr ({pieces})"),
            &p.run.usage,
            p.run.wall_s,
            p.runs,
        );
    }
    if let Some(p) = &l.pipeline {
        let _ = writeln!(
            s,
            "\nPipeline, where the time goes (s): client upload (not counted) | Split | TranscodeAll | Merge | AfterProcess | total: {}.",
            step_cells(&p.run)
        );
    }

    let _ = writeln!(
        s,
        "\nQuality per rung, against the source scaled to the rung's size (`scale=W:H`, bicubic, \
as the pipeline scales); the pipeline's rung is its CMAF segments read in playlist order.\n"
    );
    let _ = writeln!(
        s,
        "| rung | size | PSNR-Y (a2) dB | PSNR-Y pipeline dB | Δ dB | SSIM (a2) | SSIM pipeline | frames (a2 / pipeline / source) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let ssim = |q: Option<&Quality>| {
        q.and_then(|q| q.ssim)
            .map(|x| format!("{x:.4}"))
            .unwrap_or_else(|| "-".into())
    };
    let count = |x: Option<u64>| x.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    for g in &l.rungs {
        let (a, b) = (
            g.floor.quality.as_ref().and_then(|q| q.psnr_y),
            g.pipeline.quality.as_ref().and_then(|q| q.psnr_y),
        );
        let delta = a
            .zip(b)
            .map(|(a, b)| format!("{:+.2}", b - a))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {}x{} | {} | {} | {delta} | {} | {} | {} / {} / {} |",
            g.name,
            g.width,
            g.height,
            o2(a),
            o2(b),
            ssim(g.floor.quality.as_ref()),
            ssim(g.pipeline.quality.as_ref()),
            count(g.floor.video_frames),
            count(g.pipeline.video_frames),
            count(l.source.video_frames)
        );
    }

    let secs = l.clip_seconds();
    let _ = writeln!(
        s,
        "\nBytes per rung, video only, averaged over the clip ({} s): the coded pictures (packets) \
on both sides; for the pipeline also its manifest's `videoBytes` (CMAF segments with their \
fragment headers) and what its master playlist declares (`BANDWIDTH`: peak segment rate, \
`AVERAGE-BANDWIDTH`: average, both with the audio's).\n",
        n1(secs)
    );
    let _ = writeln!(
        s,
        "| rung | cap kbit/s | (a2) kbit/s | pipeline kbit/s | pipeline / (a2) | manifest videoBytes kbit/s | / cap | AVERAGE-BANDWIDTH kbit/s | BANDWIDTH kbit/s | video / BANDWIDTH | segments |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for g in &l.rungs {
        let m = g.manifest.as_ref();
        let mv = m.and_then(|m| crate::ladder::kbps(m.video_bytes, secs));
        let bw = m.map(|m| m.bandwidth as f64 / 1000.0);
        let avg = m.map(|m| m.average_bandwidth as f64 / 1000.0);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            g.name,
            g.cap_kbps,
            o1(g.floor.video_kbps),
            o1(g.pipeline.video_kbps),
            g.floor
                .video_kbps
                .zip(g.pipeline.video_kbps)
                .map(|(a, b)| format!("{}x", n2(ratio(b, a))))
                .unwrap_or_else(|| "-".into()),
            o1(mv),
            mv.map(|v| n2(ratio(v, g.cap_kbps as f64)))
                .unwrap_or_else(|| "-".into()),
            o1(avg),
            o1(bw),
            mv.zip(bw)
                .map(|(v, b)| n2(ratio(v, b)))
                .unwrap_or_else(|| "-".into()),
            m.map(|m| m.segments.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    for e in &l.errors {
        let _ = writeln!(s, "\n- error: {e}");
    }
}
