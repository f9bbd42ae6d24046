//! The few OSS XML documents the client reads and writes.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use vpf_core::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorXml {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateResult {
    pub upload_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CompleteResult {
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListV2 {
    #[serde(default)]
    pub is_truncated: bool,
    pub next_continuation_token: Option<String>,
    pub encoding_type: Option<String>,
    #[serde(default)]
    pub contents: Vec<ListEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListEntry {
    pub key: String,
    pub last_modified: Option<String>,
    #[serde(rename = "ETag", default)]
    pub etag: String,
    #[serde(default)]
    pub size: u64,
}

pub(crate) fn parse<'de, T: Deserialize<'de>>(what: &str, body: &'de str) -> Result<T> {
    quick_xml::de::from_str(body)
        .map_err(|e| Error::storage(format!("OSS answered {what} with XML we cannot read: {e}")))
}

/// Undo `encoding-type=url` (plain percent-decoding; OSS never uses `+`).
pub(crate) fn url_decoded(s: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::storage(format!("OSS listed a key that is not UTF-8: {s:?}")))
}

/// Escape text for an XML element body.
pub(crate) fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// `"ABC"` -> `ABC`: ETags travel quoted in headers and XML.
pub(crate) fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_and_error_documents() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>b</Name><Prefix>a%2F</Prefix><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>
  <KeyCount>2</KeyCount>
  <Contents><Key>a%2Fx%20y</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>"AB"</ETag><Type>Normal</Type><Size>3</Size><StorageClass>Standard</StorageClass></Contents>
  <Contents><Key>a%2Fz</Key><ETag>"CD-2"</ETag><Size>5</Size></Contents>
</ListBucketResult>"#;
        let l: ListV2 = parse("list", body).unwrap();
        assert!(l.is_truncated);
        assert_eq!(l.next_continuation_token.as_deref(), Some("tok"));
        assert_eq!(l.contents.len(), 2);
        assert_eq!(url_decoded(&l.contents[0].key).unwrap(), "a/x y");
        assert_eq!(unquote(&l.contents[1].etag), "CD-2");

        let e: ErrorXml = parse(
            "error",
            "<Error><Code>NoSuchKey</Code><Message>gone</Message><RequestId>R1</RequestId><Key>k</Key></Error>",
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(e.request_id.as_deref(), Some("R1"));

        let empty: ListV2 = parse(
            "list",
            "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert!(empty.contents.is_empty());
        assert!(parse::<ListV2>("list", "not xml <").is_err());
    }
}
