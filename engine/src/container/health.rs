//! Healthchecks, run by the monitor: the check command is exec'd in the container on its
//! interval; its status moves starting -> healthy, or -> unhealthy after `retries` failures in
//! a row (failures during the start period do not count), as Docker's does.

use std::time::{Duration, Instant};

use super::model::{Health, HealthConfig, HealthLog};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps the last five results.
const LOG_LENGTH: usize = 5;

fn ns(d: i64, default: Duration) -> Duration {
    if d > 0 {
        Duration::from_nanos(d as u64)
    } else {
        default
    }
}

/// The schedule and bookkeeping of one container's healthcheck.
pub struct Checker {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    start_period: Duration,
    retries: i64,
    started: Instant,
    pub next: Instant,
}

impl Checker {
    /// `None` when the container has no check (or `NONE`).
    pub fn new(config: Option<&HealthConfig>) -> Option<Checker> {
        let config = config?;
        let argv = match config.test.first().map(String::as_str) {
            Some("CMD") => config.test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), config.test[1..].join(" ")],
            _ => return None,
        };
        if argv.is_empty() {
            return None;
        }
        let interval = ns(config.interval, DEFAULT_INTERVAL);
        let now = Instant::now();
        // The first check runs one interval after start (or start_interval in the start period).
        let first = ns(config.start_interval, interval).min(interval);
        Some(Checker {
            argv,
            interval,
            timeout: ns(config.timeout, DEFAULT_TIMEOUT),
            start_period: ns(config.start_period, Duration::ZERO),
            retries: if config.retries > 0 { config.retries } else { DEFAULT_RETRIES },
            started: now,
            next: now + first,
        })
    }

    /// Records one result into `health` and schedules the next check.
    pub fn record(&mut self, health: &mut Health, exit_code: i64, output: String, start: String) {
        let end = crate::time::now();
        health.log.push(HealthLog { start, end, exit_code, output });
        if health.log.len() > LOG_LENGTH {
            health.log.remove(0);
        }
        if exit_code == 0 {
            health.status = "healthy".into();
            health.failing_streak = 0;
        } else if self.started.elapsed() >= self.start_period || health.status != "starting" {
            health.failing_streak += 1;
            if health.failing_streak >= self.retries {
                health.status = "unhealthy".into();
            }
        }
        self.next = Instant::now() + self.interval;
    }
}

/// The health of a container that just started.
pub fn starting() -> Health {
    Health { status: "starting".into(), failing_streak: 0, log: Vec::new() }
}
