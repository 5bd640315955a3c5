//! The progress line of a long import, on stderr: rows sent, the share of
//! the file read, the rate and the time left. Redrawn at most a few times a
//! second, on a terminal (or when asked), and never mixed into stdout, which
//! carries the summary.

use std::io::Write;
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(250);

pub struct Progress {
    enabled: bool,
    total_bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// A display for a file of `total_bytes` (0: unknown, as for a pipe).
    pub fn new(enabled: bool, total_bytes: u64) -> Progress {
        Progress { enabled, total_bytes, started: Instant::now(), drawn: None }
    }

    /// Redraws when due: `rows` sent, `bytes` of the file read.
    pub fn update(&mut self, rows: u64, bytes: u64) {
        if !self.enabled || self.drawn.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.drawn = Some(Instant::now());
        let line = line(rows, bytes, self.total_bytes, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    /// Ends the progress line (the summary follows on its own lines).
    pub fn finish(&mut self, rows: u64, bytes: u64) {
        if self.enabled {
            self.drawn = None;
            self.update(rows, bytes);
            eprintln!();
        }
    }
}

/// The text of the progress line.
fn line(rows: u64, bytes: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = rows as f64 / secs;
    let mut text = format!("import: {rows} rows sent, {rate:.0}/s, {:.0}s", elapsed.as_secs_f64());
    if total > 0 {
        let share = (bytes as f64 / total as f64).min(1.0);
        text += &format!(", {:.1}% of the file", share * 100.0);
        if share > 0.0 && share < 1.0 {
            text += &format!(", about {:.0}s left", secs * (1.0 - share) / share);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_says_rows_rate_share_and_time_left() {
        let text = super::line(50_000, 250, 1000, std::time::Duration::from_secs(2));
        assert_eq!(text, "import: 50000 rows sent, 25000/s, 2s, 25.0% of the file, about 6s left");
        assert_eq!(super::line(0, 0, 0, std::time::Duration::ZERO), "import: 0 rows sent, 0/s, 0s");
    }
}
