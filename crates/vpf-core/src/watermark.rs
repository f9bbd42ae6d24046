//! The watermark: an image from the job's bucket laid over every video
//! output at a corner, sized as a fraction of the picture's width.
//!
//! Where the mark goes is worked out here, in whole pixels, for each size a
//! job encodes (the output, every rung of a ladder), so the filter graph
//! (vpf-media) and the tests that look for the mark agree on one rectangle.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Corner of the picture the mark sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    /// Where broadcasters and platforms put theirs: clear of titles, which
    /// sit top-left or centred.
    #[default]
    BottomRight,
}

impl Corner {
    pub const ALL: [Corner; 4] = [
        Corner::TopLeft,
        Corner::TopRight,
        Corner::BottomLeft,
        Corner::BottomRight,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Corner::TopLeft => "top-left",
            Corner::TopRight => "top-right",
            Corner::BottomLeft => "bottom-left",
            Corner::BottomRight => "bottom-right",
        }
    }

    fn right(self) -> bool {
        matches!(self, Corner::TopRight | Corner::BottomRight)
    }

    fn bottom(self) -> bool {
        matches!(self, Corner::BottomLeft | Corner::BottomRight)
    }
}

impl FromStr for Corner {
    type Err = Error;
    fn from_str(s: &str) -> Result<Corner> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Corner::ALL
            .into_iter()
            .find(|c| c.as_str() == norm)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "watermark corner {s:?} is not one of {}",
                    Corner::ALL.map(Corner::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for Corner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Space between the mark and the picture's edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MarginRepr", into = "MarginRepr")]
pub enum Margin {
    /// A fraction of the picture's width (`0.02`), so every size of a
    /// ladder looks the same.
    Fraction(f64),
    /// Pixels of the job's largest output (`16px`); smaller renditions get
    /// the same share of their width.
    Pixels(u32),
}

impl Default for Margin {
    fn default() -> Self {
        Margin::Fraction(DEFAULT_MARGIN)
    }
}

/// On the wire a margin is a number (a fraction) or a string: `"0.02"` or
/// `"16px"`, as the environment variable takes it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum MarginRepr {
    Number(f64),
    Text(String),
}

impl TryFrom<MarginRepr> for Margin {
    type Error = Error;
    fn try_from(r: MarginRepr) -> Result<Margin> {
        match r {
            MarginRepr::Number(f) => Ok(Margin::Fraction(f)),
            MarginRepr::Text(s) => s.parse(),
        }
    }
}

impl From<Margin> for MarginRepr {
    fn from(m: Margin) -> MarginRepr {
        match m {
            Margin::Fraction(f) => MarginRepr::Number(f),
            Margin::Pixels(_) => MarginRepr::Text(m.to_string()),
        }
    }
}

impl FromStr for Margin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Margin> {
        let t = s.trim();
        let bad = || {
            Error::invalid(format!(
                "watermark margin {s:?} is neither a fraction of the width (like 0.02) nor pixels (like 16px)"
            ))
        };
        match t.strip_suffix("px") {
            Some(px) => px.trim().parse().map(Margin::Pixels).map_err(|_| bad()),
            None => t.parse().map(Margin::Fraction).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for Margin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Margin::Fraction(x) => write!(f, "{x}"),
            Margin::Pixels(p) => write!(f, "{p}px"),
        }
    }
}

pub const DEFAULT_SCALE: f64 = 0.1;
pub const DEFAULT_MARGIN: f64 = 0.02;

fn default_scale() -> f64 {
    DEFAULT_SCALE
}

/// What to lay over the video (a job's `profile.watermark`). Unknown
/// fields are refused: a job file's misspelt `coner` must not pass unseen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Watermark {
    /// The image's object key, in the job's own bucket: a PNG (transparency
    /// kept) or a JPEG.
    pub key: String,
    #[serde(default)]
    pub corner: Corner,
    /// The mark's width as a fraction of the picture's width (its height
    /// follows the image's shape).
    #[serde(default = "default_scale")]
    pub scale: f64,
    #[serde(default)]
    pub margin: Margin,
}

impl Watermark {
    pub fn new(key: impl Into<String>) -> Watermark {
        Watermark {
            key: key.into(),
            corner: Corner::default(),
            scale: DEFAULT_SCALE,
            margin: Margin::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        crate::keys::validate_key(&self.key)
            .map_err(|e| e.context(format!("watermark key {:?}", self.key)))?;
        if !(self.scale.is_finite() && self.scale >= 0.01 && self.scale <= 1.0) {
            return Err(Error::invalid(format!(
                "watermark scale {} is out of range 0.01-1 (a fraction of the video's width)",
                self.scale
            )));
        }
        match self.margin {
            Margin::Fraction(f) if !(f.is_finite() && (0.0..=0.25).contains(&f)) => {
                Err(Error::invalid(format!(
                    "watermark margin {f} is out of range 0-0.25 (a fraction of the video's width)"
                )))
            }
            Margin::Pixels(p) if p > 1000 => Err(Error::invalid(format!(
                "watermark margin {p}px is out of range 0-1000px"
            ))),
            _ => Ok(()),
        }
    }

    /// Where the mark goes on a picture of `size` (width, height), one of
    /// a job whose largest output is `full_width` wide, for an image of
    /// `image` pixels. Sizes and offsets are even, so the mark covers whole
    /// 4:2:0 chroma samples and its edges stay sharp in colour too. A mark
    /// that would not fit the height (a tall image on a wide picture) is
    /// made smaller until it does.
    pub fn placement(&self, size: (u32, u32), full_width: u32, image: &MarkImage) -> Placement {
        let (w, h) = (size.0.max(2) as f64, size.1.max(2) as f64);
        let even0 = |x: f64| (x.max(0.0) / 2.0).round() as u32 * 2;
        let even = |x: f64| even0(x).max(2);
        let margin = match self.margin {
            Margin::Fraction(f) => f * w,
            Margin::Pixels(p) => p as f64 * w / full_width.max(1) as f64,
        };
        // At least 2 pixels of picture stay for the mark on each side.
        let cap = ((w.min(h) - 2.0) / 4.0).floor().max(0.0) as u32 * 2;
        let margin = even0(margin).min(cap) as f64;
        let aspect = image.height.max(1) as f64 / image.width.max(1) as f64;
        let mut mw = self.scale * w;
        let mut mh = mw * aspect;
        let room_w = w - 2.0 * margin;
        let room_h = h - 2.0 * margin;
        if mh > room_h {
            mh = room_h;
            mw = mh / aspect;
        }
        if mw > room_w {
            mw = room_w;
            mh = mw * aspect;
        }
        let (mw, mh) = (
            even(mw).min(size.0 & !1).max(2),
            even(mh).min(size.1 & !1).max(2),
        );
        let m = margin as u32;
        let x = match self.corner.right() {
            true => size.0.saturating_sub(mw + m) & !1,
            false => m,
        };
        let y = match self.corner.bottom() {
            true => size.1.saturating_sub(mh + m) & !1,
            false => m,
        };
        Placement {
            x,
            y,
            width: mw,
            height: mh,
        }
    }
}

/// The mark image as split found it (ffprobe), recorded in the job plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkImage {
    /// `png` or `mjpeg` (a JPEG).
    pub codec: String,
    pub width: u32,
    pub height: u32,
}

/// Largest side of a mark image we accept: far more than any corner mark
/// needs, small enough that decoding and scaling it costs nothing.
pub const MAX_MARK_SIDE: u32 = 4096;

/// The mark's rectangle on one picture, in pixels from the top-left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Placement {
    /// Whether pixel (`px`, `py`) lies inside the mark.
    pub fn contains(&self, px: u32, py: u32) -> bool {
        px >= self.x && px < self.x + self.width && py >= self.y && py < self.y + self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32) -> MarkImage {
        MarkImage {
            codec: "png".into(),
            width: w,
            height: h,
        }
    }

    #[test]
    fn corners_parse_and_refuse_unknown() {
        assert_eq!("Top_Left".parse::<Corner>().unwrap(), Corner::TopLeft);
        assert_eq!(
            "bottom right".parse::<Corner>().unwrap(),
            Corner::BottomRight
        );
        let e = "centre".parse::<Corner>().unwrap_err();
        assert!(e.message.contains("top-left, top-right"), "{e}");
    }

    #[test]
    fn margins_are_fractions_or_pixels_on_the_wire() {
        assert_eq!("0.05".parse::<Margin>().unwrap(), Margin::Fraction(0.05));
        assert_eq!("16px".parse::<Margin>().unwrap(), Margin::Pixels(16));
        assert!("16 pt".parse::<Margin>().is_err());
        let w: Watermark = serde_json::from_str(r#"{"key":"m.png","margin":"12px"}"#).unwrap();
        assert_eq!(w.margin, Margin::Pixels(12));
        assert_eq!(w.corner, Corner::BottomRight);
        assert_eq!(w.scale, DEFAULT_SCALE);
        let w: Watermark =
            serde_json::from_str(r#"{"key":"m.png","corner":"top-left","margin":0.1}"#).unwrap();
        assert_eq!(
            (w.corner, w.margin),
            (Corner::TopLeft, Margin::Fraction(0.1))
        );
        let back: Watermark = serde_json::from_value(serde_json::to_value(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        assert!(serde_json::from_str::<Watermark>(r#"{"key":"m.png","corner":"middle"}"#).is_err());
    }

    #[test]
    fn validation_names_the_bad_field() {
        assert!(Watermark::new("marks/logo.png").validate().is_ok());
        let mut w = Watermark::new("../logo.png");
        assert!(w.validate().unwrap_err().message.contains("watermark key"));
        w = Watermark::new("logo.png");
        w.scale = 0.0;
        assert!(w.validate().unwrap_err().message.contains("scale"));
        w.scale = f64::NAN;
        assert!(w.validate().is_err());
        w = Watermark::new("logo.png");
        w.margin = Margin::Fraction(0.5);
        assert!(w.validate().unwrap_err().message.contains("margin"));
        w.margin = Margin::Pixels(5000);
        assert!(w.validate().is_err());
    }

    #[test]
    fn placement_is_even_in_the_corner_and_scaled_with_the_picture() {
        let mut w = Watermark::new("m.png");
        w.scale = 0.1;
        w.margin = Margin::Fraction(0.02);
        let img = image(200, 100);
        // 1280x720: 128x64 mark, margin 25.6 -> 26.
        let p = w.placement((1280, 720), 1280, &img);
        assert_eq!(
            p,
            Placement {
                x: 1280 - 128 - 26,
                y: 720 - 64 - 26,
                width: 128,
                height: 64
            }
        );
        w.corner = Corner::TopLeft;
        assert_eq!(
            w.placement((1280, 720), 1280, &img),
            Placement {
                x: 26,
                y: 26,
                width: 128,
                height: 64
            }
        );
        w.corner = Corner::TopRight;
        let p = w.placement((1280, 720), 1280, &img);
        assert_eq!((p.x, p.y), (1280 - 128 - 26, 26));
        w.corner = Corner::BottomLeft;
        let p = w.placement((1280, 720), 1280, &img);
        assert_eq!((p.x, p.y), (26, 720 - 64 - 26));
        // Pixels are the full size's: half the picture, half the margin.
        w.margin = Margin::Pixels(40);
        assert_eq!(w.placement((1280, 720), 1280, &img).x, 40);
        assert_eq!(w.placement((640, 360), 1280, &img).x, 20);
        // A tall mark on a wide picture shrinks to fit the height.
        w.scale = 1.0;
        w.margin = Margin::Fraction(0.0);
        let p = w.placement((640, 360), 640, &image(100, 400));
        assert_eq!((p.width, p.height), (90, 360));
        for c in Corner::ALL {
            w.corner = c;
            let p = w.placement((641, 359), 641, &image(7, 3));
            assert!(
                [p.x, p.y, p.width, p.height]
                    .iter()
                    .all(|v| v.is_multiple_of(2))
            );
            assert!(p.x + p.width <= 641 && p.y + p.height <= 359, "{c} {p:?}");
        }
    }
}
