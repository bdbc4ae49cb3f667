//! Progress of the LLM stage: a bar that moves with every answer (accepted and rejected in
//! its message, ETA from the answer rate) on a terminal; otherwise, or with `--no-progress`,
//! a one-line status in the log every [`STATUS_EVERY`].

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the status line is logged when there is no bar.
pub const STATUS_EVERY: Duration = Duration::from_secs(15);

/// Answers, rows and rejections of a generation run, shown as they change.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_status: Instant,
    planned: u64,
    answered: u64,
    needed: usize,
    accepted: usize,
    rejected: usize,
    /// Rejections before this stage (procedure examples), not shown.
    rejected_before: usize,
}

impl Progress {
    /// A bar when `show` and stderr is a terminal, else periodic status lines; `needed`:
    /// rows the LLM stage wants; `rejected_before`: the run's rejections before it.
    pub fn new(show: bool, needed: usize, rejected_before: usize) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "generate [{bar:30}] {pos}/{len} answers, {msg} ({eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb
        });
        let now = Instant::now();
        Self {
            bar,
            started: now,
            last_status: now,
            planned: 0,
            answered: 0,
            needed,
            accepted: 0,
            rejected: 0,
            rejected_before,
        }
    }

    /// A new round planned `n` more requests.
    pub fn planned(&mut self, n: usize) {
        self.planned += n as u64;
        if let Some(b) = &self.bar {
            b.set_length(self.planned);
        }
    }

    /// One answer was taken (from the endpoint or the journal, or not sent because the run is
    /// stopping); `accepted` and `rejected` are the run's totals now.
    pub fn answered(&mut self, accepted: usize, rejected: usize) {
        self.answered += 1;
        self.accepted = accepted;
        self.rejected = rejected.saturating_sub(self.rejected_before);
        let msg = format!(
            "{}/{} rows, {} rejected",
            self.accepted, self.needed, self.rejected
        );
        match &self.bar {
            Some(b) => {
                b.set_message(msg);
                b.set_position(self.answered);
            }
            None if self.last_status.elapsed() >= STATUS_EVERY => {
                self.last_status = Instant::now();
                tracing::info!(
                    "generate: {}/{} answers, {msg}, {} left",
                    self.answered,
                    self.planned,
                    self.eta()
                );
            }
            None => {}
        }
    }

    /// Remaining time at the answer rate so far, for the planned requests.
    fn eta(&self) -> String {
        let rate = self.answered as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let left = self.planned.saturating_sub(self.answered) as f64;
        match rate > 0.0 {
            true => format!("{:.0} s", left / rate),
            false => "?".into(),
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
