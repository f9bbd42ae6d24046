//! transcode
