//! Errors with stable types. The workflow retries on the transient types and
//! catches the rest (flow/video-process-flow.yaml lists them by name), so the
//! names are a contract: never rename one.

use std::fmt;

/// What went wrong, as the workflow sees it (`errorType` in the FC error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The event or payload is malformed, names an unknown format, or a key
    /// would escape its folder. Retrying cannot help.
    InvalidInput,
    /// The source object does not exist (any more).
    NotFound,
    /// The upload is not a video ffmpeg can read (truncated, random bytes, no video stream).
    CorruptMedia,
    /// The merged output failed its checks (frame count, duration, audio continuity).
    VerifyFailed,
    /// ffmpeg failed on input that probed fine: possibly out of memory or killed. Transient.
    EncodeFailed,
    /// OSS answered with an error or could not be reached. Transient.
    StorageError,
    /// Another service (workflow API, webhook) failed or could not be reached. Transient.
    ServiceError,
    /// A bug or an unexpected local failure (disk full, missing NAS). Transient.
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::CorruptMedia,
        ErrorKind::VerifyFailed,
        ErrorKind::EncodeFailed,
        ErrorKind::StorageError,
        ErrorKind::ServiceError,
        ErrorKind::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::CorruptMedia => "CorruptMedia",
            ErrorKind::VerifyFailed => "VerifyFailed",
            ErrorKind::EncodeFailed => "EncodeFailed",
            ErrorKind::StorageError => "StorageError",
            ErrorKind::ServiceError => "ServiceError",
            ErrorKind::Internal => "Internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether trying the same call again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::EncodeFailed
                | ErrorKind::StorageError
                | ErrorKind::ServiceError
                | ErrorKind::Internal
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a stable kind and a message that says what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::CorruptMedia, message)
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::StorageError, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
    /// Prefix the message with what we were doing, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::internal(format!("local I/O: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("malformed JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_transience_is_stable() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
        assert!(!ErrorKind::InvalidInput.is_transient());
        assert!(!ErrorKind::CorruptMedia.is_transient());
        assert!(ErrorKind::StorageError.is_transient());
        assert_eq!(ErrorKind::parse("Nope"), None);
    }

    #[test]
    fn context_keeps_kind() {
        let e = Error::corrupt("moov atom not found").context("probing source/a.mp4");
        assert_eq!(e.kind, ErrorKind::CorruptMedia);
        assert_eq!(
            e.to_string(),
            "CorruptMedia: probing source/a.mp4: moov atom not found"
        );
    }
}
