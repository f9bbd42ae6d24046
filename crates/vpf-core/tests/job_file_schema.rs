//! The published job-file schema (schemas/job-file.schema.json) and the
//! parser oss-trigger uses ([`JobFile`]) accept and refuse the same files:
//! the same field names, the same choices, and every example file judged
//! alike by the schema (through the `jsonschema` crate here, and PyPI's
//! `jsonschema` in tests/python/test_job_files.py) and by the parser.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vpf_core::job::{Format, PRESETS};
use vpf_core::overrides::{JobFile, SETTINGS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn schema() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("job-file.schema.json")).unwrap()).unwrap()
}

fn examples(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(root().join("examples").join(dir))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// What the parser says about each invalid example (a part of its error).
const MISTAKES: &[(&str, &str)] = &[
    ("blank-source.json", "source is empty"),
    ("crf-out-of-range.json", "crf 52 is out of range 0-51"),
    ("duplicate-format.json", "formats lists gif twice"),
    ("fractional-height.json", "field maxHeight"),
    ("gif-seconds-zero.json", "gifSeconds 0 is out of range"),
    ("ladder-rung.json", "field ladder"),
    ("missing-source.json", "missing field `source`"),
    ("no-format.json", "formats is empty"),
    ("not-an-object.json", "not a JSON object"),
    ("null-value.json", "field crf: invalid type: null"),
    (
        "sample-rate.json",
        "sampleRate 96000 is not one AAC and MP3 both carry",
    ),
    (
        "segment-too-short.json",
        "segmentSeconds 0.5 is out of range",
    ),
    ("unknown-field.json", "unknown field `colour`"),
    ("unknown-format.json", "unknown variant `webm`"),
    ("unknown-preset.json", "unknown x264 preset \"warp\""),
    ("watermark-scale.json", "watermark scale 2 is out of range"),
    ("watermark-unknown-field.json", "unknown field `coner`"),
    ("webhook-not-http.json", "field webhookUrl"),
    ("wrong-type.json", "field crf: invalid type: string"),
];

/// The parser's verdict: the file alone, then merged into a request (the
/// ranges are checked there, with the environment's messages).
fn parse(bytes: &[u8]) -> vpf_core::Result<()> {
    let file = JobFile::parse(bytes)?;
    let video: vpf_core::job::JobRequest = serde_json::from_value(serde_json::json!({
        "jobId": "v-clip-0123456789abcdef01234567", "bucket": "media", "key": "source/clip.mp4",
        "outputBase": "dest/clip.mp4", "stem": "clip", "formats": ["mp4"], "segmentSeconds": 30
    }))
    .unwrap();
    file.apply(video, "source/clip.json", "J1").map(|_| ())
}

#[test]
fn the_schema_names_the_parsers_fields_and_choices() {
    let s = schema();
    let props = s["properties"].as_object().unwrap();
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    names.sort();
    let mut ours: Vec<&str> = std::iter::once("source")
        .chain(SETTINGS.iter().map(|(n, _)| *n))
        .collect();
    ours.sort();
    assert_eq!(names, ours, "schema properties against overrides::SETTINGS");
    assert_eq!(s["required"], serde_json::json!(["source"]));
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(
        props["formats"]["items"]["enum"],
        serde_json::json!(Format::ALL.map(Format::as_str))
    );
    assert_eq!(props["preset"]["enum"], serde_json::json!(PRESETS));
}

#[test]
fn schema_and_parser_agree_on_every_example() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let valid = examples("valid");
    assert!(valid.len() >= 3);
    for (name, bytes) in &valid {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "schema refuses valid/{name}: {errors:?}");
        parse(bytes).unwrap_or_else(|e| panic!("parser refuses valid/{name}: {e}"));
    }
    let invalid = examples("invalid");
    assert_eq!(
        invalid.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        MISTAKES.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "every invalid example has its expected message here"
    );
    for ((name, bytes), (_, words)) in invalid.iter().zip(MISTAKES) {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        assert!(!validator.is_valid(&v), "schema accepts invalid/{name}");
        let e = parse(bytes).expect_err(name);
        assert_eq!(e.kind, vpf_core::ErrorKind::InvalidInput, "{name}");
        assert!(
            e.message.contains(words),
            "invalid/{name}: {:?} lacks {words:?}",
            e.message
        );
    }
}
