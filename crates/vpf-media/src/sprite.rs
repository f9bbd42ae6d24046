//! The seek-preview track: a sprite sheet of thumbnails taken at a fixed
//! interval, and a WebVTT file whose cues point into it
//! (`sprite.jpg#xywh=x,y,w,h`), which players (Video.js, JW Player, Plyr,
//! hls.js-based players) show while the viewer scrubs.
//!
//! One sheet, at most [`MAX_TILES`] tiles: the interval grows with the
//! video (2 s up to 200 s of video, then duration / 100), so a long video
//! costs one image of bounded size. Tile k is the first frame at or after
//! `k * interval` (ffmpeg's `select`, one decode of the joined video); its
//! cue lasts until the next tile's time, the last one until the video ends.
//! Making and checking the files is merge's (package.rs), like every output.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use vpf_core::job::JobPlan;

use crate::run::{args, ffmpeg_base};
use crate::transcode::encoded_size;

/// Most tiles on the sheet.
pub const MAX_TILES: u32 = 100;
/// Shortest interval between thumbnails, seconds.
pub const MIN_INTERVAL: f64 = 2.0;
/// Long side of a tile, pixels.
pub const TILE_SIDE: u32 = 160;
/// Tiles per row.
pub const COLUMNS: u32 = 10;
/// The sheet's file name, next to the WebVTT file that names it.
pub const SHEET: &str = "sprite.jpg";

/// The sheet's layout for one video.
#[derive(Debug, Clone, PartialEq)]
pub struct SpriteGrid {
    /// Seconds between thumbnails.
    pub interval: f64,
    pub tiles: u32,
    pub columns: u32,
    pub rows: u32,
    pub tile_width: u32,
    pub tile_height: u32,
}

/// The layout for a video of `seconds` whose last frame starts
/// `last_frame` seconds before the end, shown at `size` (upright).
pub fn sprite_grid(seconds: f64, last_frame: f64, size: (u32, u32)) -> SpriteGrid {
    let seconds = if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    };
    // Millisecond steps, so the cue times written are the times selected.
    let interval = ((seconds / MAX_TILES as f64).max(MIN_INTERVAL) * 1000.0).ceil() / 1000.0;
    // A tile exists for each k with some frame at or after k * interval.
    let last_start = (seconds - last_frame.max(0.0)).max(0.0);
    let tiles = ((last_start / interval + 1e-9).floor() as u32 + 1).min(MAX_TILES);
    let (w, h) = (size.0.max(2), size.1.max(2));
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let (tile_width, tile_height) = if w >= h {
        (TILE_SIDE, even(TILE_SIDE as f64 * h as f64 / w as f64))
    } else {
        (even(TILE_SIDE as f64 * w as f64 / h as f64), TILE_SIDE)
    };
    let columns = tiles.clamp(1, COLUMNS);
    SpriteGrid {
        interval,
        tiles,
        columns,
        rows: tiles.div_ceil(columns),
        tile_width,
        tile_height,
    }
}

/// The layout for a job's video (its probed length, last frame and output size).
pub fn grid(plan: &JobPlan) -> SpriteGrid {
    let video = plan.info.video.clone().unwrap_or_default();
    sprite_grid(
        video.duration_seconds,
        video.frame_seconds(),
        encoded_size(&video, plan),
    )
}

/// The ffmpeg arguments that make the sheet from the joined video.
pub fn sprite_args(master: &Path, out: &Path, g: &SpriteGrid) -> Vec<OsString> {
    let filter = format!(
        "select='gte(t\\,selected_n*{interval})',scale={w}:{h}:flags=lanczos,setsar=1,tile={c}x{r}",
        interval = g.interval,
        w = g.tile_width,
        h = g.tile_height,
        c = g.columns,
        r = g.rows
    );
    let mut a = ffmpeg_base();
    a.extend(args![
        "-i",
        master,
        "-map",
        "0:V:0",
        "-vf",
        filter,
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "1",
        "-q:v",
        "4",
        "-f",
        "image2",
        out
    ]);
    a
}

fn timestamp(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The WebVTT file: one cue per tile, pointing at its rectangle.
pub fn thumbnails_vtt(g: &SpriteGrid, seconds: f64) -> String {
    let mut out = String::from("WEBVTT\n");
    for k in 0..g.tiles {
        let start = k as f64 * g.interval;
        let end = if k + 1 == g.tiles {
            seconds.max(start)
        } else {
            (k + 1) as f64 * g.interval
        };
        let (x, y) = (
            (k % g.columns) * g.tile_width,
            (k / g.columns) * g.tile_height,
        );
        let _ = write!(
            out,
            "\n{} --> {}\n{SHEET}#xywh={x},{y},{},{}\n",
            timestamp(start),
            timestamp(end),
            g.tile_width,
            g.tile_height
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_grows_the_interval_not_the_sheet() {
        let g = sprite_grid(9.0, 0.04, (1920, 1080));
        assert_eq!((g.interval, g.tiles, g.columns, g.rows), (2.0, 5, 5, 1));
        assert_eq!((g.tile_width, g.tile_height), (160, 90));
        let g = sprite_grid(3600.0, 0.04, (1080, 1920));
        assert_eq!(
            (g.interval, g.tiles, g.columns, g.rows),
            (36.0, 100, 10, 10)
        );
        assert_eq!((g.tile_width, g.tile_height), (90, 160));
        // A tile time inside the last frame has no frame of its own.
        assert_eq!(sprite_grid(10.0, 0.04, (320, 240)).tiles, 5);
        assert_eq!(sprite_grid(10.05, 0.04, (320, 240)).tiles, 6);
        assert_eq!(sprite_grid(0.04, 0.04, (320, 240)).tiles, 1);
        assert_eq!(sprite_grid(f64::NAN, 0.04, (320, 240)).tiles, 1);
    }

    #[test]
    fn cues_cover_the_video_and_point_at_their_tiles() {
        let g = sprite_grid(25.0, 0.04, (640, 360));
        let vtt = thumbnails_vtt(&g, 25.0);
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(vtt.contains("\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n"));
        assert!(vtt.contains("\n00:00:20.000 --> 00:00:22.000\nsprite.jpg#xywh=0,90,160,90\n"));
        assert!(vtt.ends_with("00:00:24.000 --> 00:00:25.000\nsprite.jpg#xywh=320,90,160,90\n"));
        assert_eq!(vtt.matches("-->").count(), 13);
        assert_eq!(timestamp(3723.4567), "01:02:03.457");
    }

    #[test]
    fn the_sheet_is_one_image_of_the_grid() {
        let g = sprite_grid(25.0, 0.04, (640, 360));
        let a = sprite_args(Path::new("/j/m.mp4"), Path::new("/o/sprite.jpg"), &g);
        let s: Vec<String> = a.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        let vf = &s[s.iter().position(|x| x == "-vf").unwrap() + 1];
        assert_eq!(
            vf,
            "select='gte(t\\,selected_n*2)',scale=160:90:flags=lanczos,setsar=1,tile=10x2"
        );
        assert!(s.windows(2).any(|w| w[0] == "-frames:v" && w[1] == "1"));
    }
}
