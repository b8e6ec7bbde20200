#![cfg(not(target_arch = "wasm32"))]
//! End-to-end, native: `beanscan refs add|push|pull` and `classify --refs` against the real Qdrant
//! server (`./build.sh qdrant`; a missing server fails these tests, it never skips them). Each
//! test starts its own server (or cluster) on free loopback ports with its own storage and an API
//! key, and kills it when it ends, panics included. What a server may send wrongly is served by a
//! fake server; the local `.beanrefs` file must then stay as it was.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use beanscan::Bundle;
use beanscan::index::ReferenceSet;
use beanscan::library::{self, SharedReference};
use beanscan::references::{self, ReferencesFile};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use common::temp_dir;

const DATA: &str = "../shared/data/greencoffee";
const KEY: &str = "graders-key-0123";
const READ_KEY: &str = "readers-key-4567";
const COLLECTION: &str = "beanscan-references";

// ---------------------------------------------------------------------------------------------
// The server under test

/// The Qdrant binary: `$BEANSCAN_QDRANT` (set by `./build.sh test`), else where `./build.sh
/// qdrant` unpacks it.
fn qdrant_binary() -> PathBuf {
    let path = std::env::var_os("BEANSCAN_QDRANT").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
            let cache = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/beanscan-target"));
            cache.filter(|c| c.is_dir()).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        });
        target.join("qdrant/qdrant-1.18.3")
    });
    assert!(path.is_file(), "no Qdrant server at {}: run ./build.sh qdrant", path.display());
    path
}

/// `n` distinct loopback ports nothing listens on (held together, so none is given twice).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// One Qdrant process: killed (SIGKILL) and its storage removed when dropped.
struct Qdrant {
    child: Option<Child>,
    http: u16,
    p2p: u16,
    dir: PathBuf,
}

/// How a node joins a cluster: None for a single server.
enum Role {
    Single,
    First,
    Joining { bootstrap_p2p: u16 },
}

impl Qdrant {
    fn start(name: &str, read_only_key: Option<&str>, role: Role) -> Self {
        let dir = temp_dir(&format!("qdrant-{name}"));
        let [http, grpc, p2p] = free_ports(3)[..] else { unreachable!() };
        let log = std::fs::File::create(dir.join("qdrant.log")).unwrap();
        let mut command = Command::new(qdrant_binary());
        command
            .current_dir(&dir)
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", dir.join("snapshots"))
            .env("QDRANT__SERVICE__API_KEY", KEY)
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(key) = read_only_key {
            command.env("QDRANT__SERVICE__READ_ONLY_API_KEY", key);
        }
        let own_uri = format!("http://127.0.0.1:{p2p}");
        match role {
            Role::Single => {}
            Role::First => {
                command
                    .env("QDRANT__CLUSTER__ENABLED", "true")
                    .env("QDRANT__CLUSTER__P2P__PORT", p2p.to_string())
                    .args(["--uri", &own_uri]);
            }
            Role::Joining { bootstrap_p2p } => {
                command.env("QDRANT__CLUSTER__ENABLED", "true").env("QDRANT__CLUSTER__P2P__PORT", p2p.to_string()).args([
                    "--bootstrap",
                    &format!("http://127.0.0.1:{bootstrap_p2p}"),
                    "--uri",
                    &own_uri,
                ]);
            }
        }
        let child = command.spawn().expect("the Qdrant server starts");
        Self { child: Some(child), http, p2p, dir }
    }

    /// A single server, ready.
    fn single(name: &str, read_only_key: Option<&str>) -> Self {
        let server = Self::start(name, read_only_key, Role::Single);
        server.wait_ready();
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if rest("GET", &format!("{}/readyz", self.url()), None).0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Qdrant on port {} not ready after 60 s; its log:\n{}", self.http, self.log_tail());
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("qdrant.log")).unwrap_or_default();
        log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Points in the collection (all models), counted exactly.
    fn count(&self) -> u64 {
        let (status, answer) =
            rest("POST", &format!("{}/collections/{COLLECTION}/points/count", self.url()), Some(json!({ "exact": true })));
        assert_eq!(status, 200, "{answer}");
        answer["result"]["count"].as_u64().unwrap()
    }
}

impl Drop for Qdrant {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// One REST call with the graders' key: the status (0: no connection) and the JSON answer.
fn rest(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
    let request =
        ureq::http::Request::builder().method(method).uri(url).header("api-key", KEY).header("content-type", "application/json");
    let answer = match body {
        Some(body) => agent.run(request.body(body.to_string()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    };
    match answer {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        Err(_) => (0, Value::Null),
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI and its files

/// Runs the CLI (without any QDRANT_API_KEY of the caller's); success or not.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beanscan")).args(args).env_remove("QDRANT_API_KEY").output().unwrap()
}

/// Runs the CLI and insists that it fails with a message holding each of `words`.
fn fails(args: &[&str], words: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "beanscan {args:?} should have failed; stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    for word in words {
        assert!(stderr.contains(word), "beanscan {args:?}: {word:?} not in its message:\n{stderr}");
    }
    stderr
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The first `n` val photos of a class (faces that show it).
fn photos(label: &str, n: usize) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let manifest = std::fs::read_to_string(root.join("manifest.csv")).expect("shared data present");
    let rows = manifest.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>());
    rows.filter(|f| f[1] == label && f[6] == "val" && f[5] == "1").take(n).map(|f| root.join(f[0])).collect()
}

/// The built-in bundle's model: id, embedding size, classes.
struct Model {
    id: String,
    dim: usize,
    classes: Vec<String>,
}

fn model() -> Model {
    let bundle = Bundle::embedded().unwrap();
    Model { id: references::model_id(&bundle.weights), dim: bundle.model.embed_dim, classes: bundle.class_names }
}

/// `n` references of the built-in model with random unit embeddings, ids `user-SSNNNNNN`.
fn synthetic(n: usize, seed: u8) -> ReferencesFile {
    let model = model();
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(seed));
    let mut set = ReferenceSet::new(model.dim);
    for i in 0..n {
        let v: Vec<f32> = (0..model.dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
        set.push(&unit, (i % model.classes.len()) as u16, format!("user-{seed:02x}{i:06x}")).unwrap();
    }
    ReferencesFile { model_id: model.id, class_names: model.classes, references: set, traits: Vec::new() }
}

fn write(file: &ReferencesFile, path: &Path) {
    std::fs::write(path, file.to_bytes().unwrap()).unwrap();
}

fn read(path: &Path) -> ReferencesFile {
    ReferencesFile::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

/// A file's references by id: (id, label name, embedding bits), in id order.
fn contents(file: &ReferencesFile) -> Vec<(String, String, Vec<u32>)> {
    let refs = &file.references;
    let mut rows: Vec<_> = (0..refs.len())
        .map(|i| {
            (
                refs.ids[i].clone(),
                file.class_names[usize::from(refs.labels[i])].clone(),
                refs.row(i).iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect();
    rows.sort();
    rows
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Real photos: `refs add` (twice, the second adding to the file) → `push` → `pull` gives the
/// same references, ids, labels and embeddings bit for bit; pushing again adds no point.
#[test]
fn references_of_real_photos_go_to_the_library_and_come_back_the_same() {
    let server = Qdrant::single("round-trip", None);
    let dir = temp_dir("library-round-trip");
    let (added, pulled) = (dir.join("added.beanrefs"), dir.join("pulled.beanrefs"));
    let (black, sour) = (photos("Black", 3), photos("Sour", 2));
    let mut args = vec!["refs", "add", "--label", "Black", "--out", text(&added)];
    args.extend(black.iter().map(|p| text(p)));
    common::beanscan(&args);
    let mut args = vec!["refs", "add", "--label", "Sour", "--out", text(&added)];
    args.extend(sour.iter().map(|p| text(p)));
    let out = common::beanscan(&args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(5 in all)"), "{out:?}");
    assert_eq!(read(&added).references.len(), 5);

    let url = server.url();
    let push = ["refs", "push", "--qdrant", &url, "--api-key", KEY, "--grader", "Ana", "--site", "Santos", text(&added)];
    let out = common::beanscan(&push);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pushed 5 references"), "{out:?}");
    assert_eq!(server.count(), 5);
    common::beanscan(&push);
    assert_eq!(server.count(), 5, "pushing the same references again writes the same points");

    // The key from the environment this time.
    let out = Command::new(env!("CARGO_BIN_EXE_beanscan"))
        .args(["refs", "pull", "--qdrant", &url, "--out", text(&pulled)])
        .env("QDRANT_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (read(&added), read(&pulled));
    assert_eq!(b.model_id, a.model_id);
    assert_eq!(contents(&b), contents(&a));

    let (_, point) = rest(
        "GET",
        &format!("{url}/collections/{COLLECTION}/points/{}", library::point_id(&a.model_id, &a.references.ids[0])),
        None,
    );
    assert_eq!(point["result"]["payload"]["grader"], "Ana", "{point}");
    assert_eq!(point["result"]["payload"]["site"], "Santos", "{point}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `classify --refs`: a photo added under another class than the bundle gives it, with k = 1,
/// is its own nearest neighbour and takes that class.
#[test]
fn classify_lets_a_references_file_vote() {
    let dir = temp_dir("library-classify");
    let photo = photos("Black", 1).remove(0);
    let label_of = |extra: &[&str]| {
        let mut args = vec!["classify", "--k", "1"];
        args.extend_from_slice(extra);
        args.push(text(&photo));
        let stdout = String::from_utf8(common::beanscan(&args).stdout).unwrap();
        let fields: Vec<String> = stdout.trim().split('\t').map(str::to_string).collect();
        (fields[1].clone(), fields[3].parse::<f32>().unwrap())
    };
    let (before, _) = label_of(&[]);
    let other = model().classes.into_iter().find(|c| *c != before && c != "Black").unwrap();
    let refs = dir.join("mine.beanrefs");
    common::beanscan(&["refs", "add", "--label", &other, "--out", text(&refs), text(&photo)]);
    let (after, distance) = label_of(&["--refs", text(&refs)]);
    assert_eq!(after, other, "was {before}");
    assert!(distance < 1e-3, "its own embedding: {distance}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A read-only key cannot push, a wrong key or no key is refused, a server that is not there is
/// named; every failed pull leaves its --out file as it was.
#[test]
fn refused_keys_and_missing_servers_say_so_and_change_nothing() {
    let server = Qdrant::single("keys", Some(READ_KEY));
    let dir = temp_dir("library-keys");
    let (mine, out) = (dir.join("mine.beanrefs"), dir.join("pulled.beanrefs"));
    write(&synthetic(40, 1), &mine);
    let url = server.url();
    common::beanscan(&["refs", "push", "--qdrant", &url, "--api-key", KEY, text(&mine)]);
    write(&synthetic(3, 2), &out);
    let before = std::fs::read(&out).unwrap();

    let more = dir.join("more.beanrefs");
    write(&synthetic(10, 3), &more);
    fails(
        &["refs", "push", "--qdrant", &url, "--api-key", READ_KEY, text(&more)],
        &["this API key can only read the shared library", "graders' key"],
    );
    assert_eq!(server.count(), 40, "nothing written with a read-only key");
    let long = "x".repeat(300);
    fails(
        &["refs", "push", "--qdrant", &url, "--api-key", KEY, "--grader", &long, text(&more)],
        &["\"grader\" is 300 bytes long"],
    );
    assert_eq!(server.count(), 40, "nothing sent that a pull would refuse");
    fails(
        &["refs", "push", "--qdrant", &url, "--api-key", "wrong", text(&more)],
        &["did not accept the API key", "Invalid API key"],
    );
    fails(&["refs", "pull", "--qdrant", &url, "--api-key", "wrong", "--out", text(&out)], &["did not accept the API key"]);
    fails(&["refs", "pull", "--qdrant", &url, "--out", text(&out)], &["needs an API key", "QDRANT_API_KEY"]);
    fails(
        &["refs", "pull", "--qdrant", &url, "--api-key", KEY, "--collection", "elsewhere", "--out", text(&out)],
        &["no collection \"elsewhere\""],
    );
    let nobody = format!("http://127.0.0.1:{}", free_ports(1)[0]);
    fails(
        &["refs", "pull", "--qdrant", &nobody, "--api-key", KEY, "--out", text(&out)],
        &["cannot reach the shared library", &nobody],
    );
    fails(&["refs", "push", "--qdrant", &nobody, "--api-key", KEY, text(&more)], &["cannot reach the shared library"]);
    assert_eq!(std::fs::read(&out).unwrap(), before, "failed pulls leave the file alone");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Reading is what a read-only key is for.
    let read_only = dir.join("read-only.beanrefs");
    common::beanscan(&["refs", "pull", "--qdrant", &url, "--api-key", READ_KEY, "--out", text(&read_only)]);
    assert_eq!(contents(&read(&read_only)), contents(&synthetic(40, 1)));
    std::fs::remove_dir_all(&dir).ok();
}

/// A fake server: `/collections/NAME` is a fine collection of the model's size, `…/points/scroll`
/// answers `scroll` (status 200). Serves until the test process ends.
fn fake_server(dim: usize, scroll: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let collection = json!({ "result": { "status": "green", "config": { "params": { "vectors": { "size": dim, "distance": "Euclid" } } } }, "status": "ok" });
    let collection = collection.to_string().into_bytes();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let path = read_request(&stream);
            let body = if path.ends_with("/points/scroll") { &scroll } else { &collection };
            let mut stream = stream;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            // The client may hang up on a huge answer: fine.
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
        }
    });
    url
}

/// Reads one HTTP request off the stream; gives its path.
fn read_request(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap_or(0);
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok();
    path
}

/// A fine point of the built-in model, as a server would send it.
fn point(model: &Model, ref_id: &str) -> Value {
    let mut embedding = vec![0.0; model.dim];
    embedding[0] = 1.0;
    SharedReference {
        ref_id: ref_id.into(),
        label: model.classes[0].clone(),
        embedding,
        model_id: model.id.clone(),
        grader: "Ana".into(),
        device: "phone-1".into(),
        site: "Santos".into(),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
        deleted: false,
    }
    .to_point()
}

fn scroll_answer(points: Vec<Value>) -> Vec<u8> {
    json!({ "result": { "points": points, "next_page_offset": null }, "status": "ok" }).to_string().into_bytes()
}

/// What a server sends is checked like a file from outside: each bad answer is refused with a
/// message naming what is wrong, and the --out file stays byte for byte as it was.
#[test]
fn bad_answers_from_a_server_are_refused_and_change_nothing() {
    let model = model();
    let dir = temp_dir("library-bad-answers");
    let out = dir.join("pulled.beanrefs");
    write(&synthetic(3, 4), &out);
    let before = std::fs::read(&out).unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut p = point(&model, "user-00000002");
        edit(&mut p);
        scroll_answer(vec![point(&model, "user-00000001"), p])
    };
    let mut huge = scroll_answer(vec![]);
    huge.truncate(huge.len() - 1);
    huge.extend(format!(",\"padding\":\"{}\"}}", "x".repeat(9 << 20)).into_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong dimension", edited(&|p| p["vector"].as_array_mut().unwrap().push(json!(0.0))), "this model makes"),
        ("a non-number", edited(&|p| p["vector"][3] = json!("x")), "not a number"),
        (
            "an unknown label",
            edited(&|p| p["payload"]["label"] = json!("Purple")),
            "\"Purple\" is not one of the model's classes",
        ),
        (
            "another model",
            edited(&|p| {
                p["payload"]["model_id"] = json!("12345678");
                p["id"] = json!(library::point_id("12345678", "user-00000002"));
            }),
            "another model",
        ),
        ("a huge answer", huge, "more than 8388608 bytes"),
        ("not JSON", b"<html><body>502 Bad Gateway</body></html>".to_vec(), "not JSON"),
    ];
    // A fine answer is taken (the fake itself is right).
    let fine = fake_server(model.dim, scroll_answer(vec![point(&model, "user-00000001")]));
    let good = dir.join("good.beanrefs");
    common::beanscan(&["refs", "pull", "--qdrant", &fine, "--out", text(&good)]);
    assert_eq!(read(&good).references.ids, vec!["user-00000001"]);

    for (what, answer, words) in cases {
        let url = fake_server(model.dim, answer);
        let stderr = fails(&["refs", "pull", "--qdrant", &url, "--out", text(&out)], &["refused", words]);
        assert!(stderr.lines().count() <= 3, "{what}: a short message, not the answer:\n{stderr}");
        assert_eq!(std::fs::read(&out).unwrap(), before, "{what}: the file is left alone");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A point written straight into the real server (right id and vector, a label the model does
/// not know) makes the pull refuse the library rather than take part of it.
#[test]
fn a_bad_point_on_the_real_server_is_refused() {
    let server = Qdrant::single("bad-point", None);
    let model = model();
    let dir = temp_dir("library-bad-point");
    let (mine, out) = (dir.join("mine.beanrefs"), dir.join("pulled.beanrefs"));
    write(&synthetic(20, 5), &mine);
    let url = server.url();
    common::beanscan(&["refs", "push", "--qdrant", &url, "--api-key", KEY, text(&mine)]);
    common::beanscan(&["refs", "pull", "--qdrant", &url, "--api-key", KEY, "--out", text(&out)]);
    let before = std::fs::read(&out).unwrap();

    let mut bad = point(&model, "user-bad00001");
    bad["payload"]["label"] = json!("Purple");
    let (status, answer) =
        rest("PUT", &format!("{url}/collections/{COLLECTION}/points?wait=true"), Some(json!({ "points": [bad] })));
    assert_eq!(status, 200, "{answer}");
    fails(
        &["refs", "pull", "--qdrant", &url, "--api-key", KEY, "--out", text(&out)],
        &["\"Purple\" is not one of the model's classes"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

/// Waits until every node sees every replica of the collection active.
fn wait_shards_active(nodes: &[&Qdrant]) {
    let started = Instant::now();
    'wait: while started.elapsed() < Duration::from_secs(60) {
        for node in nodes {
            let (status, answer) = rest("GET", &format!("{}/collections/{COLLECTION}/cluster", node.url()), None);
            let result = &answer["result"];
            let shards = result["local_shards"].as_array().into_iter().chain(result["remote_shards"].as_array()).flatten();
            let states: Vec<&str> = shards.map(|s| s["state"].as_str().unwrap_or("?")).collect();
            if status != 200 || states.is_empty() || states.iter().any(|s| *s != "Active") {
                std::thread::sleep(Duration::from_millis(200));
                continue 'wait;
            }
        }
        return;
    }
    panic!("the collection's shards did not all become active within 60 s");
}

/// Three nodes on loopback, each shard on two: a node is killed (SIGKILL) while 2,000
/// references are being pushed through it; the push goes on through the others, and so do a
/// push and a pull that name the dead node first. Afterwards the library holds every reference
/// once.
#[test]
fn a_cluster_that_loses_a_node_mid_sync_loses_no_reference() {
    let first = Qdrant::start("node-1", None, Role::First);
    first.wait_ready();
    let second = Qdrant::start("node-2", None, Role::Joining { bootstrap_p2p: first.p2p });
    let mut third = Qdrant::start("node-3", None, Role::Joining { bootstrap_p2p: first.p2p });
    second.wait_ready();
    third.wait_ready();
    let started = Instant::now();
    while rest("GET", &format!("{}/cluster", first.url()), None).1["result"]["peers"].as_object().map_or(0, |p| p.len()) < 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "the three nodes did not form one cluster:\n{}", third.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }

    let dir = temp_dir("library-cluster");
    let (small, big, out) = (dir.join("small.beanrefs"), dir.join("big.beanrefs"), dir.join("pulled.beanrefs"));
    write(&synthetic(100, 6), &small);
    write(&synthetic(2000, 7), &big);
    // The node to be killed is the one the client asks first.
    let nodes = format!("{},{},{}", third.url(), second.url(), first.url());
    common::beanscan(&["refs", "push", "--qdrant", &nodes, "--api-key", KEY, "--replication", "2", text(&small)]);
    wait_shards_active(&[&first, &second, &third]);
    let (_, collection) = rest("GET", &format!("{}/collections/{COLLECTION}", first.url()), None);
    assert_eq!(collection["result"]["config"]["params"]["replication_factor"], 2, "{collection}");

    let mut push = Command::new(env!("CARGO_BIN_EXE_beanscan"))
        .args(["refs", "push", "--qdrant", &nodes, "--api-key", KEY, text(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while first.count() <= 100 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let midway = push.try_wait().unwrap().is_none();
    third.kill();
    let pushed = push.wait_with_output().unwrap();
    assert!(pushed.status.success(), "the push did not get past the lost node:\n{}", String::from_utf8_lossy(&pushed.stderr));
    eprintln!("node killed {} the push", if midway { "during" } else { "after" });

    // The dead node first in the list: both go on with the next.
    common::beanscan(&["refs", "push", "--qdrant", &nodes, "--api-key", KEY, text(&big)]);
    common::beanscan(&["refs", "pull", "--qdrant", &nodes, "--api-key", KEY, "--out", text(&out)]);
    let mut expected = contents(&synthetic(100, 6));
    expected.extend(contents(&synthetic(2000, 7)));
    expected.sort();
    assert_eq!(contents(&read(&out)), expected, "every reference once");
    assert_eq!(first.count(), 2100);
    assert_eq!(second.count(), 2100);
    std::fs::remove_dir_all(&dir).ok();
}

/// A library too large to keep on a phone: each bean's nearest shared references as the server
/// finds them (one batch search) vote exactly as the same references kept locally would, and a
/// hit that is one of the device's own references is not counted twice.
#[test]
fn the_servers_nearest_references_vote_as_kept_ones_would() {
    use beanscan::Classifier;
    use beanscan::library::client::Client;

    let server = Qdrant::single("remote-knn", None);
    let dir = temp_dir("library-remote-knn");
    let file = synthetic(400, 7);
    let path = dir.join("library.beanrefs");
    write(&file, &path);
    common::beanscan(&["refs", "push", "--qdrant", &server.url(), "--api-key", KEY, text(&path)]);

    let device = burn::tensor::Device::flex();
    let mut kept = Classifier::new(Bundle::embedded().unwrap(), device.clone()).unwrap();
    let mut remote = Classifier::new(Bundle::embedded().unwrap(), device).unwrap();
    // One of the library's references is also this device's own (added here before it was shared).
    let mut own = ReferencesFile { references: ReferenceSet::new(file.references.dim), ..file.clone() };
    own.references.push(file.references.row(3), file.references.labels[3], file.references.ids[3].clone()).unwrap();
    for c in [&mut kept, &mut remote] {
        c.k = 7;
        assert_eq!(c.import_references(&own.to_bytes().unwrap()).unwrap(), 1);
    }
    let client = Client::new(&server.url(), Some(KEY), COLLECTION).unwrap();
    let pulled = client.pull(&kept.library_expect(), None).unwrap();
    assert_eq!(kept.apply_shared(&pulled).unwrap(), 399, "the device's own reference is not kept twice");

    // Beans near library references (and one far from all), as the server and the device see them.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let beans: Vec<Vec<f32>> = (0..20)
        .map(|i| {
            let v: Vec<f32> = file.references.row(i * 17).iter().map(|x| x + rng.gen_range(-0.05f32..0.05)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect();
    let hits = client.search(&remote.library_expect(), &beans, remote.k).unwrap();
    assert_eq!(hits.len(), beans.len());
    for (bean, found) in beans.iter().zip(&hits) {
        for tray in [false, true] {
            let here = if tray { kept.label_tray_bean(bean) } else { kept.label(bean) }.unwrap();
            let there = remote.label_with_shared_hits(bean, found, tray).unwrap();
            assert_eq!((&there.label, there.unknown), (&here.label, here.unknown));
            assert!((there.distance - here.distance).abs() < 1e-4, "{} vs {}", there.distance, here.distance);
            let labels = |p: &beanscan::Prediction| p.neighbours.iter().map(|n| n.label.clone()).collect::<Vec<_>>();
            assert_eq!(labels(&there), labels(&here));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
