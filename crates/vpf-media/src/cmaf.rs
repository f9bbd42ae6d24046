//! Reading CMAF (fragmented MP4) files: the initialization segment's track
//! (time scale, codec, picture size) and each media segment's timing
//! (decode time, duration, samples, whether it opens on a sync sample).
//!
//! The playlists and the DASH manifest are written from these readings, and
//! the ladder is checked with them, so what a player is told is what the
//! bytes hold. Box layouts are ISO/IEC 14496-12's (`tfhd`, `tfdt`, `trun`,
//! `trex`, `mdhd`) and 14496-15's (`avcC`); only what those need is read.

use vpf_core::{Error, ErrorKind, Result};

/// An initialization segment's (single) track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    pub timescale: u32,
    /// RFC 6381: `avc1.64001f`, `mp4a.40.2`.
    pub codec: String,
    /// Video only: the sample entry's size.
    pub size: Option<(u32, u32)>,
    /// `trex` defaults, for fragments that do not say.
    pub(crate) default_duration: u32,
    pub(crate) default_flags: u32,
}

/// One media segment (one or more `moof`+`mdat` pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// `tfdt` of its first fragment, in the track's time scale.
    pub decode_time: u64,
    /// Sum of its samples' durations.
    pub duration: u64,
    pub samples: u32,
    /// Its first sample is a sync sample (for video, a key frame).
    pub starts_with_sync: bool,
    /// Its first sample's composition offset, ticks: how long after its
    /// decode time it is shown (H.264 with B-frames: some frames).
    pub first_offset: i64,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::VerifyFailed, format!("CMAF: {what}"))
}

/// A cursor over big-endian fields.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| bad("a box ends early"))?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// A full box's version and flags.
    fn version_flags(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
}

/// The boxes directly inside `data`, as (type, where the body is).
fn box_ranges(data: &[u8]) -> Result<Vec<([u8; 4], std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut r = Reader::new(data);
    while r.at < data.len() {
        let start = r.at;
        let size = r.u32()? as u64;
        let kind: [u8; 4] = r
            .take(4)?
            .try_into()
            .map_err(|_| bad("a box type is cut"))?;
        let size = match size {
            1 => r.u64()?,
            0 => (data.len() - start) as u64,
            s => s,
        };
        let header = (r.at - start) as u64;
        if size < header {
            return Err(bad(format!(
                "box {} declares {size} bytes",
                String::from_utf8_lossy(&kind)
            )));
        }
        let body_start = r.at;
        r.skip((size - header) as usize)?;
        out.push((kind, body_start..r.at));
    }
    Ok(out)
}

/// The boxes directly inside `data`, as (type, body).
fn boxes(data: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    Ok(box_ranges(data)?
        .into_iter()
        .map(|(k, r)| (k, &data[r]))
        .collect())
}

/// Move a media segment later by `ticks` of its track's time scale: every
/// fragment's decode time (`tfdt`) is raised, in place. Used to start an
/// audio track together with video whose first frame is shown after its
/// first decode time.
pub fn delay_fragment(data: &mut [u8], ticks: u64) -> Result<()> {
    let mut found = false;
    for (kind, moof) in box_ranges(data)? {
        if &kind != b"moof" {
            continue;
        }
        for (kind, traf) in box_ranges(&data[moof.clone()])? {
            if &kind != b"traf" {
                continue;
            }
            let traf = moof.start + traf.start..moof.start + traf.end;
            for (kind, tfdt) in box_ranges(&data[traf.clone()])? {
                if &kind != b"tfdt" {
                    continue;
                }
                let at = traf.start + tfdt.start;
                let field = data
                    .get_mut(at..traf.start + tfdt.end)
                    .ok_or_else(|| bad("tfdt is cut"))?;
                match (field.first().copied(), field.len()) {
                    (Some(1), 12) => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&field[4..12]);
                        let t = u64::from_be_bytes(b)
                            .checked_add(ticks)
                            .ok_or_else(|| bad("tfdt overflows"))?;
                        field[4..12].copy_from_slice(&t.to_be_bytes());
                    }
                    (Some(0), 8) => {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(&field[4..8]);
                        let t = u32::try_from(u32::from_be_bytes(b) as u64 + ticks)
                            .map_err(|_| bad("tfdt overflows 32 bits"))?;
                        field[4..8].copy_from_slice(&t.to_be_bytes());
                    }
                    _ => return Err(bad("tfdt has an unknown layout")),
                }
                found = true;
            }
        }
    }
    match found {
        true => Ok(()),
        false => Err(bad("the segment holds no tfdt to move")),
    }
}

/// The first box of `kind` directly inside `data`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8]> {
    boxes(data)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
        .ok_or_else(|| bad(format!("no {} box", String::from_utf8_lossy(kind))))
}

/// Follow a path of boxes from `data`.
fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Result<&'a [u8]> {
    kinds.iter().try_fold(data, |d, k| child(d, k))
}

/// Read an initialization segment.
pub fn read_init(data: &[u8]) -> Result<Init> {
    let moov = child(data, b"moov")?;
    let trak = child(moov, b"trak")?;
    let mdhd = path(trak, &[b"mdia", b"mdhd"])?;
    let mut r = Reader::new(mdhd);
    let (version, _) = r.version_flags()?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = r.u32()?;
    if timescale == 0 {
        return Err(bad("the track's time scale is 0"));
    }
    let stsd = path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])?;
    let (codec, size) = sample_entry(stsd)?;
    let trex = path(moov, &[b"mvex", b"trex"])?;
    let mut r = Reader::new(trex);
    r.version_flags()?;
    r.skip(8)?; // track_ID, default_sample_description_index
    let default_duration = r.u32()?;
    r.skip(4)?; // default_sample_size
    let default_flags = r.u32()?;
    Ok(Init {
        timescale,
        codec,
        size,
        default_duration,
        default_flags,
    })
}

/// The codec string and (video) size of the first sample entry of `stsd`.
fn sample_entry(stsd: &[u8]) -> Result<(String, Option<(u32, u32)>)> {
    let mut r = Reader::new(stsd);
    r.version_flags()?;
    r.skip(4)?; // entry_count
    let entries = boxes(&stsd[r.at..])?;
    let (kind, body) = entries
        .first()
        .ok_or_else(|| bad("the track has no sample entry"))?;
    match kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 24 bytes, then width and height, then 50
            // more before its child boxes.
            let mut r = Reader::new(body);
            r.skip(24)?;
            let (w, h) = (r.u16()? as u32, r.u16()? as u32);
            r.skip(50)?;
            let avcc = child(&body[r.at..], b"avcC")?;
            match avcc {
                [1, profile, flags, level, ..] => Ok((
                    format!(
                        "{}.{profile:02x}{flags:02x}{level:02x}",
                        String::from_utf8_lossy(kind)
                    ),
                    Some((w, h)),
                )),
                _ => Err(bad("the avcC record is not version 1")),
            }
        }
        b"mp4a" => {
            // AudioSampleEntry: 28 bytes before its child boxes.
            let esds = child(body.get(28..).ok_or_else(|| bad("mp4a is cut"))?, b"esds")?;
            Ok((format!("mp4a.40.{}", aac_object_type(esds)?), None))
        }
        other => Err(bad(format!(
            "sample entry {} is not H.264 or AAC",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// An MPEG-4 descriptor's tag and body.
fn descriptor<'a>(r: &mut Reader<'a>) -> Result<(u8, &'a [u8])> {
    let tag = r.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        len = (len << 7) | (b & 0x7f) as usize;
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, r.take(len)?))
}

/// The AAC audio object type (2 is AAC-LC) from an `esds` box: the first
/// five bits of the AudioSpecificConfig inside its decoder configuration.
fn aac_object_type(esds: &[u8]) -> Result<u8> {
    let mut r = Reader::new(esds);
    r.version_flags()?;
    let (tag, es) = descriptor(&mut r)?;
    if tag != 3 {
        return Err(bad("esds holds no ES descriptor"));
    }
    let mut r = Reader::new(es);
    r.skip(2)?; // ES_ID
    let flags = r.u8()?;
    if flags & 0x80 != 0 {
        r.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = r.u8()? as usize;
        r.skip(n)?;
    }
    if flags & 0x20 != 0 {
        r.skip(2)?;
    }
    let (tag, config) = descriptor(&mut r)?;
    if tag != 4 {
        return Err(bad("esds holds no decoder configuration"));
    }
    let mut r = Reader::new(config);
    r.skip(13)?; // object type, stream type, buffer size, max and average rates
    let (tag, specific) = descriptor(&mut r)?;
    match (tag, specific.first()) {
        (5, Some(b)) => Ok(b >> 3),
        _ => Err(bad("esds holds no AudioSpecificConfig")),
    }
}

const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

/// Read a media segment of the track `init` describes.
pub fn read_fragment(data: &[u8], init: &Init) -> Result<Fragment> {
    let mut out: Option<Fragment> = None;
    for (kind, moof) in boxes(data)? {
        if &kind != b"moof" {
            continue;
        }
        for (kind, traf) in boxes(moof)? {
            if &kind != b"traf" {
                continue;
            }
            let f = read_traf(traf, init)?;
            match out.as_mut() {
                None => out = Some(f),
                Some(o) => {
                    o.duration += f.duration;
                    o.samples += f.samples;
                }
            }
        }
    }
    out.ok_or_else(|| bad("the segment holds no movie fragment"))
}

fn read_traf(traf: &[u8], init: &Init) -> Result<Fragment> {
    let mut r = Reader::new(child(traf, b"tfhd")?);
    let (_, flags) = r.version_flags()?;
    r.skip(4)?; // track_ID
    if flags & 0x01 != 0 {
        r.skip(8)?; // base_data_offset
    }
    if flags & 0x02 != 0 {
        r.skip(4)?; // sample_description_index
    }
    let default_duration = match flags & 0x08 {
        0 => init.default_duration,
        _ => r.u32()?,
    };
    if flags & 0x10 != 0 {
        r.skip(4)?; // default_sample_size
    }
    let default_flags = match flags & 0x20 {
        0 => init.default_flags,
        _ => r.u32()?,
    };
    let mut r = Reader::new(child(traf, b"tfdt")?);
    let (version, _) = r.version_flags()?;
    let decode_time = match version {
        1 => r.u64()?,
        _ => r.u32()? as u64,
    };
    let mut f = Fragment {
        decode_time,
        duration: 0,
        samples: 0,
        starts_with_sync: false,
        first_offset: 0,
    };
    for (kind, trun) in boxes(traf)? {
        if &kind != b"trun" {
            continue;
        }
        let mut r = Reader::new(trun);
        let (version, flags) = r.version_flags()?;
        let count = r.u32()?;
        if flags & 0x01 != 0 {
            r.skip(4)?; // data_offset
        }
        let first_flags = match flags & 0x04 {
            0 => None,
            _ => Some(r.u32()?),
        };
        for i in 0..count {
            let duration = match flags & 0x100 {
                0 => default_duration,
                _ => r.u32()?,
            };
            if flags & 0x200 != 0 {
                r.skip(4)?; // size
            }
            let sample_flags = match flags & 0x400 {
                0 => None,
                _ => Some(r.u32()?),
            };
            let offset = match flags & 0x800 {
                0 => 0,
                _ => match version {
                    0 => r.u32()? as i64,
                    _ => r.u32()? as i32 as i64,
                },
            };
            if f.samples == 0 {
                f.first_offset = offset;
                let fl = match i {
                    0 => first_flags.or(sample_flags),
                    _ => sample_flags,
                }
                .unwrap_or(default_flags);
                f.starts_with_sync = fl & SAMPLE_IS_NON_SYNC == 0;
            }
            f.duration += duration as u64;
            f.samples += 1;
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(version: u8, flags: u32, rest: &[u8]) -> Vec<u8> {
        let mut v = (((version as u32) << 24) | flags).to_be_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    }

    fn init() -> Init {
        Init {
            timescale: 15360,
            codec: "avc1.64001f".into(),
            size: Some((640, 360)),
            default_duration: 512,
            default_flags: SAMPLE_IS_NON_SYNC,
        }
    }

    #[test]
    fn fragments_give_their_time_samples_and_sync() {
        // tfhd with a default duration; tfdt v1; trun with first-sample
        // flags (sync) and three samples of default duration.
        let tfhd = mk(b"tfhd", &full(0, 0x08, &[0, 0, 0, 1, 0, 0, 2, 0]));
        let tfdt = mk(b"tfdt", &full(1, 0, &61440u64.to_be_bytes()));
        let mut trun_body = 3u32.to_be_bytes().to_vec();
        trun_body.extend_from_slice(&0u32.to_be_bytes());
        let trun = mk(b"trun", &full(0, 0x04, &trun_body));
        let traf = mk(b"traf", &[tfhd, tfdt, trun].concat());
        let segment = [mk(b"styp", b"msdh"), mk(b"moof", &traf), mk(b"mdat", b"")].concat();
        let f = read_fragment(&segment, &init()).unwrap();
        assert_eq!(
            f,
            Fragment {
                decode_time: 61440,
                duration: 3 * 512,
                samples: 3,
                starts_with_sync: true,
                first_offset: 0,
            }
        );
        // Without the first-sample flags, the trex default (non-sync) holds.
        let trun = mk(b"trun", &full(0, 0, &1u32.to_be_bytes()));
        let traf = mk(
            b"traf",
            &[
                mk(b"tfhd", &full(0, 0, &[0, 0, 0, 1])),
                mk(b"tfdt", &full(0, 0, &[0, 0, 0, 9])),
                trun,
            ]
            .concat(),
        );
        let f = read_fragment(&mk(b"moof", &traf), &init()).unwrap();
        assert_eq!(
            (f.decode_time, f.duration, f.starts_with_sync),
            (9, 512, false)
        );
    }

    #[test]
    fn delaying_a_fragment_moves_only_its_decode_time() {
        for version in [0u8, 1] {
            let time: Vec<u8> = match version {
                0 => 100u32.to_be_bytes().to_vec(),
                _ => 100u64.to_be_bytes().to_vec(),
            };
            let traf = mk(
                b"traf",
                &[
                    mk(b"tfhd", &full(0, 0, &[0, 0, 0, 1])),
                    mk(b"tfdt", &full(version, 0, &time)),
                    mk(b"trun", &full(0, 0, &1u32.to_be_bytes())),
                ]
                .concat(),
            );
            let mut seg = [mk(b"moof", &traf), mk(b"mdat", b"abc")].concat();
            let before = read_fragment(&seg, &init()).unwrap();
            delay_fragment(&mut seg, 3200).unwrap();
            let after = read_fragment(&seg, &init()).unwrap();
            assert_eq!(after.decode_time, before.decode_time + 3200);
            assert_eq!(
                (after.duration, after.samples),
                (before.duration, before.samples)
            );
            assert!(seg.ends_with(b"mdatabc"));
        }
        assert!(delay_fragment(&mut mk(b"mdat", b""), 1).is_err());
    }

    #[test]
    fn cut_or_empty_input_is_an_error_not_a_panic() {
        assert!(read_fragment(b"", &init()).is_err());
        assert!(read_fragment(&[0, 0, 0, 200, b'm', b'o', b'o', b'f'], &init()).is_err());
        assert!(read_init(&[0, 0, 0, 4]).is_err());
        let huge = [0xff, 0xff, 0xff, 0xff, b'm', b'o', b'o', b'v'];
        assert!(read_init(&huge).is_err());
        let mut r = Reader::new(&[0x80, 0x80]);
        assert!(descriptor(&mut r).is_err());
    }
}
