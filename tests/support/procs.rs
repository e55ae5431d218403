//! The processes a test starts: whether one still runs, and a reaper for those a test must not
//! leave behind. Only std and nix.

#![allow(dead_code)]

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Whether a process runs (a zombie does not).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// When a process started, in clock ticks after boot (field 22 of `/proc/PID/stat`).
pub fn started(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split(' ').nth(19)?.parse().ok()
}

/// Kills, when dropped (also when a test fails), the processes and process groups a test
/// left, each only while its number is still that process's. A stopped one is continued
/// first, so that it does not stay stopped if the kill does not reach it.
#[derive(Default)]
pub struct Reaper {
    groups: Vec<(i32, u64)>,
    pids: Vec<(i32, u64)>,
}

impl Reaper {
    pub fn group(&mut self, pgid: i32) {
        if let Some(t) = started(pgid).filter(|_| pgid > 1) {
            self.groups.push((pgid, t));
        }
    }

    pub fn pid(&mut self, pid: i32) {
        if let Some(t) = started(pid).filter(|_| pid > 1) {
            self.pids.push((pid, t));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &(g, t) in &self.groups {
            if started(g) == Some(t) {
                let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
            }
        }
        for &(p, t) in &self.pids {
            if started(p) == Some(t) {
                let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
}
