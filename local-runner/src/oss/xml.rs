//! XML out: a small writer for OSS's result documents. (Request bodies are
//! read in `body`, with the operation that takes them.)

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_output_and_url_encodes_names() {
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
