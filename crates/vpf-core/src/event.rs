//! The OSS event that FC delivers to a function with an OSS trigger
//! (fixtures/oss-event.example.json, from Alibaba's OSS trigger documentation). Only the fields we
//! use are required; everything else is optional so that a field OSS adds
//! tomorrow does not break parsing.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Events larger than this are refused before parsing: a real OSS event with
/// one record is about 1 KiB; OSS batches at most a handful.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OssEvent {
    pub events: Vec<OssRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OssRecord {
    /// `ObjectCreated:PutObject` etc. FC delivers it without the `oss:` prefix.
    pub event_name: String,
    #[serde(default)]
    pub event_source: String,
    #[serde(default)]
    pub event_time: String,
    #[serde(default)]
    pub event_version: String,
    #[serde(default)]
    pub region: String,
    pub oss: OssEntity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OssEntity {
    pub bucket: OssBucket,
    pub object: OssObject,
    #[serde(default)]
    pub oss_schema_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OssBucket {
    pub name: String,
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub owner_identity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_bucket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OssObject {
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub e_tag: String,
    #[serde(default)]
    pub delta_size: i64,
}

impl OssEvent {
    /// Parse an event body, refusing oversized or malformed input with a clear
    /// `InvalidInput`.
    pub fn parse(body: &[u8]) -> Result<OssEvent> {
        if body.len() > MAX_EVENT_BYTES {
            return Err(Error::invalid(format!(
                "event is {} bytes, more than the {} an OSS event can be",
                body.len(),
                MAX_EVENT_BYTES
            )));
        }
        serde_json::from_slice(body).map_err(|e| {
            Error::invalid(format!(
                "not an OSS event ({e}); expected {{\"events\": [...]}}"
            ))
        })
    }
}

impl OssRecord {
    /// The event name without the optional `oss:` prefix (the trigger
    /// configuration uses it, the payload does not).
    pub fn name(&self) -> &str {
        self.event_name
            .strip_prefix("oss:")
            .unwrap_or(&self.event_name)
    }

    pub fn is_object_created(&self) -> bool {
        self.name().starts_with("ObjectCreated:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../fixtures/oss-event.example.json");

    #[test]
    fn parses_the_reference_event() {
        let ev = OssEvent::parse(EXAMPLE.as_bytes()).expect("reference event parses");
        assert_eq!(ev.events.len(), 1);
        let r = &ev.events[0];
        assert_eq!(r.name(), "ObjectCreated:PutObject");
        assert!(r.is_object_created());
        assert_eq!(r.oss.bucket.name, "testbucket");
        assert_eq!(r.oss.object.key, "image/a.jpg");
        assert_eq!(r.oss.object.e_tag, "688A7BF4F233DC9C88A80BF985AB7329");
        // Round trip keeps the wire names.
        let back = serde_json::to_value(&ev).expect("serialize");
        assert_eq!(
            back["events"][0]["oss"]["object"]["eTag"],
            r.oss.object.e_tag
        );
    }

    #[test]
    fn refuses_malformed_and_oversized() {
        let e = OssEvent::parse(b"{\"events\": [{}]}").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
        let e = OssEvent::parse(b"not json").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        let e = OssEvent::parse(&big).unwrap_err();
        assert!(e.message.contains("bytes"));
    }

    #[test]
    fn prefix_is_optional() {
        let mut ev = OssEvent::parse(EXAMPLE.as_bytes()).unwrap();
        ev.events[0].event_name = "oss:ObjectCreated:CompleteMultipartUpload".into();
        assert_eq!(ev.events[0].name(), "ObjectCreated:CompleteMultipartUpload");
        ev.events[0].event_name = "ObjectRemoved:DeleteObject".into();
        assert!(!ev.events[0].is_object_created());
    }
}
