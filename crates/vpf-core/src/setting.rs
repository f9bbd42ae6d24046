//! Where each setting of a job came from, and the manifest's record of it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a job's setting came from; written as `default`, `s.yaml/env` or
/// `job file <key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SettingSource {
    /// No variable and no job file set it: the built-in default.
    Default,
    /// The function's environment variable, which s.yaml sets from its vars.
    Env,
    /// The job file with this key.
    JobFile(String),
}

const DEFAULT_SOURCE: &str = "default";
const ENV_SOURCE: &str = "s.yaml/env";
const JOB_FILE_SOURCE: &str = "job file ";

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingSource::Default => f.write_str(DEFAULT_SOURCE),
            SettingSource::Env => f.write_str(ENV_SOURCE),
            SettingSource::JobFile(key) => write!(f, "{JOB_FILE_SOURCE}{key}"),
        }
    }
}

impl From<SettingSource> for String {
    fn from(s: SettingSource) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for SettingSource {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<SettingSource, String> {
        match s.as_str() {
            DEFAULT_SOURCE => Ok(SettingSource::Default),
            ENV_SOURCE => Ok(SettingSource::Env),
            _ => match s.strip_prefix(JOB_FILE_SOURCE) {
                Some(key) if !key.is_empty() => Ok(SettingSource::JobFile(key.to_string())),
                _ => Err(format!(
                    "setting source {s:?} is not {DEFAULT_SOURCE:?}, {ENV_SOURCE:?} or \"{JOB_FILE_SOURCE}<key>\""
                )),
            },
        }
    }
}

/// One setting of a job as its manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingRecord {
    pub value: serde_json::Value,
    pub source: SettingSource,
}
