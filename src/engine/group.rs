//! A step's process group, as recorded in the run's state, and whether it still runs.
//!
//! When the stepwise driving a step dies (`kill -9`, a lost terminal), the step's process group
//! goes on without it. The group id and the start time of its leader (bash) are on disk before
//! the script starts, so that a later stepwise can tell whether that group is still running,
//! and never starts the step a second time beside it. The start time tells the group from an
//! unrelated process that got the same number later: Linux does not hand out a number again
//! while a process group still uses it, so once the leader's number belongs to a process
//! started at another time, the group is gone.

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

/// A step's process group: its id (bash's pid) and bash's start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub pgid: i32,
    /// Field 22 of `/proc/PID/stat`: clock ticks after boot.
    pub started: u64,
}

/// How long a group gets between SIGTERM and SIGKILL when a person chooses to stop it.
pub const GRACE: Duration = Duration::from_secs(3);

/// How often a group is looked at while waiting for it to end.
const POLL: Duration = Duration::from_millis(100);

/// What `/proc/PID/stat` says of a process.
struct ProcStat {
    zombie: bool,
    pgrp: i32,
    started: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(ProcStat {
        zombie: matches!(fields.first(), Some(&"Z") | Some(&"X")),
        pgrp: fields.get(2)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

impl Group {
    /// The group led by a process just started (held at its gate, so still alive).
    pub fn of(pid: i32) -> Option<Group> {
        let stat = proc_stat(pid)?;
        Some(Group {
            pgid: pid,
            started: stat.started,
        })
    }

    /// Whether a process of the group still runs (zombies do not count).
    pub fn alive(&self) -> bool {
        match proc_stat(self.pgid) {
            Some(leader) if leader.started == self.started && !leader.zombie => return true,
            // A zombie leader: processes it started may still be in the group.
            Some(leader) if leader.started == self.started => {}
            // The number belongs to a later process: the group ended.
            Some(_) => return false,
            None => {}
        }
        // The leader is gone; processes it started may still be in the group.
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(proc_stat)
            .any(|p| p.pgrp == self.pgid && !p.zombie && p.started >= self.started)
    }

    /// Stops the group: SIGTERM, then SIGKILL after `GRACE`. Returns whether it has ended.
    pub async fn stop(&self) -> bool {
        if !self.alive() {
            return true;
        }
        let pgid = Pid::from_raw(self.pgid);
        let _ = killpg(pgid, Signal::SIGTERM);
        if self.ended_within(GRACE).await {
            return true;
        }
        if self.alive() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        self.ended_within(GRACE).await
    }

    /// Waits until the group has ended; false when cancelled first.
    pub async fn wait(&self, cancel: &CancellationToken) -> bool {
        loop {
            if !self.alive() {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = cancel.cancelled() => return false,
            }
        }
    }

    async fn ended_within(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.alive() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_alive_while_a_member_runs_and_not_after() {
        use std::os::unix::process::CommandExt;
        let mut leader = std::process::Command::new("bash")
            .args(["-c", "sleep 30 >/dev/null & echo $!; exit 0"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("bash");
        let pid = leader.id() as i32;
        let group = Group::of(pid).expect("the leader's stat");
        let mut out = String::new();
        use std::io::Read;
        let _ = leader.stdout.take().map(|mut s| s.read_to_string(&mut out));
        let _ = leader.wait();
        // The leader is gone (reaped); its background child is still in the group.
        let member: i32 = out.trim().parse().expect("the child's pid");
        assert!(group.alive());
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while group.alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group.alive(), "member {member} still counted");
        // Another start time is another process, even with the same number.
        let me = Group::of(std::process::id() as i32).expect("own stat");
        let other = Group {
            started: me.started + 1,
            ..me
        };
        assert!(me.alive());
        assert!(!other.alive());
    }
}
