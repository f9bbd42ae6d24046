//! Listing: ListObjects (v1 and v2, with prefixes, delimiters and pages)
//! and ListBuckets.

use axum::response::Response;
use http::StatusCode;

use super::error::{OssError, OssResult};
use super::request::Ctx;
use super::response::{iso_date, quoted, xml_response};
use super::xml::Doc;

enum Entry {
    Object(String),
    Prefix(String),
}

pub async fn list_objects(cx: &Ctx, bucket: &str, v2: bool) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let prefix = cx.q("prefix").unwrap_or("").to_string();
    let delimiter = cx.q("delimiter").unwrap_or("").to_string();
    let max_keys: usize = match cx.q("max-keys") {
        None | Some("") => 100,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| OssError::invalid_argument("max-keys must be 1 to 1000."))?,
    };
    let token = match cx.q("continuation-token").filter(|t| !t.is_empty()) {
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OssError::invalid_argument("The continuation token is not valid.")
                })?,
        ),
        None => None,
    };
    let start_after = if v2 {
        token
            .clone()
            .or_else(|| cx.q("start-after").map(str::to_string))
    } else {
        cx.q("marker").map(str::to_string)
    }
    .unwrap_or_default();

    let keys = cx.sh.store.keys(bucket).await?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    let mut last_prefix: Option<String> = None;
    for k in keys
        .iter()
        .filter(|k| k.starts_with(&prefix) && k.as_str() > start_after.as_str())
    {
        // Resuming after a common prefix: everything under it was rolled up already.
        if !delimiter.is_empty() && start_after.ends_with(&delimiter) && k.starts_with(&start_after)
        {
            continue;
        }
        let rolled = if delimiter.is_empty() {
            None
        } else {
            k[prefix.len()..]
                .find(&delimiter)
                .map(|i| k[..prefix.len() + i + delimiter.len()].to_string())
        };
        if rolled.is_some() && rolled == last_prefix {
            continue;
        }
        if entries.len() == max_keys {
            truncated = true;
            break;
        }
        match rolled {
            Some(p) => {
                last_prefix = Some(p.clone());
                entries.push(Entry::Prefix(p));
            }
            None => entries.push(Entry::Object(k.clone())),
        }
    }
    let next = entries.last().map(|e| match e {
        Entry::Object(k) | Entry::Prefix(k) => k.clone(),
    });

    let mut doc = Doc::new("ListBucketResult", url);
    doc.text("Name", bucket).name("Prefix", &prefix);
    if v2 {
        if let Some(t) = cx.q("continuation-token") {
            doc.text("ContinuationToken", t);
        }
        if let Some(s) = cx.q("start-after") {
            doc.name("StartAfter", s);
        }
    } else {
        doc.name("Marker", cx.q("marker").unwrap_or(""));
    }
    doc.text("MaxKeys", max_keys);
    if !delimiter.is_empty() {
        doc.name("Delimiter", &delimiter);
    }
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("IsTruncated", truncated);
    if truncated && let Some(n) = &next {
        if v2 {
            doc.text("NextContinuationToken", hex::encode(n));
        } else {
            doc.name("NextMarker", n);
        }
    }
    if v2 {
        doc.text("KeyCount", entries.len());
    }
    let owner = !v2 || cx.q("fetch-owner") == Some("true");
    for e in &entries {
        if let Entry::Object(k) = e {
            let Ok(meta) = cx.sh.store.head(bucket, k).await else {
                continue; // deleted meanwhile
            };
            doc.open("Contents")
                .name("Key", k)
                .text("LastModified", iso_date(meta.last_modified))
                .text("ETag", quoted(&meta.etag))
                .text("Type", &meta.object_type)
                .text("Size", meta.size)
                .text("StorageClass", "Standard");
            if owner {
                doc.open("Owner")
                    .text("ID", &cx.sh.account_id)
                    .text("DisplayName", &cx.sh.account_id)
                    .close("Owner");
            }
            doc.close("Contents");
        }
    }
    for e in &entries {
        if let Entry::Prefix(p) = e {
            doc.open("CommonPrefixes")
                .name("Prefix", p)
                .close("CommonPrefixes");
        }
    }
    Ok(xml_response(StatusCode::OK, doc.finish("ListBucketResult")))
}

pub fn list_buckets(cx: &Ctx) -> OssResult<Response> {
    let mut doc = Doc::new("ListAllMyBucketsResult", false);
    doc.open("Owner")
        .text("ID", &cx.sh.account_id)
        .text("DisplayName", &cx.sh.account_id)
        .close("Owner")
        .open("Buckets");
    for b in cx.sh.store.buckets() {
        doc.open("Bucket")
            .text("Name", &b)
            .text("CreationDate", iso_date(0))
            .text("Location", format!("oss-{}", cx.sh.region))
            .text("ExtranetEndpoint", &cx.host)
            .text("IntranetEndpoint", &cx.host)
            .text("Region", &cx.sh.region)
            .text("StorageClass", "Standard")
            .close("Bucket");
    }
    doc.close("Buckets");
    Ok(xml_response(
        StatusCode::OK,
        doc.finish("ListAllMyBucketsResult"),
    ))
}
