//! The decode check of verification (`decode_at`): the frame at each time
//! asked for must decode, so a good file passes and a file whose media data
//! is cut short fails where the data is gone. (Like a full decode, it does
//! not see bits flipped inside a frame: ffmpeg 5.1's H.264 decoder conceals
//! such damage and logs it at info level only.)

use vpf_core::ErrorKind;
use vpf_media::Tools;
use vpf_media::testmedia::{Clip, truncated_copy};

#[tokio::test]
async fn a_good_file_passes_and_lost_media_data_fails() {
    let t = Tools::from_env();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    // Faststart: the index survives the cut, the frames it lists do not.
    Clip::new(320, 240)
        .seconds(3.0)
        .gop(25)
        .faststart()
        .write(&t, &good)
        .await
        .unwrap();
    let frames = vpf_media::decode_at(&t, &good, &[0.02, 1.02, 2.02])
        .await
        .unwrap();
    let times: Vec<f64> = frames.iter().map(|f| f.seconds).collect();
    assert_eq!(times, [0.0, 1.0, 2.0], "{frames:?}");
    assert!(frames.iter().all(|f| f.key), "{frames:?}");

    let cut = dir.path().join("cut.mp4");
    truncated_copy(&good, &cut, 0.6).unwrap();
    let e = vpf_media::decode_at(&t, &cut, &[0.02, 2.5])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::VerifyFailed, "{e:?}");
    assert!(e.message.contains("cut.mp4"), "{}", e.message);
}
