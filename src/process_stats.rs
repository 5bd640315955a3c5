//! The process's own resources, read from `/proc/self` at scrape time: the
//! standard `process_*` series (CPU seconds, resident memory, open and
//! allowed file descriptors, start time), so a dashboard shows what the
//! server costs and how close it is to its descriptor limit. Linux only;
//! elsewhere every reading is absent. [`ProcessGauges`] exports them.

use prometheus::{Counter, Gauge, IntGauge, IntGaugeVec, Opts, Registry};

/// One reading of the process.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

/// Clock ticks a second of `/proc/<pid>/stat` times: USER_HZ, which the
/// kernel fixes at 100 for what it shows user space (sysconf would need
/// unsafe code).
const TICKS: f64 = 100.0;

impl ProcessStats {
    /// Reads `/proc/self` (None for what cannot be read).
    pub fn read() -> ProcessStats {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // After the command name: state is field 3, utime 14, stime 15 and
        // starttime 22 (1-based, man proc), so index n - 3 here.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let boot = boot_time();
        ProcessStats {
            cpu_seconds: field(14).zip(field(15)).map(|(u, s)| (u + s) as f64 / TICKS),
            resident_bytes: resident_bytes(),
            open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
            max_fds: max_open_files(),
            start_time_seconds: field(22).zip(boot).map(|(ticks, boot)| boot + ticks as f64 / TICKS),
        }
    }
}

/// `VmRSS` of `/proc/self/status` (kB there), whatever the page size.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim();
    kb.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// `btime` of `/proc/stat`: when the machine booted, in Unix seconds.
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// The soft "Max open files" limit of `/proc/self/limits`.
fn max_open_files() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The standard `process_*` series, set from `/proc/self` at each scrape.
pub struct ProcessGauges {
    /// A counter (promtool wants `_total` to be one), moved to each reading.
    cpu_seconds: Counter,
    resident_bytes: IntGauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    start_time_seconds: Gauge,
}

impl ProcessGauges {
    pub fn register(registry: &Registry) -> ProcessGauges {
        let float = |name: &str, help: &str| {
            let g = Gauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let int = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let build =
            IntGaugeVec::new(Opts::new("textgate_build_info", "1, labelled with the build's version."), &["version"])
                .expect("valid metric");
        registry.register(Box::new(build.clone())).expect("unique metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let cpu_seconds =
            Counter::new("process_cpu_seconds_total", "User and system CPU time spent, in seconds.").expect("valid");
        registry.register(Box::new(cpu_seconds.clone())).expect("unique metric");
        ProcessGauges {
            cpu_seconds,
            resident_bytes: int("process_resident_memory_bytes", "Resident memory size in bytes."),
            open_fds: int("process_open_fds", "Open file descriptors."),
            max_fds: int("process_max_fds", "The open-file limit (soft)."),
            start_time_seconds: float("process_start_time_seconds", "Start time of the process, Unix seconds."),
        }
    }

    pub fn set(&self, p: ProcessStats) {
        for (v, g) in
            [(p.resident_bytes, &self.resident_bytes), (p.open_fds, &self.open_fds), (p.max_fds, &self.max_fds)]
        {
            if let Some(v) = v {
                g.set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        if let Some(v) = p.cpu_seconds {
            // CPU time only grows; a reading behind the counter adds nothing.
            self.cpu_seconds.inc_by((v - self.cpu_seconds.get()).max(0.0));
        }
        if let Some(v) = p.start_time_seconds {
            self.start_time_seconds.set(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let before = ProcessStats::read();
        let files: Vec<_> = (0..5).map(|_| tempfile::tempfile().unwrap()).collect();
        let after = ProcessStats::read();
        assert!(after.resident_bytes.unwrap() > 1 << 20, "{after:?}");
        assert!(after.open_fds.unwrap() >= before.open_fds.unwrap() + 5, "{before:?} {after:?}");
        assert!(after.max_fds.unwrap() >= after.open_fds.unwrap());
        let now = jiff::Timestamp::now().as_second() as f64;
        let started = after.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0, "{started} vs {now}");
        assert!(after.cpu_seconds.unwrap() >= 0.0);
        drop(files);
    }
}
