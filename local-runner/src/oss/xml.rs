//! XML in and out: a small writer for OSS's result documents and serde
//! readers for the two request bodies OSS takes (DeleteMultipleObjects,
//! CompleteMultipartUpload).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::error::{OssError, OssResult};

/// Escape text for an element body.
pub fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// `encoding-type=url`: every byte but unreserved characters and `/` is `%XX`.
const URL_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A result document under construction.
pub struct Doc {
    s: String,
    url_encode: bool,
}

impl Doc {
    pub fn new(root: &str, url_encode: bool) -> Doc {
        Doc {
            s: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>\n"),
            url_encode,
        }
    }
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.s.push_str(&format!("<{tag}>"));
        self
    }
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.s.push_str(&format!("</{tag}>\n"));
        self
    }
    pub fn text(&mut self, tag: &str, value: impl std::fmt::Display) -> &mut Self {
        self.s
            .push_str(&format!("<{tag}>{}</{tag}>", esc(&value.to_string())));
        self
    }
    /// A key-like value: URL-encoded when the request asked for `encoding-type=url`.
    pub fn name(&mut self, tag: &str, value: &str) -> &mut Self {
        if self.url_encode {
            let v = utf8_percent_encode(value, URL_SET).to_string();
            self.text(tag, v)
        } else {
            self.text(tag, value)
        }
    }
    pub fn finish(mut self, root: &str) -> String {
        self.s.push_str(&format!("</{root}>\n"));
        self.s
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    #[serde(default)]
    pub quiet: Option<String>,
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteEntry {
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteRequest {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletePart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

pub fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> OssResult<T> {
    let text = std::str::from_utf8(body)
        .map_err(|_| OssError::malformed_xml("The XML you provided is not UTF-8."))?;
    quick_xml::de::from_str(text).map_err(|e| {
        OssError::malformed_xml(format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_bodies_and_escapes_output() {
        let d: DeleteRequest = parse(
            b"<Delete><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key>c</Key></Object></Delete>",
        )
        .unwrap();
        assert_eq!(d.quiet.as_deref(), Some("true"));
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].key, "a & b");
        let c: CompleteRequest = parse(
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AB\"</ETag></Part></CompleteMultipartUpload>",
        )
        .unwrap();
        assert_eq!(c.parts[0].part_number, 1);
        assert_eq!(c.parts[0].etag, "\"AB\"");
        assert!(parse::<CompleteRequest>(b"<nope").is_err());

        let mut doc = Doc::new("R", true);
        doc.name("Key", "a b/<c>").text("Size", 3);
        let out = doc.finish("R");
        assert!(
            out.contains("<Key>a%20b/%3Cc%3E</Key><Size>3</Size>"),
            "{out}"
        );
        let mut doc = Doc::new("R", false);
        doc.name("Key", "a<b");
        assert!(doc.finish("R").contains("<Key>a&lt;b</Key>"));
    }
}
