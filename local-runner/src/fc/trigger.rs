//! OSS trigger matching, as FC applies `triggerConfig` of an `oss` trigger.

use vpf_core::event::OssRecord;

/// One OSS trigger from s.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct OssTrigger {
    pub name: String,
    pub function: String,
    pub bucket: String,
    /// As configured, with the `oss:` prefix: `oss:ObjectCreated:*`, `oss:ObjectCreated:PutObject`.
    pub events: Vec<String>,
    pub prefix: String,
    pub suffix: String,
}

impl OssTrigger {
    /// Whether FC would deliver this record to the trigger's function.
    pub fn matches(&self, bucket: &str, rec: &OssRecord) -> bool {
        // FC documents that a prefix starting with `/` never fires.
        if self.prefix.starts_with('/') || bucket != self.bucket {
            return false;
        }
        let name = rec.name();
        let event_ok = self.events.iter().any(|pat| {
            let pat = pat.strip_prefix("oss:").unwrap_or(pat);
            match pat.strip_suffix('*') {
                Some(head) => name.starts_with(head),
                None => name == pat,
            }
        });
        event_ok && vpf_core::keys::matches_filter(&rec.oss.object.key, &self.prefix, &self.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, key: &str) -> OssRecord {
        let mut ev: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/oss-event.example.json")).unwrap();
        ev["events"][0]["eventName"] = name.into();
        ev["events"][0]["oss"]["object"]["key"] = key.into();
        serde_json::from_value(ev["events"][0].take()).unwrap()
    }

    fn trigger(events: &[&str], prefix: &str) -> OssTrigger {
        OssTrigger {
            name: "t".into(),
            function: "oss-trigger".into(),
            bucket: "b".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            prefix: prefix.into(),
            suffix: ".mp4".into(),
        }
    }

    #[test]
    fn wildcard_exact_prefix_suffix_bucket() {
        let t = trigger(&["oss:ObjectCreated:*"], "source/");
        assert!(t.matches("b", &rec("ObjectCreated:PutObject", "source/a.mp4")));
        assert!(t.matches(
            "b",
            &rec("ObjectCreated:CompleteMultipartUpload", "source/x/a.mp4")
        ));
        assert!(!t.matches("b", &rec("ObjectRemoved:DeleteObject", "source/a.mp4")));
        assert!(!t.matches("b", &rec("ObjectCreated:PutObject", "dest/a.mp4")));
        assert!(!t.matches("b", &rec("ObjectCreated:PutObject", "source/a.mov")));
        assert!(!t.matches("other", &rec("ObjectCreated:PutObject", "source/a.mp4")));
        let t = trigger(
            &[
                "oss:ObjectCreated:PutObject",
                "oss:ObjectCreated:PostObject",
            ],
            "source/",
        );
        assert!(t.matches("b", &rec("ObjectCreated:PostObject", "source/a.mp4")));
        assert!(!t.matches(
            "b",
            &rec("ObjectCreated:CompleteMultipartUpload", "source/a.mp4")
        ));
    }

    #[test]
    fn a_leading_slash_never_fires() {
        let t = trigger(&["oss:ObjectCreated:*"], "/source/");
        assert!(!t.matches("b", &rec("ObjectCreated:PutObject", "/source/a.mp4")));
    }
}
