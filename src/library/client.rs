//! A small blocking client of the shared library's Qdrant REST API, for the CLI (the page talks to
//! the server with `fetch`). It only carries: the bodies come from [`super`], and every answer is
//! handed back there to be checked. What it adds is what a network needs: the API key, the nodes
//! of one cluster (on a connection failure the next one is asked), retries while a cluster is
//! busy, answers read no further than [`MAX_ANSWER_BYTES`], and messages that say what went wrong.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;

use super::{
    Expect, MAX_ANSWER_BYTES, PAGE_SIZE, SharedHit, SharedReference, check_collection, create_collection_body, parse_scroll,
    parse_search_batch, payload_index_bodies, scroll_body, search_batch_body, upsert_body,
};
use crate::error::{Error, Result};

/// A node that does not answer the connection within this long is passed over.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one request may take, answer included (an upsert of a page waits for its replicas).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request is retried while the cluster answers "busy" (5xx: a node was lost and
/// the others are electing a leader or marking its replicas dead).
const RETRY_FOR: Duration = Duration::from_secs(30);
/// A pull takes at most this many references (≈ 0.5 GB at 128 values): a server that never ends
/// its pages is refused rather than followed.
pub const MAX_PULLED: usize = 1_000_000;

/// Whether a request changes the library: a read-only key may only read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    Read,
    Write,
}

/// One collection of one server (or of one cluster, through any of its nodes).
pub struct Client {
    agent: Agent,
    nodes: Vec<String>,
    api_key: Option<String>,
    collection: String,
    /// The node that answered last: asked first next time.
    current: Cell<usize>,
}

/// How one attempt at one node ended, when it did not give an answer to use.
enum Failure {
    /// No connection, or it broke: the next node may do.
    Unreachable(String),
    /// The server answered 5xx: worth asking again (here or elsewhere) a little later.
    Busy(String),
    /// The server said no (4xx): its status and answer.
    Refused { node: usize, status: u16, answer: Vec<u8> },
    /// Anything else: asking again would give the same.
    Final(Error),
}

fn library_error(message: impl Into<String>) -> Error {
    Error::Library(message.into())
}

impl Client {
    /// `urls`: one server, or the nodes of one cluster separated by commas (`http://` is assumed
    /// where no scheme is given). `api_key`: the server's key, if it asks for one.
    pub fn new(urls: &str, api_key: Option<&str>, collection: &str) -> Result<Self> {
        let nodes: Vec<String> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(node_url).collect();
        if nodes.is_empty() {
            return Err(library_error("no address of the shared library given (e.g. http://localhost:6333)"));
        }
        check_collection_name(collection)?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(CALL_TIMEOUT))
            .user_agent(concat!("beanscan/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.into(),
            nodes,
            api_key: api_key.filter(|k| !k.is_empty()).map(str::to_string),
            collection: collection.to_string(),
            current: Cell::new(0),
        })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The node last used, for messages.
    pub fn node(&self) -> &str {
        &self.nodes[self.current.get()]
    }

    /// Makes sure the collection exists and suits a model making `dim`-value embeddings: creates
    /// it (with its payload indexes; `replication`: copies of each shard in a cluster) when it is
    /// missing, checks it when it is there. Returns whether it was created.
    pub fn ensure_collection(&self, dim: usize, replication: Option<u32>) -> Result<bool> {
        if self.collection_exists(dim)? {
            return Ok(false);
        }
        let path = self.path("");
        let created =
            self.request("PUT", &path, Some(&create_collection_body(dim, replication)), Access::Write, "creating the collection");
        match created {
            Ok(_) => {}
            // Someone else (or an earlier try of ours that lost its answer) created it meanwhile.
            Err(_) if self.collection_exists(dim)? => {}
            Err(e) => return Err(e),
        }
        for body in payload_index_bodies() {
            self.request("PUT", &self.path("/index?wait=true"), Some(&body), Access::Write, "indexing the collection")?;
        }
        Ok(true)
    }

    /// Whether the collection exists; if it does, it must suit the model ([`check_collection`]).
    fn collection_exists(&self, dim: usize) -> Result<bool> {
        match self.send("GET", &self.path(""), None, "reading the collection") {
            Ok(answer) => check_collection(&answer, dim).map(|()| true),
            Err(Failure::Refused { status: 404, .. }) => Ok(false),
            Err(f) => Err(self.give_up(f, Access::Read, "reading the collection")),
        }
    }

    /// Upserts the references, [`PAGE_SIZE`] a request, each waiting until stored: pushing the
    /// same references again writes the same points. `done` hears the running count.
    pub fn push(&self, references: &[SharedReference], mut done: impl FnMut(usize)) -> Result<usize> {
        let path = self.path("/points?wait=true");
        let mut pushed = 0;
        for page in references.chunks(PAGE_SIZE) {
            let answer = self.request("PUT", &path, Some(&upsert_body(page)), Access::Write, "pushing references")?;
            let status =
                serde_json::from_slice::<Value>(&answer).ok().and_then(|v| v["result"]["status"].as_str().map(str::to_string));
            if !matches!(status.as_deref(), Some("completed" | "acknowledged")) {
                return Err(library_error(format!(
                    "pushing references: {} did not confirm the write ({})",
                    self.node(),
                    snippet(&answer)
                )));
            }
            pushed += page.len();
            done(pushed);
        }
        Ok(pushed)
    }

    /// Every point of the model (changed at or after `since`, ms; None: all), tombstones
    /// included, each checked against `expect`. Nothing is returned unless every page was
    /// read and every point passed.
    pub fn pull(&self, expect: &Expect, since: Option<i64>) -> Result<Vec<SharedReference>> {
        if !self.collection_exists(expect.dim)? {
            return Err(library_error(format!(
                "the shared library at {} has no collection \"{}\": push references to it first (or check --collection)",
                self.node(),
                self.collection
            )));
        }
        let path = self.path("/points/scroll");
        // By point id: a point a server repeats is still one reference.
        let mut points = BTreeMap::new();
        let mut offsets = HashSet::new();
        let mut offset: Option<String> = None;
        loop {
            let body = scroll_body(expect.model_id, since, offset.as_deref());
            let page = parse_scroll(&self.request("POST", &path, Some(&body), Access::Read, "pulling references")?, expect)?;
            for reference in page.references {
                points.insert(reference.point_id(), reference);
            }
            if points.len() > MAX_PULLED {
                return Err(library_error(format!("pulling references: more than {MAX_PULLED} points; refused")));
            }
            match page.next_offset {
                Some(next) if !offsets.insert(next.clone()) => {
                    return Err(library_error(format!("pulling references: the server sent page {next} twice; refused")));
                }
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(points.into_values().collect())
    }

    /// The `k` nearest live references of the model to each embedding, nearest first (one request).
    pub fn search(&self, expect: &Expect, embeddings: &[Vec<f32>], k: usize) -> Result<Vec<Vec<SharedHit>>> {
        let body = search_batch_body(expect.model_id, embeddings, k);
        let answer =
            self.request("POST", &self.path("/points/search/batch"), Some(&body), Access::Read, "searching references")?;
        parse_search_batch(&answer, expect, embeddings.len())
    }

    fn path(&self, rest: &str) -> String {
        format!("/collections/{}{rest}", self.collection)
    }

    /// One request, its answer's bytes when the server said 2xx; a clear error otherwise.
    fn request(&self, method: &str, path: &str, body: Option<&Value>, access: Access, what: &str) -> Result<Vec<u8>> {
        self.send(method, path, body, what).map_err(|f| self.give_up(f, access, what))
    }

    fn give_up(&self, failure: Failure, access: Access, what: &str) -> Error {
        match failure {
            Failure::Final(e) => e,
            Failure::Refused { node, status, answer } => self.refusal(node, status, &answer, access, what),
            Failure::Unreachable(why) => {
                let nodes = self.nodes.join(", ");
                library_error(format!(
                    "{what}: cannot reach the shared library at {nodes} ({why}): is the server running and the address right?"
                ))
            }
            Failure::Busy(why) => library_error(format!("{what}: the shared library kept failing ({why}); try again later")),
        }
    }

    /// Asks the nodes in turn, from the one that answered last: on to the next when one cannot
    /// be reached, again a little later while they answer 5xx. Ends when one answers, when a
    /// round finds no node reachable, or after [`RETRY_FOR`].
    fn send(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> std::result::Result<Vec<u8>, Failure> {
        let body = body.map(|b| serde_json::to_vec(b).expect("JSON values serialise"));
        let started = Instant::now();
        let n = self.nodes.len();
        let mut round = 0u32;
        loop {
            let mut unreachable = 0;
            let mut last = Failure::Unreachable(String::new());
            for step in 0..n {
                let node = (self.current.get() + step) % n;
                match self.attempt(node, method, path, body.as_deref(), what) {
                    Ok(answer) => {
                        self.current.set(node);
                        return Ok(answer);
                    }
                    Err(f @ (Failure::Final(_) | Failure::Refused { .. })) => {
                        self.current.set(node);
                        return Err(f);
                    }
                    Err(f @ Failure::Unreachable(_)) => {
                        unreachable += 1;
                        last = f;
                    }
                    Err(f @ Failure::Busy(_)) => last = f,
                }
            }
            round += 1;
            // A node refusing connections does not come back within a request; a busy one may
            // (and one that reset a connection it was killed on lets another take over).
            if unreachable == n && round >= 2 || started.elapsed() >= RETRY_FOR {
                return Err(last);
            }
            std::thread::sleep(Duration::from_millis(200 * u64::from(round.min(5))));
        }
    }

    fn attempt(
        &self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        what: &str,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let url = format!("{}{path}", self.nodes[node]);
        let mut request = ureq::http::Request::builder().method(method).uri(&url).header("accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("api-key", key);
        }
        let sent = match body {
            Some(body) => self.agent.run(
                request
                    .header("content-type", "application/json")
                    .body(body.to_vec())
                    .map_err(|e| Failure::Final(library_error(format!("{what}: {e}"))))?,
            ),
            None => self.agent.run(request.body(()).map_err(|e| Failure::Final(library_error(format!("{what}: {e}"))))?),
        };
        let mut response = sent.map_err(|e| transport_failure(e, &url, what))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES as u64)
            .read_to_vec()
            .map_err(|e| transport_failure(e, &url, what))?;
        match status {
            200..=299 => Ok(answer),
            500..=599 => Err(Failure::Busy(format!("{} answered {status}: {}", self.nodes[node], server_says(&answer)))),
            _ => Err(Failure::Refused { node, status, answer }),
        }
    }

    /// What a 4xx answer means, in words.
    fn refusal(&self, node: usize, status: u16, answer: &[u8], access: Access, what: &str) -> Error {
        let node = &self.nodes[node];
        let says = server_says(answer);
        library_error(match (status, access) {
            (401, _) if self.api_key.is_none() => {
                format!(
                    "{what}: the shared library at {node} needs an API key ({says}): give it with --api-key or QDRANT_API_KEY"
                )
            }
            (401, _) => format!(
                "{what}: the shared library at {node} did not accept the API key ({says}): check --api-key or QDRANT_API_KEY"
            ),
            (403, Access::Write) => {
                format!(
                    "{what}: this API key can only read the shared library: pushing needs the graders' key ({node} said: {says})"
                )
            }
            (403, Access::Read) => format!("{what}: the shared library at {node} refused this API key ({says})"),
            (404, _) => format!("{what}: {node} has no collection \"{}\" or is not a Qdrant server ({says})", self.collection),
            _ => format!("{what}: the shared library at {node} answered {status}: {says}"),
        })
    }
}

/// An address as typed (`host:port`, `http://host:port/`) as a base URL.
fn node_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.contains("://") { url.to_string() } else { format!("http://{url}") }
}

/// Collection names go into the URL path as they are: letters, digits, `-`, `_`, `.` only.
fn check_collection_name(name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name != "."
        && name != "..";
    if fine {
        Ok(())
    } else {
        Err(library_error(format!("\"{name}\" cannot be a collection name: use letters, digits, '-', '_' and '.'")))
    }
}

fn transport_failure(e: ureq::Error, url: &str, what: &str) -> Failure {
    match e {
        ureq::Error::BodyExceedsLimit(limit) => Failure::Final(library_error(format!(
            "{what}: the shared library's answer was refused: more than {limit} bytes, more than a page may take ({url})"
        ))),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_) => {
            Failure::Final(library_error(format!("{what}: {url} is not a usable address ({e})")))
        }
        e => Failure::Unreachable(e.to_string()),
    }
}

/// The server's own words: Qdrant's `status.error`, else the start of the body.
fn server_says(answer: &[u8]) -> String {
    serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v["status"]["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| snippet(answer))
}

/// At most 200 printable characters of a body.
fn snippet(answer: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(answer).chars().filter(|c| !c.is_control()).take(200).collect();
    if text.trim().is_empty() { "an empty answer".into() } else { text.trim().to_string() }
}
