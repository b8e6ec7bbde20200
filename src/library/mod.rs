//! The shared reference library: reference beans kept in a Qdrant collection, so that a bean one
//! grader confirms votes on every phone of the company. This module is the one place that says
//! what the collection holds — how it is created, its payload indexes, how a reference becomes a
//! point and back — and checks what a server sends like a file from outside. It does no I/O: the
//! CLI (`beanscan refs push|pull`, over HTTP) and the page (`fetch`, through the wasm module) carry
//! the bodies it writes and hand it the answers. Layout and protocol: docs/formats.md.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The CLI's blocking HTTP client (the page uses `fetch`).
#[cfg(not(target_arch = "wasm32"))]
pub mod client;

/// The collection's name unless one is given.
pub const DEFAULT_COLLECTION: &str = "beanscan-references";
/// Points per upsert request and per scroll page.
pub const PAGE_SIZE: usize = 256;
/// A server answer larger than this is refused unread (a page of 256 points is ≈ 0.5 MB).
pub const MAX_ANSWER_BYTES: usize = 8 << 20;
/// Longest text the payload may carry in one field (grader, device, site, label, ids).
pub const MAX_TEXT: usize = 200;
/// Payload fields with an index: pull filters on the model and the update time, a search also
/// leaves tombstones out (unindexed, that filter made a search of 10k references 7-50 ms instead
/// of 2-7), sites on site.
pub const PAYLOAD_INDEXES: [(&str, &str); 4] =
    [("model_id", "keyword"), ("updated_at", "integer"), ("deleted", "bool"), ("site", "keyword")];
/// A pull asks for points changed since its last high-water mark minus this: a phone whose clock
/// runs a little behind still has its pushes seen. Re-reading a point is harmless.
pub const CLOCK_SLACK_MS: i64 = 10 * 60 * 1000;
/// How far from unit length a stored embedding may be (ours are L2-normalised; JSON round-trips
/// an f32 exactly).
const NORM_SLACK: f32 = 1e-3;

/// One reference bean as a point of the collection. Only this leaves a device: never a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedReference {
    /// The reference's id on the device that added it (`user-XXXXXXXX`, from its label and
    /// embedding: the same bean under the same label is the same reference everywhere).
    pub ref_id: String,
    pub label: String,
    /// L2-normalised, the model's embedding size.
    pub embedding: Vec<f32>,
    /// The bundle's model ([`crate::references::model_id`]): embeddings of another model never mix.
    pub model_id: String,
    pub grader: String,
    pub device: String,
    pub site: String,
    /// Milliseconds since 1970 (UTC), set by the device that made the change.
    pub created_at: i64,
    pub updated_at: i64,
    /// A tombstone: the reference was taken back (Undo). Kept so that other phones drop it too.
    pub deleted: bool,
}

/// The point id of a reference: a UUID (v5) of the model and the reference id, so re-uploading a
/// reference, from any device, writes the same point.
pub fn point_id(model_id: &str, ref_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("beanscan/{model_id}/{ref_id}").as_bytes()).to_string()
}

impl SharedReference {
    pub fn point_id(&self) -> String {
        point_id(&self.model_id, &self.ref_id)
    }

    /// The point as Qdrant's REST API takes it.
    pub fn to_point(&self) -> Value {
        json!({
            "id": self.point_id(),
            "vector": self.embedding,
            "payload": {
                "ref_id": self.ref_id,
                "label": self.label,
                "model_id": self.model_id,
                "grader": self.grader,
                "device": self.device,
                "site": self.site,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "deleted": self.deleted,
            },
        })
    }
}

/// What a pull must match: the loaded model, its embedding size and its classes.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub model_id: &'a str,
    pub dim: usize,
    pub class_names: &'a [String],
}

/// `PUT /collections/NAME`: one vector per point, compared by Euclidean distance as the local
/// vote does. `replication`: copies of each shard in a cluster (None: the server's default).
pub fn create_collection_body(dim: usize, replication: Option<u32>) -> Value {
    let mut body = json!({ "vectors": { "size": dim, "distance": "Euclid" } });
    if let Some(r) = replication {
        body["replication_factor"] = json!(r);
    }
    body
}

/// `PUT /collections/NAME/index`, one per [`PAYLOAD_INDEXES`] entry.
pub fn payload_index_bodies() -> Vec<Value> {
    PAYLOAD_INDEXES.iter().map(|(field, schema)| json!({ "field_name": field, "field_schema": schema })).collect()
}

/// `PUT /collections/NAME/points?wait=true`: at most [`PAGE_SIZE`] references per call.
pub fn upsert_body(references: &[SharedReference]) -> Value {
    json!({ "points": references.iter().map(SharedReference::to_point).collect::<Vec<_>>() })
}

/// `POST /collections/NAME/points/scroll`: the model's points changed at or after `since` (ms;
/// None: all), a page at a time from `offset` (the previous page's `next_page_offset`).
pub fn scroll_body(model_id: &str, since: Option<i64>, offset: Option<&str>) -> Value {
    let mut must = vec![json!({ "key": "model_id", "match": { "value": model_id } })];
    if let Some(since) = since {
        must.push(json!({ "key": "updated_at", "range": { "gte": since } }));
    }
    let mut body = json!({ "filter": { "must": must }, "limit": PAGE_SIZE, "with_payload": true, "with_vector": true });
    if let Some(offset) = offset {
        body["offset"] = json!(offset);
    }
    body
}

/// Above this many shared references a phone stops keeping the library and asks the server for
/// each bean's nearest instead (online; offline it votes with what it kept). Each kept reference
/// is scanned for every bean: ≈ 0.09 µs natively, 1.3–1.8× that in wasm, so 20,000 add ≈ 3 ms a
/// bean (0.7 s to a 245-bean tray) and 10 MB (docs/results.md, "Shared reference library").
pub const LOCAL_MAX: usize = 20_000;

/// One search of `POST /collections/NAME/points/search/batch`: the `k` nearest live references of
/// the model. Vectors are not asked for: the vote needs labels and distances only.
fn search_query(model_id: &str, embedding: &[f32], k: usize) -> Value {
    json!({
        "vector": embedding,
        "limit": k,
        "filter": {
            "must": [{ "key": "model_id", "match": { "value": model_id } }],
            "must_not": [{ "key": "deleted", "match": { "value": true } }],
        },
        "with_payload": ["ref_id", "label", "model_id", "grader", "deleted"],
        "with_vector": false,
    })
}

/// `POST /collections/NAME/points/search/batch`: every bean of a photo (or a tray) in one request.
pub fn search_batch_body(model_id: &str, embeddings: &[Vec<f32>], k: usize) -> Value {
    json!({ "searches": embeddings.iter().map(|e| search_query(model_id, e, k)).collect::<Vec<_>>() })
}

/// The total of the model's live references (`POST /collections/NAME/points/count`): whether a
/// phone keeps the library ([`LOCAL_MAX`]). Exact: on a collection without the `deleted` index
/// (made before it) Qdrant's estimate under this filter was half the truth (10,046 for 17,220
/// live points; 50,000 for 99,000); an exact count of 99,000 took 20–150 ms on a loaded 2-core
/// machine, once a sync.
pub fn count_body(model_id: &str) -> Value {
    json!({
        "filter": {
            "must": [{ "key": "model_id", "match": { "value": model_id } }],
            "must_not": [{ "key": "deleted", "match": { "value": true } }],
        },
        "exact": true,
    })
}

/// Checks a count answer.
pub fn parse_count(answer: &[u8]) -> Result<usize> {
    let result = result_of(answer)?;
    result["count"].as_u64().map(|c| c as usize).ok_or_else(|| refused("no count"))
}

/// Where a pull restarts next time: the newest change it saw, less [`CLOCK_SLACK_MS`].
pub fn next_since(points: &[SharedReference], previous: Option<i64>) -> Option<i64> {
    let newest = points.iter().map(|p| p.updated_at).max();
    match (newest, previous) {
        (Some(n), Some(p)) => Some((n - CLOCK_SLACK_MS).max(p)),
        (Some(n), None) => Some(n - CLOCK_SLACK_MS),
        (None, p) => p,
    }
}

/// The references of a `.beanrefs` file (or a device's own) as points, stamped with who, where
/// and when (`now`: ms since 1970).
pub fn from_references(file: &crate::references::ReferencesFile, who: &Who, now: i64) -> Vec<SharedReference> {
    let refs = &file.references;
    (0..refs.len())
        .map(|i| SharedReference {
            ref_id: refs.ids[i].clone(),
            label: file.class_names[usize::from(refs.labels[i])].clone(),
            embedding: refs.row(i).to_vec(),
            model_id: file.model_id.clone(),
            grader: who.grader.clone(),
            device: who.device.clone(),
            site: who.site.clone(),
            created_at: now,
            updated_at: now,
            deleted: false,
        })
        .collect()
}

/// Who shares: written on every point pushed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Who {
    pub grader: String,
    pub device: String,
    pub site: String,
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::Library(format!("the shared library's answer was refused: {why}"))
}

/// Parses an answer's bytes as JSON (after checking its size) and unwraps Qdrant's `result`.
fn result_of(answer: &[u8]) -> Result<Value> {
    if answer.len() > MAX_ANSWER_BYTES {
        return Err(refused(format!("{} bytes, more than the {} a page may take", answer.len(), MAX_ANSWER_BYTES)));
    }
    let value: Value = serde_json::from_slice(answer).map_err(|e| refused(format!("not JSON ({e})")))?;
    match value.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(refused("no \"result\" in it (is the address a Qdrant server?)")),
    }
}

/// Checks `GET /collections/NAME`'s answer: one unnamed vector of the model's size, Euclidean.
pub fn check_collection(answer: &[u8], dim: usize) -> Result<()> {
    let result = result_of(answer)?;
    let vectors = &result["config"]["params"]["vectors"];
    let size = vectors["size"].as_u64().ok_or_else(|| refused("the collection has no single vector size (named vectors?)"))?;
    if size as usize != dim {
        return Err(refused(format!(
            "the collection holds {size}-value vectors; this model makes {dim}: use another collection"
        )));
    }
    match vectors["distance"].as_str() {
        Some("Euclid") => Ok(()),
        other => Err(refused(format!(
            "the collection compares by {} distance, beanscan by Euclid: use another collection",
            other.unwrap_or("an unknown")
        ))),
    }
}

/// One page of a scroll (or the hits of a search).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub references: Vec<SharedReference>,
    /// The point id the next page starts at; None at the end.
    pub next_offset: Option<String>,
}

/// Checks a scroll answer, every point of it: the whole page is refused if one point is wrong,
/// so a bad answer never changes a local library.
pub fn parse_scroll(answer: &[u8], expect: &Expect) -> Result<Page> {
    let result = result_of(answer)?;
    let points = result["points"].as_array().ok_or_else(|| refused("no list of points"))?;
    let references = points
        .iter()
        .enumerate()
        .map(|(i, p)| parse_point(p, expect).map_err(|e| refused(format!("point {}: {e}", i + 1))))
        .collect::<Result<Vec<_>>>()?;
    let next_offset = match &result["next_page_offset"] {
        Value::Null => None,
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Some(s.clone()),
        other => return Err(refused(format!("the next page's offset is not a point id ({other})"))),
    };
    Ok(Page { references, next_offset })
}

/// A reference the server found near a bean: what the vote needs of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedHit {
    pub point_id: String,
    pub ref_id: String,
    pub label: String,
    pub grader: String,
    /// Euclidean distance to the bean (0–2 between unit vectors).
    pub distance: f32,
}

/// Checks a batch search answer: one list of hits per bean asked about, in order, each hit's
/// payload as a pulled point's, its id matching, its distance in 0–2, nearest first. One bad hit
/// refuses the whole answer.
pub fn parse_search_batch(answer: &[u8], expect: &Expect, beans: usize) -> Result<Vec<Vec<SharedHit>>> {
    let result = result_of(answer)?;
    let lists = result.as_array().ok_or_else(|| refused("no list of answers"))?;
    if lists.len() != beans {
        return Err(refused(format!("{} answers to {beans} questions", lists.len())));
    }
    lists
        .iter()
        .enumerate()
        .map(|(b, list)| {
            let hits = list.as_array().ok_or_else(|| refused(format!("bean {}: no list of hits", b + 1)))?;
            let hits = hits.iter().map(|h| parse_hit(h, expect)).collect::<std::result::Result<Vec<_>, _>>();
            let hits = hits.map_err(|e| refused(format!("bean {}: {e}", b + 1)))?;
            if hits.windows(2).any(|w| w[1].distance < w[0].distance) {
                return Err(refused(format!("bean {}: hits not nearest first", b + 1)));
            }
            Ok(hits)
        })
        .collect()
}

fn parse_hit(hit: &Value, expect: &Expect) -> std::result::Result<SharedHit, String> {
    let (payload, model_id, label) = model_and_label(hit, expect)?;
    if payload.get("deleted").and_then(Value::as_bool) != Some(false) {
        return Err("a reference taken back (deleted) or without its flag".into());
    }
    let ref_id = text(payload, "ref_id")?;
    let point_id = hit.get("id").and_then(Value::as_str).ok_or("no point id")?.to_string();
    if point_id != self::point_id(&model_id, &ref_id) {
        return Err(format!("its id {point_id} is not the one its model and reference id give"));
    }
    let distance =
        hit.get("score").and_then(Value::as_f64).filter(|d| (0.0..=2.0 + 1e-3).contains(d)).ok_or("no distance in 0–2")?;
    Ok(SharedHit { point_id, ref_id, label, grader: text(payload, "grader")?, distance: distance as f32 })
}

/// Checks a reference about to be pushed as a pulled point is checked (the model, its size, its
/// classes, finite unit-length values, text lengths): a device sends nothing it would refuse.
pub fn check_reference(reference: &SharedReference, expect: &Expect) -> Result<()> {
    parse_point(&reference.to_point(), expect)
        .map(drop)
        .map_err(|e| Error::Library(format!("reference {}: {e}", reference.ref_id)))
}

fn text(payload: &Value, key: &str) -> std::result::Result<String, String> {
    match payload.get(key) {
        Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(s.clone()),
        Some(Value::String(s)) => Err(format!("\"{key}\" is {} bytes long (at most {MAX_TEXT})", s.len())),
        _ => Err(format!("no text \"{key}\"")),
    }
}

fn time(payload: &Value, key: &str) -> std::result::Result<i64, String> {
    payload.get(key).and_then(Value::as_i64).filter(|t| *t >= 0).ok_or_else(|| format!("no time \"{key}\" (milliseconds)"))
}

/// A point's (or hit's) payload, once its model is the loaded one and its label one of its classes.
fn model_and_label<'a>(point: &'a Value, expect: &Expect) -> std::result::Result<(&'a Value, String, String), String> {
    let payload = point.get("payload").filter(|p| p.is_object()).ok_or("no payload")?;
    let model_id = text(payload, "model_id")?;
    if model_id != expect.model_id {
        return Err(format!("made with another model ({model_id}; loaded: {})", expect.model_id));
    }
    let label = text(payload, "label")?;
    if !expect.class_names.contains(&label) {
        return Err(format!("label \"{label}\" is not one of the model's classes"));
    }
    Ok((payload, model_id, label))
}

fn parse_point(point: &Value, expect: &Expect) -> std::result::Result<SharedReference, String> {
    let (payload, model_id, label) = model_and_label(point, expect)?;
    let embedding = vector(point.get("vector"), expect.dim)?;
    let deleted = payload.get("deleted").and_then(Value::as_bool).ok_or("no \"deleted\" flag")?;
    let reference = SharedReference {
        ref_id: text(payload, "ref_id")?,
        label,
        embedding,
        model_id,
        grader: text(payload, "grader")?,
        device: text(payload, "device")?,
        site: text(payload, "site")?,
        created_at: time(payload, "created_at")?,
        updated_at: time(payload, "updated_at")?,
        deleted,
    };
    let id = point.get("id").and_then(Value::as_str).ok_or("no point id")?;
    if id != reference.point_id() {
        return Err(format!("its id {id} is not the one its model and reference id give"));
    }
    Ok(reference)
}

fn vector(value: Option<&Value>, dim: usize) -> std::result::Result<Vec<f32>, String> {
    let values = value.and_then(Value::as_array).ok_or("no vector")?;
    if values.len() != dim {
        return Err(format!("its vector has {} values; this model makes {dim}", values.len()));
    }
    let embedding: Vec<f32> = values
        .iter()
        .map(|v| v.as_f64().map(|x| x as f32))
        .collect::<Option<_>>()
        .ok_or("its vector holds something that is not a number")?;
    if embedding.iter().any(|v| !v.is_finite()) {
        return Err("its vector holds a value that is not a finite number".into());
    }
    let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    if (norm - 1.0).abs() > NORM_SLACK {
        return Err(format!("its vector is not of unit length ({norm:.4})"));
    }
    Ok(embedding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        vec!["Black".into(), "Normal".into()]
    }

    fn reference() -> SharedReference {
        SharedReference {
            ref_id: "user-0123abcd".into(),
            label: "Black".into(),
            embedding: vec![0.6, 0.8],
            model_id: "0badf00d".into(),
            grader: "Ana".into(),
            device: "dev-1".into(),
            site: "Santos".into(),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
            deleted: false,
        }
    }

    fn answer(points: Vec<Value>, next: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "result": { "points": points, "next_page_offset": next }, "status": "ok" })).unwrap()
    }

    fn parse(points: Vec<Value>) -> Result<Page> {
        let classes = classes();
        parse_scroll(&answer(points, Value::Null), &Expect { model_id: "0badf00d", dim: 2, class_names: &classes })
    }

    #[test]
    fn a_point_round_trips_and_its_id_is_stable() {
        let r = reference();
        assert_eq!(r.point_id(), point_id("0badf00d", "user-0123abcd"));
        assert_ne!(r.point_id(), point_id("12345678", "user-0123abcd"), "another model, another point");
        let page = parse(vec![r.to_point()]).unwrap();
        assert_eq!(page.references, vec![r]);
        assert_eq!(page.next_offset, None);
    }

    #[test]
    fn every_kind_of_bad_point_is_refused_with_the_whole_page() {
        let bad = |edit: &dyn Fn(&mut Value)| {
            let mut p = reference().to_point();
            edit(&mut p);
            parse(vec![reference().to_point(), p]).unwrap_err().to_string()
        };
        assert!(bad(&|p| p["vector"] = json!([0.6, 0.8, 0.0])).contains("3 values"));
        assert!(bad(&|p| p["vector"] = json!([null, 1.0])).contains("not a number"));
        assert!(bad(&|p| p["vector"] = json!([3.0, 4.0])).contains("unit length"));
        assert!(bad(&|p| p["payload"]["label"] = json!("Purple")).contains("\"Purple\" is not one"));
        assert!(bad(&|p| p["payload"]["model_id"] = json!("12345678")).contains("another model"));
        assert!(bad(&|p| p["payload"]["grader"] = json!("x".repeat(5000))).contains("5000 bytes"));
        assert!(bad(&|p| p["payload"]["deleted"] = json!("no")).contains("deleted"));
        assert!(bad(&|p| p["payload"]["updated_at"] = json!(-4)).contains("updated_at"));
        assert!(bad(&|p| p["id"] = json!(7)).contains("point id"));
        assert!(bad(&|p| p["payload"]["ref_id"] = json!("user-ffffffff")).contains("is not the one"));
        assert!(bad(&|p| p["vector"] = json!([0.0, 2.0])).contains("point 2"), "the page names the point");
    }

    #[test]
    fn bad_answers_as_a_whole_are_refused() {
        let classes = classes();
        let expect = Expect { model_id: "0badf00d", dim: 2, class_names: &classes };
        assert!(parse_scroll(b"<html>", &expect).unwrap_err().to_string().contains("not JSON"));
        assert!(parse_scroll(b"{\"status\":\"ok\"}", &expect).unwrap_err().to_string().contains("no \"result\""));
        assert!(parse_scroll(&vec![b' '; MAX_ANSWER_BYTES + 1], &expect).unwrap_err().to_string().contains("more than"));
        let odd = answer(vec![], json!({ "x": 1 }));
        assert!(parse_scroll(&odd, &expect).unwrap_err().to_string().contains("offset"));
        let next = reference().point_id();
        assert_eq!(parse_scroll(&answer(vec![], json!(next)), &expect).unwrap().next_offset, Some(next));
    }

    #[test]
    fn a_reference_is_checked_before_it_is_pushed() {
        let classes = classes();
        let expect = Expect { model_id: "0badf00d", dim: 2, class_names: &classes };
        check_reference(&reference(), &expect).unwrap();
        let bad = |edit: &dyn Fn(&mut SharedReference)| {
            let mut r = reference();
            edit(&mut r);
            check_reference(&r, &expect).unwrap_err().to_string()
        };
        assert!(bad(&|r| r.embedding = vec![f32::NAN, 1.0]).contains("not a number"));
        assert!(bad(&|r| r.label = "Purple".into()).contains("\"Purple\""));
        assert!(bad(&|r| r.model_id = "12345678".into()).contains("another model"));
        assert!(bad(&|r| r.site = "x".repeat(300)).contains("300 bytes"));
    }

    #[test]
    fn search_hits_are_checked_like_points() {
        let classes = classes();
        let expect = Expect { model_id: "0badf00d", dim: 2, class_names: &classes };
        let r = reference();
        let hit = |edit: &dyn Fn(&mut Value)| {
            let mut h = json!({ "id": r.point_id(), "score": 0.25, "payload": r.to_point()["payload"].clone() });
            edit(&mut h);
            h
        };
        let answer = |lists: Value| serde_json::to_vec(&json!({ "result": lists })).unwrap();
        let ok = parse_search_batch(&answer(json!([[hit(&|_| {})], []])), &expect, 2).unwrap();
        assert_eq!(ok[0][0].distance, 0.25);
        assert_eq!((ok[0][0].label.as_str(), ok[1].len()), ("Black", 0));
        let bad = |h: Value| parse_search_batch(&answer(json!([[h]])), &expect, 1).unwrap_err().to_string();
        assert!(bad(hit(&|h| h["payload"]["deleted"] = json!(true))).contains("taken back"));
        assert!(bad(hit(&|h| h["payload"]["model_id"] = json!("12345678"))).contains("another model"));
        assert!(bad(hit(&|h| h["payload"]["label"] = json!("Purple"))).contains("Purple"));
        assert!(bad(hit(&|h| h["score"] = json!(7.0))).contains("0–2"));
        assert!(bad(hit(&|h| h["id"] = json!(point_id("0badf00d", "user-1")))).contains("is not the one"));
        let unordered = json!([[hit(&|h| h["score"] = json!(0.5)), hit(&|_| {})]]);
        assert!(parse_search_batch(&answer(unordered), &expect, 1).unwrap_err().to_string().contains("nearest first"));
        assert!(parse_search_batch(&answer(json!([[]])), &expect, 2).unwrap_err().to_string().contains("1 answers to 2"));
        assert_eq!(parse_count(br#"{"result":{"count":20001},"status":"ok"}"#).unwrap(), 20_001);
        assert!(parse_count(br#"{"result":{"count":-1}}"#).unwrap_err().to_string().contains("no count"));
        assert_eq!(count_body("0badf00d")["exact"], json!(true), "an estimate is far off under this filter");
        let body = search_batch_body("0badf00d", &[vec![0.6, 0.8]], 5);
        assert_eq!(body["searches"][0]["with_vector"], json!(false));
        assert_eq!(body["searches"][0]["filter"]["must_not"][0]["key"], json!("deleted"));
    }

    #[test]
    fn the_collection_must_match_the_model() {
        let of = |size: u64, distance: &str| {
            serde_json::to_vec(
                &json!({ "result": { "config": { "params": { "vectors": { "size": size, "distance": distance } } } } }),
            )
            .unwrap()
        };
        check_collection(&of(128, "Euclid"), 128).unwrap();
        assert!(check_collection(&of(512, "Euclid"), 128).unwrap_err().to_string().contains("512-value"));
        assert!(check_collection(&of(128, "Cosine"), 128).unwrap_err().to_string().contains("Cosine"));
    }

    #[test]
    fn pulls_restart_a_little_before_the_newest_change() {
        let mut r = reference();
        assert_eq!(next_since(&[], Some(5)), Some(5));
        r.updated_at = CLOCK_SLACK_MS + 100;
        assert_eq!(next_since(std::slice::from_ref(&r), None), Some(100));
        assert_eq!(next_since(std::slice::from_ref(&r), Some(500)), Some(500), "never moves back");
        let body = scroll_body("0badf00d", Some(100), Some("x"));
        assert_eq!(body["filter"]["must"][1]["range"]["gte"], json!(100));
        assert_eq!(body["offset"], json!("x"));
    }
}
