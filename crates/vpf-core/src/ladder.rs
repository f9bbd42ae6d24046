//! The adaptive-bitrate ladder: which renditions a job encodes, at what
//! size and rate.
//!
//! A ladder is configuration (`LADDER`, s.yaml var `ladder`): rungs named
//! by the picture's short side, each with a video rate cap. The default is
//! close to Apple's HLS authoring specification for H.264 (its example
//! ladder: 416x234 at 145 kbit/s up to 1920x1080 at 6 and 7.8 Mbit/s),
//! extended to 1440p and 2160p so a 4K upload keeps its detail.
//!
//! Planning a job's renditions from its source (`plan`):
//! - never upscaled: only rungs at or below the source's short side;
//! - portrait pictures get portrait renditions (the rung sizes the short
//!   side, the long side keeps the aspect ratio);
//! - the top rendition is the source's own size (unless the ladder stops
//!   below it), so the single-file formats made from it are not a
//!   downscale: a source within 25% of its highest rung takes that rung's
//!   place (400p instead of 360p), one further above gets its own rendition
//!   beside it (480p above 360p), at a cap between its neighbours';
//! - a source smaller than every rung gets one rendition at its own size.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One rung: a short side in pixels and the video rate cap there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rung {
    /// The picture's short side (height for landscape, width for portrait).
    pub short_side: u32,
    /// Video bit rate cap, kbit/s (the encoder's `maxrate`).
    pub kbps: u32,
}

/// Rungs, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ladder(Vec<Rung>);

/// The default ladder, as `LADDER` writes it.
pub const DEFAULT_LADDER: &str =
    "2160:16000, 1440:10000, 1080:6000, 720:3000, 540:2000, 360:700, 234:150";

/// A source this much larger than its highest rung gets a rendition at its
/// own size beside it; a smaller excess replaces the rung.
const OWN_SIZE_ABOVE: f64 = 1.25;

impl Default for Ladder {
    fn default() -> Self {
        match DEFAULT_LADDER.parse() {
            Ok(l) => l,
            // The constant parses (a unit test says so); an empty ladder
            // would still plan one rendition at the source's size.
            Err(_) => Ladder(Vec::new()),
        }
    }
}

impl Ladder {
    pub fn rungs(&self) -> &[Rung] {
        &self.0
    }

    /// The renditions for a picture of `w`x`h` as players show it
    /// (upright), largest first; `max_height` (the profile's cap on the
    /// upright picture's height) drops larger ones.
    pub fn plan(&self, (w, h): (u32, u32), max_height: Option<u32>) -> Vec<Rendition> {
        let short = w.min(h).max(2);
        let fits = |r: &Rendition| max_height.is_none_or(|m| r.height <= m);
        let mut out: Vec<Rendition> = self
            .0
            .iter()
            .filter(|r| r.short_side <= short)
            .map(|r| Rendition::sized(w, h, r.short_side, r.kbps))
            .filter(fits)
            .collect();
        // Unless the ladder stops below it, the top rendition is the
        // source's own size: the single-file formats are made from it.
        let below_ladder_top = self.0.first().is_none_or(|t| short <= t.short_side);
        let own = Rendition::sized(w, h, short, self.rate_at(short));
        if below_ladder_top && fits(&own) {
            match out.first().map(|r| r.width.min(r.height)) {
                Some(t) if t >= own.width.min(own.height) => {}
                Some(t) if (short as f64) <= t as f64 * OWN_SIZE_ABOVE => out[0] = own,
                _ => out.insert(0, own),
            }
        }
        if out.is_empty() {
            // Every rung is above max_height: one rendition at that height.
            let m = max_height.unwrap_or(h).max(2);
            let side = if w >= h {
                m
            } else {
                (m as f64 * w as f64 / h as f64) as u32
            };
            out.push(Rendition::sized(w, h, side.max(2), self.rate_at(side)));
        }
        out
    }

    /// The rate cap for a short side between rungs: linear between the
    /// neighbours, the lowest rung's below them all, the highest's above.
    fn rate_at(&self, short: u32) -> u32 {
        let above = self.0.iter().rev().find(|r| r.short_side >= short);
        let below = self.0.iter().find(|r| r.short_side <= short);
        match (below, above) {
            (Some(b), Some(a)) if a.short_side > b.short_side => {
                let t = (short - b.short_side) as f64 / (a.short_side - b.short_side) as f64;
                (b.kbps as f64 + t * (a.kbps as f64 - b.kbps as f64)).round() as u32
            }
            (Some(b), _) => b.kbps,
            (None, Some(a)) => a.kbps,
            (None, None) => 1000,
        }
    }
}

impl FromStr for Ladder {
    type Err = Error;

    /// `"1080:6000, 720:3000"`: short side and kbit/s, comma- or
    /// space-separated, any order; duplicates refused.
    fn from_str(s: &str) -> Result<Ladder> {
        let mut rungs: Vec<Rung> = Vec::new();
        for item in s.split([',', ' ', '\t']).filter(|i| !i.is_empty()) {
            let bad = || {
                Error::invalid(format!(
                    "ladder rung {item:?} is not SHORT_SIDE:KBPS (like 720:3000)"
                ))
            };
            let (side, kbps) = item.split_once(':').ok_or_else(bad)?;
            let side: u32 = side
                .trim()
                .trim_end_matches('p')
                .parse()
                .map_err(|_| bad())?;
            let kbps: u32 = kbps.trim().parse().map_err(|_| bad())?;
            if !(16..=4320).contains(&side) {
                return Err(Error::invalid(format!(
                    "ladder rung {item:?}: the short side must be 16-4320 pixels"
                )));
            }
            if !(50..=100_000).contains(&kbps) {
                return Err(Error::invalid(format!(
                    "ladder rung {item:?}: the rate must be 50-100000 kbit/s"
                )));
            }
            if rungs.iter().any(|r| r.short_side == side) {
                return Err(Error::invalid(format!("the ladder names {side}p twice")));
            }
            rungs.push(Rung {
                short_side: side,
                kbps,
            });
        }
        if rungs.is_empty() {
            return Err(Error::invalid("the ladder names no rung"));
        }
        if rungs.len() > 10 {
            return Err(Error::invalid(format!(
                "the ladder names {} rungs; at most 10",
                rungs.len()
            )));
        }
        rungs.sort_by_key(|r| std::cmp::Reverse(r.short_side));
        Ok(Ladder(rungs))
    }
}

impl TryFrom<String> for Ladder {
    type Error = Error;
    fn try_from(s: String) -> Result<Ladder> {
        s.parse()
    }
}

impl From<Ladder> for String {
    fn from(l: Ladder) -> String {
        l.to_string()
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| format!("{}:{}", r.short_side, r.kbps))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// One rendition a job encodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendition {
    /// `720p`: the short side. Also its folder under `abr/`.
    pub name: String,
    /// The upright picture's size; both even.
    pub width: u32,
    pub height: u32,
    /// Video rate cap, kbit/s (`maxrate`; the VBV buffer holds two seconds
    /// of it, one key-frame interval).
    pub kbps: u32,
}

impl Rendition {
    /// The rendition whose short side is `side` for an upright `w`x`h`
    /// picture: the long side keeps the aspect ratio, both sides even.
    fn sized(w: u32, h: u32, side: u32, kbps: u32) -> Rendition {
        let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
        let side = side & !1;
        let (width, height) = if w >= h {
            (even(w as f64 * side as f64 / h as f64), side.max(2))
        } else {
            (side.max(2), even(h as f64 * side as f64 / w as f64))
        };
        // A rung at the source's own size keeps its exact sides (even).
        let (width, height) = if width.min(height) >= w.min(h) & !1 {
            ((w & !1).max(2), (h & !1).max(2))
        } else {
            (width, height)
        };
        Rendition {
            name: format!("{}p", width.min(height)),
            width,
            height,
            kbps,
        }
    }

    /// The VBV buffer, kbit.
    pub fn bufsize_kbits(&self) -> u32 {
        self.kbps.saturating_mul(2)
    }
}

/// What one packaged rendition holds, for the manifest: the rates its
/// playlists declare (measured from its segments) beside its cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenditionOutcome {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// RFC 6381, video and audio (`avc1.64001f,mp4a.40.2`).
    pub codecs: String,
    /// The ladder's video rate cap, kbit/s.
    pub cap_kbps: u32,
    /// The master playlist's `BANDWIDTH`: the peak segment rate of the
    /// video plus the audio's, bits per second.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`, bits per second.
    pub average_bandwidth: u64,
    /// Video segments' bytes (initialization segment excluded).
    pub video_bytes: u64,
    pub segments: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(r: &[Rendition]) -> Vec<(u32, u32)> {
        r.iter().map(|r| (r.width, r.height)).collect()
    }

    #[test]
    fn default_ladder_parses_and_prints_back() {
        let l = Ladder::default();
        assert_eq!(l.rungs().len(), 7);
        assert_eq!(l.to_string(), DEFAULT_LADDER);
        assert_eq!(
            l.rungs()[2],
            Rung {
                short_side: 1080,
                kbps: 6000
            }
        );
    }

    #[test]
    fn ladders_are_checked() {
        assert_eq!(
            "360:700 720p:3000".parse::<Ladder>().unwrap().to_string(),
            "720:3000, 360:700"
        );
        for bad in ["", "720", "720:x", "720:3000,720:2000", "8:100", "720:10"] {
            let e = bad.parse::<Ladder>().unwrap_err();
            assert!(e.message.contains("ladder"), "{bad}: {}", e.message);
        }
        let json = serde_json::to_string(&Ladder::default()).unwrap();
        assert_eq!(json, format!("\"{DEFAULT_LADDER}\""));
        assert!(serde_json::from_str::<Ladder>("\"1:1\"").is_err());
    }

    #[test]
    fn never_upscaled_and_portrait_keeps_portrait() {
        let l = Ladder::default();
        let r = l.plan((1280, 720), None);
        assert_eq!(sizes(&r), [(1280, 720), (960, 540), (640, 360), (416, 234)]);
        assert_eq!(r[0].name, "720p");
        assert_eq!(r[0].kbps, 3000);
        // A phone's portrait 1080x1920, stored rotated.
        let r = l.plan((1080, 1920), None);
        assert_eq!(r[0].name, "1080p");
        assert_eq!(sizes(&r)[..2], [(1080, 1920), (720, 1280)]);
        // 4K keeps 4K.
        assert_eq!(l.plan((3840, 2160), None)[0].name, "2160p");
    }

    #[test]
    fn between_rungs_and_below_all_get_their_own_size() {
        let l = Ladder::default();
        // 480p is 1.33x 360p: its own rendition, rate between 360p and 540p.
        let r = l.plan((854, 480), None);
        assert_eq!(sizes(&r), [(854, 480), (640, 360), (416, 234)]);
        assert_eq!(r[0].kbps, 1567);
        // 400p is 1.11x 360p: it takes 360p's place, at a cap between.
        let r = l.plan((712, 400), None);
        assert_eq!(sizes(&r), [(712, 400), (416, 234)]);
        assert_eq!(r[0].kbps, 989);
        // 240p, just above 234p, keeps its size.
        assert_eq!(sizes(&l.plan((320, 240), None)), [(320, 240)]);
        // A 4K source with a ladder topping at 1080p gets 1080p.
        let small: Ladder = "1080:6000, 360:700".parse().unwrap();
        assert_eq!(sizes(&small.plan((3840, 2160), None))[0], (1920, 1080));
        // Smaller than every rung.
        let r = l.plan((160, 120), None);
        assert_eq!(sizes(&r), [(160, 120)]);
        assert_eq!(r[0].kbps, 150);
        // Odd sides lose a pixel.
        assert_eq!(sizes(&l.plan((161, 121), None)), [(160, 120)]);
    }

    #[test]
    fn max_height_caps_the_ladder() {
        let l = Ladder::default();
        let r = l.plan((1920, 1080), Some(720));
        assert_eq!(r[0].name, "720p");
        let r = l.plan((1920, 1080), Some(100));
        assert_eq!(sizes(&r), [(178, 100)]);
    }
}
