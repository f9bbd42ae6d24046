//! Multipart uploads: InitiateMultipartUpload, UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload and ListParts.

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use md5::{Digest, Md5};
use serde::Deserialize;

use super::body::{MAX_XML_BODY, check_md5, parse_xml, read_small};
use super::error::{OssError, OssResult};
use super::request::Ctx;
use super::response::{empty, iso_date, quoted, set, xml_response};
use super::store::{self, MAX_PART_NUMBER, MIN_PART_SIZE, Upload};
use super::xml::Doc;

/// The CompleteMultipartUpload body.
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

fn upload_id(cx: &Ctx) -> &str {
    cx.q("uploadId").unwrap_or("")
}

pub async fn initiate(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let upload = Upload {
        bucket: bucket.to_string(),
        key: key.to_string(),
        attributes: cx.attributes(key),
        initiated: store::unix(cx.sh.now()),
    };
    let id = cx.sh.store.create_upload(&upload).await?;
    let mut doc = Doc::new("InitiateMultipartUploadResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Bucket", bucket)
        .name("Key", key)
        .text("UploadId", &id);
    Ok(xml_response(
        StatusCode::OK,
        doc.finish("InitiateMultipartUploadResult"),
    ))
}

pub async fn upload_part(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
    if cx.sh.take_part_503() {
        return Err(OssError::unavailable());
    }
    let number: u32 = cx
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(format!("partNumber must be 1 to {MAX_PART_NUMBER}."))
        })?;
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    let incoming = cx
        .sh
        .store
        .receive_checked(body.into_data_stream(), cx.payload_sha256())
        .await?;
    if let Err(e) = check_md5(cx, &incoming.md5) {
        let _ = tokio::fs::remove_file(&incoming.path).await;
        return Err(e);
    }
    let part = cx
        .sh
        .store
        .put_part(&id, number, incoming, cx.sh.now())
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&part.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &part.crc64.to_string());
    Ok(r)
}

pub async fn complete(cx: &Ctx, bucket: &str, key: &str, body: Body) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let id = upload_id(cx).to_string();
    let store = &cx.sh.store;
    let upload = store.upload(&id, bucket, key).await?;
    let uploaded = store.parts(&id).await?;
    let body = read_small(body, MAX_XML_BODY, cx.payload_sha256()).await?;
    let numbers: Vec<u32> = if cx
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        if !body.is_empty() {
            return Err(OssError::invalid_argument(
                "With x-oss-complete-all: yes the body must be empty.",
            ));
        }
        uploaded.keys().copied().collect()
    } else {
        let req: CompleteRequest = parse_xml(&body)?;
        let mut numbers = Vec::with_capacity(req.parts.len());
        for p in &req.parts {
            if numbers.last().is_some_and(|last| *last >= p.part_number) {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
                ));
            }
            let known = uploaded.get(&p.part_number).ok_or_else(|| {
                OssError::new(StatusCode::BAD_REQUEST, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
                    .with("PartNumber", p.part_number.to_string())
            })?;
            if !known
                .etag
                .eq_ignore_ascii_case(p.etag.trim().trim_matches('"'))
            {
                return Err(OssError::new(StatusCode::BAD_REQUEST, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
                    .with("PartNumber", p.part_number.to_string()));
            }
            numbers.push(p.part_number);
        }
        numbers
    };
    if numbers.is_empty() {
        return Err(OssError::malformed_xml(
            "CompleteMultipartUpload lists no parts.",
        ));
    }
    for n in &numbers[..numbers.len() - 1] {
        let size = uploaded.get(n).map_or(0, |p| p.size);
        if size < MIN_PART_SIZE {
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size.",
            )
            .with("PartNumber", n.to_string())
            .with("MinSizeAllowed", MIN_PART_SIZE.to_string()));
        }
    }
    // The multipart ETag: MD5 of the parts' binary MD5s, then "-<count>".
    let mut md5 = Md5::new();
    for n in &numbers {
        let part_md5 = uploaded
            .get(n)
            .and_then(|p| hex::decode(&p.etag).ok())
            .ok_or_else(|| OssError::internal("part metadata is damaged"))?;
        md5.update(&part_md5);
    }
    let etag = format!("{}-{}", hex::encode_upper(md5.finalize()), numbers.len());
    let incoming = store.assemble(&id, &numbers).await?;
    let (meta, previous) = store
        .commit(
            bucket,
            key,
            incoming,
            etag,
            "Multipart",
            upload.attributes,
            cx.sh.now(),
            cx.forbid_overwrite(),
        )
        .await?;
    store.remove_upload(&id).await?;
    cx.emit(
        "ObjectCreated:CompleteMultipartUpload",
        bucket,
        key,
        &meta,
        previous,
    );
    let mut doc = Doc::new("CompleteMultipartUploadResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Location", cx.object_url(bucket, key))
        .text("Bucket", bucket)
        .name("Key", key)
        .text("ETag", quoted(&meta.etag));
    let mut r = xml_response(StatusCode::OK, doc.finish("CompleteMultipartUploadResult"));
    set(&mut r, "etag", &quoted(&meta.etag));
    set(&mut r, "x-oss-hash-crc64ecma", &meta.crc64.to_string());
    Ok(r)
}

pub async fn abort(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    if !cx.sh.store.remove_upload(&id).await? {
        return Err(OssError::no_such_upload(&id));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn list_parts(cx: &Ctx, bucket: &str, key: &str) -> OssResult<Response> {
    let url = cx.url_encoded()?;
    let id = upload_id(cx).to_string();
    cx.sh.store.upload(&id, bucket, key).await?;
    let parts = cx.sh.store.parts(&id).await?;
    let marker: u32 = cx
        .q("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = cx
        .q("max-parts")
        .and_then(|m| m.parse().ok())
        .filter(|m| (1..=1000).contains(m))
        .unwrap_or(1000);
    let after: Vec<(&u32, &store::Part)> = parts.range(marker.saturating_add(1)..).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let mut doc = Doc::new("ListPartsResult", url);
    if url {
        doc.text("EncodingType", "url");
    }
    doc.text("Bucket", bucket)
        .name("Key", key)
        .text("UploadId", &id)
        .text("PartNumberMarker", marker)
        .text("NextPartNumberMarker", page.last().map_or(0, |(n, _)| **n))
        .text("MaxParts", max)
        .text("IsTruncated", truncated);
    for (n, p) in page {
        doc.open("Part")
            .text("PartNumber", n)
            .text("LastModified", iso_date(p.last_modified))
            .text("ETag", quoted(&p.etag))
            .text("HashCrc64ecma", p.crc64)
            .text("Size", p.size)
            .close("Part");
    }
    Ok(xml_response(StatusCode::OK, doc.finish("ListPartsResult")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_complete_body() {
        let c: CompleteRequest = parse_xml(
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AB\"</ETag></Part></CompleteMultipartUpload>",
        )
        .unwrap();
        assert_eq!(c.parts[0].part_number, 1);
        assert_eq!(c.parts[0].etag, "\"AB\"");
        assert!(parse_xml::<CompleteRequest>(b"<nope").is_err());
    }
}
