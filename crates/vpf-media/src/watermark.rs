//! The watermark: the mark image checked before any encode, and the
//! filters that lay it over each encoded picture.
//!
//! The image is a second ffmpeg input holding one frame; `overlay` repeats
//! it over every frame of the piece (`eof_action=repeat`). Its time base is
//! set to one second (`settb=1`) because `overlay` times its output in a
//! time base both inputs divide: one second divides the piece's own, so the
//! encode keeps every frame's timestamp exactly as it was, variable frame
//! rates included.

use std::path::Path;

use vpf_core::Error;
use vpf_core::Result;
use vpf_core::job::JobPlan;
use vpf_core::watermark::{MAX_MARK_SIDE, MarkImage, Placement, Watermark};

use crate::Tools;
use crate::probe::probe_json;

/// Containers ffprobe reports for a single PNG or JPEG file.
const IMAGE_FORMATS: [&str; 3] = ["png_pipe", "jpeg_pipe", "image2"];
/// The codecs of those images (`mjpeg` is JPEG).
const IMAGE_CODECS: [&str; 2] = ["png", "mjpeg"];

/// Check that `path` (the mark, fetched from `what`, its `oss://` name for
/// messages) is one PNG or JPEG image of a sane size. Anything else is
/// `InvalidInput`: the job's settings name a file that cannot be a mark,
/// and no retry can change that.
pub async fn probe_mark(tools: &Tools, path: &Path, what: &str) -> Result<MarkImage> {
    let json = probe_json(tools, path).await.map_err(|e| {
        Error::invalid(format!(
            "watermark {what} is not an image ffmpeg can read ({})",
            e.message
        ))
    })?;
    let format = json
        .format
        .as_ref()
        .and_then(|f| f.format_name.clone())
        .unwrap_or_default();
    let video: Vec<_> = json.streams.iter().filter(|s| s.is_video()).collect();
    let [image] = video.as_slice() else {
        return Err(Error::invalid(format!(
            "watermark {what} is not a PNG or JPEG image: ffprobe finds {} video streams in a {format:?} file",
            video.len()
        )));
    };
    let codec = image.codec_name.clone().unwrap_or_default();
    if !IMAGE_FORMATS.contains(&format.as_str()) || !IMAGE_CODECS.contains(&codec.as_str()) {
        return Err(Error::invalid(format!(
            "watermark {what} is not a PNG or JPEG image (ffprobe finds {codec:?} in a {format:?} file)"
        )));
    }
    let (width, height) = (image.width.unwrap_or(0), image.height.unwrap_or(0));
    if !(1..=MAX_MARK_SIDE).contains(&width) || !(1..=MAX_MARK_SIDE).contains(&height) {
        return Err(Error::invalid(format!(
            "watermark {what} is {width}x{height}; each side must be 1-{MAX_MARK_SIDE} pixels"
        )));
    }
    Ok(MarkImage {
        codec,
        width,
        height,
    })
}

/// The watermark of a plan: its settings and the image split checked, or
/// `None` when the job has none. A plan whose profile asks for a mark that
/// split never checked is refused rather than encoded without it.
pub fn plan_mark(plan: &JobPlan) -> Result<Option<(&Watermark, &MarkImage)>> {
    match (&plan.request.profile.watermark, &plan.watermark_image) {
        (Some(w), Some(img)) => Ok(Some((w, img))),
        (None, _) => Ok(None),
        (Some(w), None) => Err(Error::invalid(format!(
            "the job asks for watermark {:?} but its plan has no checked image; run split again",
            w.key
        ))),
    }
}

/// Filter-graph lines that lay the mark (input `input`, e.g. `1:v`) over
/// each of `bases` (labels of pictures of the given sizes), giving
/// `[outs[k]]`. `full_width` is the widest picture's width (pixel margins
/// are that picture's).
pub fn overlay_graph(
    mark: (&Watermark, &MarkImage),
    input: &str,
    bases: &[(String, (u32, u32))],
    full_width: u32,
    outs: &[String],
) -> String {
    let (w, img) = mark;
    let n = bases.len();
    let mut g = format!("[{input}]settb=1");
    let copies: Vec<String> = (0..n).map(|k| format!("wm{k}")).collect();
    if n > 1 {
        g.push_str(&format!(",split={n}"));
    }
    for c in &copies {
        g.push_str(&format!("[{c}]"));
    }
    for (k, ((base, size), out)) in bases.iter().zip(outs).enumerate() {
        let Placement {
            x,
            y,
            width,
            height,
        } = w.placement(*size, full_width, img);
        g.push_str(&format!(
            ";[wm{k}]scale={width}:{height}[wms{k}];[{base}][wms{k}]overlay=x={x}:y={y}:eof_action=repeat[{out}]"
        ));
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpf_core::watermark::{Corner, Margin};

    #[test]
    fn one_mark_scaled_for_each_picture() {
        let mut w = Watermark::new("m.png");
        w.corner = Corner::TopLeft;
        w.margin = Margin::Pixels(20);
        let img = MarkImage {
            codec: "png".into(),
            width: 100,
            height: 50,
        };
        let g = overlay_graph(
            (&w, &img),
            "1:v",
            &[("b0".into(), (1280, 720)), ("b1".into(), (640, 360))],
            1280,
            &["v0".into(), "v1".into()],
        );
        assert_eq!(
            g,
            "[1:v]settb=1,split=2[wm0][wm1];\
             [wm0]scale=128:64[wms0];[b0][wms0]overlay=x=20:y=20:eof_action=repeat[v0];\
             [wm1]scale=64:32[wms1];[b1][wms1]overlay=x=10:y=10:eof_action=repeat[v1]"
        );
        let one = overlay_graph(
            (&w, &img),
            "1:v",
            &[("b".into(), (640, 360))],
            640,
            &["v".into()],
        );
        assert!(
            one.starts_with("[1:v]settb=1[wm0];[wm0]scale=64:32"),
            "{one}"
        );
    }
}
