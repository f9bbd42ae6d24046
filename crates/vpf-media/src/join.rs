//! Joining encoded pieces: the concat demuxer's list, each piece at its
//! exact place on the timeline. Merge joins the pieces with it into the
//! joined video, and the ladder joins each rendition's pieces with it.

use std::path::{Path, PathBuf};

use vpf_core::job::Piece;
use vpf_core::{Error, Result};

/// Quote a path for an ffconcat `file` line.
fn concat_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The concat demuxer's list: the encoded pieces in index order, each with
/// its duration in whole microseconds taken from the pieces' real starts.
pub fn concat_list(pieces: &[Piece], encoded: impl Fn(u32) -> PathBuf) -> Result<String> {
    let mut sorted: Vec<&Piece> = pieces.iter().collect();
    sorted.sort_by_key(|p| p.index);
    for (i, p) in sorted.iter().enumerate() {
        if p.index as usize != i {
            return Err(Error::invalid(format!(
                "the job's pieces are not numbered 0..{}: piece {} is at place {i}",
                sorted.len(),
                p.index
            )));
        }
    }
    let Some(first) = sorted.first() else {
        return Err(Error::invalid("the job has no pieces"));
    };
    let origin = first.start_seconds;
    let micros = |s: f64| ((s - origin) * 1e6).round() as i64;
    let mut out = String::from("ffconcat version 1.0\n");
    for (i, p) in sorted.iter().enumerate() {
        let from = micros(p.start_seconds);
        let to = match sorted.get(i + 1) {
            Some(next) => micros(next.start_seconds),
            None => micros(p.start_seconds + p.duration_seconds),
        };
        let path = std::path::absolute(encoded(p.index))?;
        let us = (to - from).max(1);
        out.push_str(&format!(
            "file {}\nduration {}.{:06}\n",
            concat_quote(&path),
            us / 1_000_000,
            us % 1_000_000
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(index: u32, start: f64, duration: f64) -> Piece {
        Piece {
            index,
            start_seconds: start,
            duration_seconds: duration,
            frames: 1,
            drop_head: 0,
            drop_tail: 0,
        }
    }

    #[test]
    fn concat_list_is_ordered_and_drift_free() {
        // Three 24000/1001 pieces of 50 frames, listed out of order.
        let d = 50.0 * 1001.0 / 24000.0;
        let pieces = [
            piece(2, 0.5 + 2.0 * d, d),
            piece(0, 0.5, d),
            piece(1, 0.5 + d, d),
        ];
        let text = concat_list(&pieces, |i| PathBuf::from(format!("/j/e/{i:05}.nut"))).unwrap();
        let files: Vec<&str> = text.lines().filter(|l| l.starts_with("file")).collect();
        assert_eq!(
            files,
            [
                "file '/j/e/00000.nut'",
                "file '/j/e/00001.nut'",
                "file '/j/e/00002.nut'"
            ]
        );
        let total: i64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("duration "))
            .map(|v| (v.parse::<f64>().unwrap() * 1e6).round() as i64)
            .sum();
        assert_eq!(total, (3.0 * d * 1e6).round() as i64);
        // A gap in the numbering is refused.
        assert!(
            concat_list(
                &[piece(0, 0.0, 1.0), piece(2, 1.0, 1.0)],
                |_| PathBuf::from("/x")
            )
            .is_err()
        );
        assert!(concat_list(&[], |_| PathBuf::from("/x")).is_err());
    }

    #[test]
    fn quotes_in_paths_are_escaped() {
        assert_eq!(concat_quote(Path::new("/a/it's.nut")), r"'/a/it'\''s.nut'");
    }
}
