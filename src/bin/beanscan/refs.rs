//! `beanscan refs add|push|pull`: reference beans in `.beanrefs` files and the shared library (a
//! Qdrant collection). Thin: the collection's layout and the checks of what a server sends are
//! `beanscan::library`'s, the HTTP is its `client`'s. Nothing local changes unless the whole
//! command succeeded: files are written whole (to a temporary name, then renamed).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use beanscan::index::ReferenceSet;
use beanscan::library::client::Client;
use beanscan::library::{self, DEFAULT_COLLECTION, SharedReference, Who};
use beanscan::references::{self, ReferencesFile};
use beanscan::{Bundle, Classifier};
use burn::tensor::Device;
use clap::{Args, Subcommand};

use crate::native::load_bundle;

#[derive(Args)]
pub struct RefsArgs {
    #[command(subcommand)]
    command: RefsCommand,
}

#[derive(Subcommand)]
enum RefsCommand {
    /// Embed photos of one class as reference beans into a .beanrefs file (added to it if it exists).
    Add(AddArgs),
    /// Upload a .beanrefs file's references to the shared library (pushing again changes nothing).
    Push(PushArgs),
    /// Download every live reference of the bundle's model from the shared library into a .beanrefs file.
    Pull(PullArgs),
}

#[derive(Args)]
struct AddArgs {
    /// The class the photos show (one of the bundle's).
    #[arg(long)]
    label: String,
    /// The .beanrefs file to write (its references are kept when it exists).
    #[arg(long)]
    out: PathBuf,
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    /// Bundle file (default: the bundle built into beanscan).
    #[arg(long)]
    bundle: Option<PathBuf>,
}

/// Where the shared library is.
#[derive(Args)]
struct Server {
    /// The Qdrant server's URL, or the URLs of a cluster's nodes separated by commas (tried in
    /// turn when one cannot be reached).
    #[arg(long)]
    qdrant: String,
    /// The server's API key (default: $QDRANT_API_KEY).
    #[arg(long)]
    api_key: Option<String>,
    #[arg(long, default_value = DEFAULT_COLLECTION)]
    collection: String,
    /// Bundle file whose model the references belong to (default: the built-in bundle).
    #[arg(long)]
    bundle: Option<PathBuf>,
}

#[derive(Args)]
struct PushArgs {
    #[command(flatten)]
    server: Server,
    /// The .beanrefs file to upload.
    file: PathBuf,
    /// Who confirmed these beans (default: $USER).
    #[arg(long)]
    grader: Option<String>,
    /// Which device they come from (default: this computer's name).
    #[arg(long)]
    device: Option<String>,
    /// Which site (warehouse, mill) they come from.
    #[arg(long, default_value = "")]
    site: String,
    /// Copies of each shard when the push creates the collection on a cluster.
    #[arg(long)]
    replication: Option<u32>,
}

#[derive(Args)]
struct PullArgs {
    #[command(flatten)]
    server: Server,
    /// The .beanrefs file to write (replaced only once the whole pull succeeded).
    #[arg(long)]
    out: PathBuf,
}

pub fn refs_cmd(args: &RefsArgs) -> Result<()> {
    match &args.command {
        RefsCommand::Add(a) => add(a),
        RefsCommand::Push(a) => push(a),
        RefsCommand::Pull(a) => pull(a),
    }
}

fn add(args: &AddArgs) -> Result<()> {
    let mut classifier = Classifier::new(load_bundle(args.bundle.as_deref())?, Device::flex())?;
    if !classifier.class_names.contains(&args.label) {
        bail!("unknown class \"{}\"; this model knows {}", args.label, classifier.class_names.join(", "));
    }
    if args.out.exists() {
        let bytes = std::fs::read(&args.out).with_context(|| format!("reading {}", args.out.display()))?;
        classifier.import_references(&bytes).with_context(|| format!("adding to {}", args.out.display()))?;
    }
    let before = classifier.index.added.len();
    for photo in &args.photos {
        let bytes = std::fs::read(photo).with_context(|| format!("reading {}", photo.display()))?;
        let embedding =
            pollster::block_on(classifier.embed_photo(&bytes)).with_context(|| format!("embedding {}", photo.display()))?;
        classifier.add_reference(&embedding, &args.label)?;
    }
    write_atomically(&args.out, &classifier.export_references()?)?;
    let now = classifier.index.added.len();
    println!("{} new references of {} in {} ({now} in all)", now - before, args.label, args.out.display());
    Ok(())
}

fn push(args: &PushArgs) -> Result<()> {
    let bundle = load_bundle(args.server.bundle.as_deref())?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let file = ReferencesFile::from_bytes(&bytes).with_context(|| format!("reading {}", args.file.display()))?;
    let model = Model::of(&bundle);
    file.clone().fit(&model.id, model.dim, &bundle.class_names).with_context(|| format!("pushing {}", args.file.display()))?;
    let who = Who {
        grader: args.grader.clone().unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "cli".into())),
        device: args.device.clone().unwrap_or_else(hostname),
        site: args.site.clone(),
    };
    let references = library::from_references(&file, &who, now_ms());
    // Nothing is sent that a pull would refuse (e.g. a --grader too long to keep).
    let expect = library::Expect { model_id: &model.id, dim: model.dim, class_names: &bundle.class_names };
    for reference in &references {
        library::check_reference(reference, &expect).with_context(|| format!("pushing {}", args.file.display()))?;
    }
    let client = args.server.client()?;
    if client.ensure_collection(model.dim, args.replication)? {
        println!("created collection {} on {}", client.collection(), client.node());
    }
    let pushed = client.push(&references, |_| {})?;
    println!("pushed {pushed} references to {} on {}", client.collection(), client.node());
    Ok(())
}

fn pull(args: &PullArgs) -> Result<()> {
    let bundle = load_bundle(args.server.bundle.as_deref())?;
    let model = Model::of(&bundle);
    let expect = library::Expect { model_id: &model.id, dim: model.dim, class_names: &bundle.class_names };
    let client = args.server.client()?;
    let pulled = client.pull(&expect, None)?;
    let file = to_file(&pulled, &model, &bundle.class_names)?;
    write_atomically(&args.out, &file.to_bytes()?)?;
    let dropped = pulled.len() - file.references.len();
    println!("pulled {} references into {} ({dropped} taken back, left out)", file.references.len(), args.out.display());
    Ok(())
}

/// The model a bundle's embeddings belong to, without building the net.
struct Model {
    id: String,
    dim: usize,
}

impl Model {
    fn of(bundle: &Bundle) -> Self {
        Self { id: references::model_id(&bundle.weights), dim: bundle.model.embed_dim }
    }
}

impl Server {
    fn client(&self) -> Result<Client> {
        let key = self.api_key.clone().or_else(|| std::env::var("QDRANT_API_KEY").ok());
        Ok(Client::new(&self.qdrant, key.as_deref(), &self.collection)?)
    }
}

/// The live (not taken back) references as a file, ids = their reference ids, in id order.
fn to_file(pulled: &[SharedReference], model: &Model, class_names: &[String]) -> Result<ReferencesFile> {
    let mut live: Vec<&SharedReference> = pulled.iter().filter(|r| !r.deleted).collect();
    live.sort_by(|a, b| a.ref_id.cmp(&b.ref_id));
    let mut references = ReferenceSet::new(model.dim);
    for r in live {
        let label = class_names.iter().position(|c| *c == r.label).context("a pulled label is not the model's")?;
        references.push(&r.embedding, label as u16, r.ref_id.clone())?;
    }
    Ok(ReferencesFile { model_id: model.id.clone(), class_names: class_names.to_vec(), references, traits: Vec::new() })
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`: a failure
/// midway leaves the old file as it was.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().with_context(|| format!("{} is not a file name", path.display()))?;
    let mut temp_name = name.to_os_string();
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        std::fs::remove_file(&temp).ok();
    }
    written.with_context(|| format!("writing {}", path.display()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cli".into())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
