//! Progress of long steps: a bar with ETA on a terminal; in a log (stderr not a terminal) one
//! plain line every 30 seconds and at the end, so unattended runs still show where they are.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(30);

pub struct Progress {
    bar: ProgressBar,
    what: String,
    /// Time of the last plain log line; `None` on a terminal (the bar draws itself).
    last_line: Option<Mutex<Instant>>,
}

/// A progress bar with ETA on stderr, counting to `len`.
pub fn progress(len: u64, what: &str) -> Progress {
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if terminal { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    Progress { bar, what: what.to_string(), last_line: (!terminal).then(|| Mutex::new(Instant::now())) }
}

impl Progress {
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.log(false);
    }

    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Runs `f` with the bar hidden (for printing lines of one's own).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish_and_clear(&self) {
        self.log(true);
        self.bar.finish_and_clear();
    }

    fn log(&self, last: bool) {
        let Some(lock) = &self.last_line else { return };
        let mut at = lock.lock().expect("not poisoned");
        if last || at.elapsed() >= LOG_EVERY {
            *at = Instant::now();
            let (pos, len) = (self.bar.position(), self.bar.length().unwrap_or(0));
            let message = self.bar.message();
            let detail = if message != self.what { format!(" ({message})") } else { String::new() };
            let eta = if last { String::new() } else { format!(", ETA {} s", self.bar.eta().as_secs()) };
            eprintln!("{}: {pos}/{len}{detail}{eta}", self.what);
        }
    }
}

/// Peak resident memory of this process so far, in MiB (Linux; NaN elsewhere).
pub fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// "NAME: 12.3 s, peak memory 456 MiB" on stderr: one finished step of a run.
pub fn report_step(name: &str, started: Instant) {
    eprintln!("{name}: {:.1} s, peak memory {:.0} MiB", started.elapsed().as_secs_f64(), peak_mib());
}
