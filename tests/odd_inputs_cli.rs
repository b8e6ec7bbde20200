#![cfg(not(target_arch = "wasm32"))]
//! The odd-input corpus through the `beanscan classify` CLI: each file is labelled or refused
//! with its own message, the rest of the batch carries on, and the CLI's memory stays bounded
//! while it decodes them. A test binary of its own: the CLI's peak memory is read with
//! `getrusage(RUSAGE_CHILDREN)`, and Linux counts into a child's peak the memory of the process
//! that started it (at exec), so that process must not be decoding large photos at the same time.

#[path = "odd_inputs/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::Command;

use corpus::{Expect, cases};

const PHOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/greencoffee/r1/Black/001U.jpg");
/// Peak resident memory allowed for `beanscan classify` over the whole corpus (stated in README).
const PEAK_LIMIT_MIB: u64 = 512;

fn photo() -> Vec<u8> {
    std::fs::read(PHOTO).expect("shared data present")
}

fn peak_children_mib() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 / 1024
}

#[test]
fn cli_labels_the_batch_reports_each_bad_file_and_bounds_memory() {
    let dir = std::env::temp_dir().join(format!("beanscan-odd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = cases(&photo());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beanscan"));
    cmd.arg("classify");
    for case in &cases {
        std::fs::write(dir.join(case.file), &case.bytes).unwrap();
        cmd.arg(dir.join(case.file));
    }
    let missing = dir.join("not-copied-yet.jpg");
    cmd.arg(&missing);
    let out = cmd.output().unwrap();
    let peak = peak_children_mib();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len() + 1, "{stdout}");
    for (case, line) in cases.iter().zip(&lines) {
        let (file, rest) = line.split_once('\t').unwrap();
        assert_eq!(Path::new(file), dir.join(case.file));
        match case.expect {
            Expect::Error(text) => assert!(rest.starts_with("error: ") && rest.contains(text), "{line}"),
            _ => {
                let fields: Vec<&str> = rest.split('\t').collect();
                assert!(fields.len() >= 3 && fields[1].parse::<f32>().is_ok(), "{line}");
            }
        }
    }
    assert!(lines[cases.len()].contains("error: cannot read the file"), "{stdout}");
    eprintln!("beanscan classify over {} odd inputs: peak memory {peak} MiB", cases.len() + 1);
    assert!(peak < PEAK_LIMIT_MIB, "peak memory {peak} MiB, limit {PEAK_LIMIT_MIB} MiB");
    std::fs::remove_dir_all(&dir).ok();
}
