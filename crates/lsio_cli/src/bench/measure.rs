//! Measurements: wall time, CPU time of this process, the result of one run, medians.

use std::time::{Duration, Instant};

use serde::Serialize;

/// User + system CPU time of this process and all its threads (`getrusage(RUSAGE_SELF)`).
pub fn process_cpu_time() -> Duration {
    // SAFETY: `rusage` is plain old data; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a live `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.clamp(0, 999_999) as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Wall and CPU time from `start` on.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch { cpu: process_cpu_time(), wall: Instant::now() }
    }

    /// Wall seconds and CPU seconds since `start`.
    pub fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = process_cpu_time().saturating_sub(self.cpu).as_secs_f64();
        (wall, cpu)
    }
}

/// One run of one backend over one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunResult {
    /// Wall-clock seconds from submitting the batch to the last byte checked.
    pub seconds: f64,
    /// CPU seconds (user + system) spent meanwhile.
    pub cpu_seconds: f64,
    /// Bytes read (as requested: merged gaps and padding not counted).
    pub bytes: u64,
    /// Reads completed.
    pub ios: u64,
    /// Bytes whose pattern was checked; `None` for fio, which does not check.
    pub verified_bytes: Option<u64>,
}

impl RunResult {
    pub fn iops(&self) -> f64 {
        self.ios as f64 / self.seconds.max(1e-9)
    }

    pub fn gib_per_s(&self) -> f64 {
        self.bytes as f64 / (1u64 << 30) as f64 / self.seconds.max(1e-9)
    }

    pub fn cpu_s_per_gib(&self) -> f64 {
        self.cpu_seconds / (self.bytes as f64 / (1u64 << 30) as f64).max(1e-12)
    }
}

/// The median (the mean of the middle two for an even count); `NaN` for none.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median([]).is_nan());
        assert_eq!(median([f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn cpu_time_moves_forward() {
        let w = Stopwatch::start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (wall, cpu) = w.stop();
        assert!(wall >= 0.0 && cpu >= 0.0);
        let r = RunResult { seconds: 0.5, cpu_seconds: 0.25, bytes: 1 << 30, ios: 1000, verified_bytes: None };
        assert_eq!(r.gib_per_s(), 2.0);
        assert_eq!(r.iops(), 2000.0);
        assert_eq!(r.cpu_s_per_gib(), 0.25);
    }
}
