//! The decode check of verification (`decode_key_frames`): it demuxes every
//! packet and decodes the key frames and the audio, so a good file passes and
//! a file whose media data is cut short fails. (Like a full decode, it does
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
        .faststart()
        .write(&t, &good)
        .await
        .unwrap();
    vpf_media::decode_key_frames(&t, &good).await.unwrap();

    let cut = dir.path().join("cut.mp4");
    truncated_copy(&good, &cut, 0.6).unwrap();
    let e = vpf_media::decode_key_frames(&t, &cut).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::VerifyFailed, "{e:?}");
    assert!(e.message.contains("cut.mp4"), "{}", e.message);
}
