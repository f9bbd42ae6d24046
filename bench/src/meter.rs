//! Wall and CPU time of a measured step, how busy the rest of the machine was
//! meanwhile, and the gate that waits for a quiet machine before a step.
//!
//! CPU time is ours plus our children's (`getrusage`): a child's time counts
//! once it has been waited for, with the time of the children it waited for
//! (a handler and its ffmpeg processes). "Others" is the machine's busy CPU
//! (`/proc/stat`) minus ours over the same window: other developers' builds
//! and tests on the shared cores, in cores on average.

use std::time::{Duration, Instant};

use serde::Serialize;

/// User + system seconds of this process and its reaped children.
pub fn own_cpu_seconds() -> f64 {
    fn secs(who: libc::c_int) -> f64 {
        // SAFETY: getrusage only writes the struct we pass.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
    secs(libc::RUSAGE_SELF) + secs(libc::RUSAGE_CHILDREN)
}

/// Busy CPU seconds of the whole machine since boot (all cores): user, nice,
/// system, irq, softirq. Idle, iowait and steal are not work done here.
pub fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_busy_ticks(&text).map(|t| t / clock_ticks())
}

/// CPU seconds the hypervisor gave to other guests while we wanted them
/// (`steal`): contention invisible from inside this machine.
pub fn machine_steal_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_steal_ticks(&text).map(|t| t / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Busy ticks from the first (`cpu `) line of `/proc/stat`.
pub fn parse_busy_ticks(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal ...
    if v.len() < 7 {
        return None;
    }
    Some(v[0] + v[1] + v[2] + v[5] + v[6])
}

pub fn parse_steal_ticks(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// The 1-minute load average.
pub fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
    /// Cores the rest of the machine kept busy on average during the step.
    pub others_cores: Option<f64>,
    /// Cores the hypervisor took for other guests on average (steal).
    pub steal_cores: Option<f64>,
    /// 1-minute load average when the step started.
    pub load1: Option<f64>,
}

pub struct Meter {
    start: Instant,
    cpu: f64,
    busy: Option<f64>,
    steal: Option<f64>,
    load1: Option<f64>,
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            load1: load1(),
            busy: machine_busy_seconds(),
            steal: machine_steal_seconds(),
            cpu: own_cpu_seconds(),
            start: Instant::now(),
        }
    }

    pub fn stop(&self) -> Usage {
        let wall = self.start.elapsed().as_secs_f64();
        let cpu = own_cpu_seconds() - self.cpu;
        let others = match (self.busy, machine_busy_seconds()) {
            (Some(a), Some(b)) if wall > 0.0 => Some(((b - a - cpu) / wall).max(0.0)),
            _ => None,
        };
        let steal = match (self.steal, machine_steal_seconds()) {
            (Some(a), Some(b)) if wall > 0.0 => Some(((b - a) / wall).max(0.0)),
            _ => None,
        };
        Usage {
            wall_s: wall,
            cpu_s: cpu,
            others_cores: others,
            steal_cores: steal,
            load1: self.load1,
        }
    }
}

impl Usage {
    /// Cores taken from us by anything else during the step.
    pub fn disturbance(&self) -> f64 {
        self.others_cores.unwrap_or(0.0) + self.steal_cores.unwrap_or(0.0)
    }
}

/// What the gate saw before one measured step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    pub step: String,
    pub waited_s: f64,
    pub load1: Option<f64>,
    /// Others' busy cores over the last sample window.
    pub others_cores: Option<f64>,
    /// False when the step started on a busy machine (the wait ran out).
    pub quiet: bool,
}

/// Waits before each measured step until the machine is quiet: the 1-minute
/// load average under `max`, or, since that average still carries the decay
/// of our own previous step for a minute or more, the rest of the machine
/// using under `max` cores over a short sample (our process is idle then).
pub struct Gate {
    pub max: f64,
    pub poll: Duration,
    pub sample: Duration,
    /// Per step.
    pub limit: Duration,
    /// Over the whole run, so that a machine that never quietens down still
    /// gets its benchmark in reasonable time (the records say so).
    pub budget: Duration,
    pub enabled: bool,
    pub records: Vec<GateRecord>,
}

impl Gate {
    pub fn new(max: f64, budget: Duration, enabled: bool) -> Gate {
        Gate {
            max,
            poll: Duration::from_secs(10),
            sample: Duration::from_secs(3),
            limit: Duration::from_secs(600),
            budget,
            enabled,
            records: Vec::new(),
        }
    }

    pub fn wait(&mut self, step: &str) -> GateRecord {
        let started = Instant::now();
        let mut rec = GateRecord {
            step: step.to_string(),
            waited_s: 0.0,
            load1: load1(),
            others_cores: None,
            quiet: true,
        };
        if self.enabled {
            let limit = self.limit.min(self.budget);
            loop {
                let others = sample_others(self.sample);
                rec.load1 = load1();
                rec.others_cores = others;
                let quiet =
                    rec.load1.is_some_and(|l| l < self.max) || others.is_some_and(|o| o < self.max);
                if quiet {
                    break;
                }
                if started.elapsed() + self.poll > limit {
                    rec.quiet = false;
                    break;
                }
                eprintln!(
                    "  waiting for a quiet machine before {step}: load {:.2}, others {:.2} cores",
                    rec.load1.unwrap_or(f64::NAN),
                    others.unwrap_or(f64::NAN)
                );
                std::thread::sleep(self.poll.saturating_sub(self.sample));
            }
            rec.waited_s = started.elapsed().as_secs_f64();
            self.budget = self.budget.saturating_sub(started.elapsed());
        }
        self.records.push(rec.clone());
        rec
    }
}

/// Cores the rest of the machine used over `window`, while we sleep.
fn sample_others(window: Duration) -> Option<f64> {
    let m = Meter::start();
    std::thread::sleep(window);
    m.stop().others_cores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ticks_leave_out_idle_iowait_and_steal() {
        let stat = "cpu  100 5 50 1000 40 3 2 7 0 0\ncpu0 50 2 25 500 20 1 1 3 0 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(160.0));
        assert_eq!(parse_steal_ticks(stat), Some(7.0));
        assert_eq!(parse_busy_ticks("cpu0 1 2 3\n"), None);
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = own_cpu_seconds();
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        assert!(own_cpu_seconds() > before);
    }
}
