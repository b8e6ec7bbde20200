//! Writes the odd-input corpus (tests/odd_inputs/corpus.rs) into a folder, with `expect.json`
//! saying what beanscan must do with each file. The page tests use it.
//!   cargo run --release --example odd_inputs -- OUT_DIR [SOURCE_PHOTO.jpg]

#[path = "../tests/odd_inputs/corpus.rs"]
mod corpus;

use std::path::PathBuf;

use corpus::Expect;

const DEFAULT_PHOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/greencoffee/r1/Black/001U.jpg");

fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: odd_inputs OUT_DIR [SOURCE_PHOTO.jpg]");
        std::process::exit(2);
    };
    let source = args.next().map(PathBuf::from).unwrap_or_else(|| DEFAULT_PHOTO.into());
    let photo = std::fs::read(&source)?;
    std::fs::create_dir_all(&out)?;
    let mut expect = Vec::new();
    for case in corpus::cases(&photo) {
        std::fs::write(out.join(case.file), &case.bytes)?;
        let (kind, message) = match case.expect {
            Expect::SameAsPhoto => ("same", ""),
            Expect::Labelled => ("labelled", ""),
            Expect::Error(m) => ("error", m),
        };
        expect.push(serde_json::json!({ "file": case.file, "expect": kind, "message": message, "bytes": case.bytes.len() }));
    }
    std::fs::write(out.join("expect.json"), serde_json::to_string_pretty(&expect)?)?;
    eprintln!("wrote {} files to {}", expect.len(), out.display());
    Ok(())
}
