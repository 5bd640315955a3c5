//! The process's own resources, read from `/proc/self` at scrape time: the
//! standard `process_*` series (CPU seconds, resident memory, open and
//! allowed file descriptors, start time), so a dashboard shows what the
//! server costs and how close it is to its descriptor limit. Linux only;
//! elsewhere every reading is absent.

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
