//! The cost of the S3 run store, run with `cargo bench --bench store`.
//!
//! `stepwise run --plain` of 200 trivial `run: "true"` steps, against the local store and
//! against an S3 store on moto (the AWS emulator, on 127.0.0.1), turn about in the same run:
//! time a step for each, and the extra time a step pays on S3. Each figure is the median of
//! several runs; the machine is noisy. moto answers from the same machine, so the figure is
//! the store's own work and moto's; a real bucket adds the network's round trips (about six
//! requests a step: two journal entries, the state twice, the step's log and definition).

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/moto.rs"]
mod moto;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const STEPS: u32 = 200;

fn trivial_runbook() -> String {
    let mut s = String::from("stepwise: 1\nid: trivial\ntitle: Trivial\nsteps:\n");
    for i in 0..STEPS {
        s.push_str(&format!(
            "  - id: s{i}\n    title: Step {i}\n    run: \"true\"\n"
        ));
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One run of the runbook; `store` names the S3 store, or none for the local one.
fn run(dir: &Path, moto: &moto::Moto, store: Option<&str>, name: &str) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
    cmd.current_dir(dir)
        .env("STEPWISE_HOME", dir.join("home"))
        .env_remove("STEPWISE_STORE")
        .args(["run", "trivial.yaml", "--plain", "--name", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    moto.apply_env(&mut cmd);
    if let Some(store) = store {
        cmd.args(["--store", store]);
    }
    let t = Instant::now();
    let out = cmd.output().expect("run stepwise");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took / STEPS
}

fn main() {
    let moto = moto::Moto::start();
    let bucket = Command::new("aws")
        .args(["s3api", "create-bucket", "--bucket", "bench"])
        .envs(moto.env())
        .output()
        .expect("the aws CLI");
    assert!(bucket.status.success(), "no bucket: {bucket:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    std::fs::write(dir.join("trivial.yaml"), trivial_runbook()).expect("write runbook");
    let stores = [
        ("local store", None),
        ("S3 store (moto)", Some("s3://bench/runs")),
    ];
    let mut per_step = vec![Vec::new(); stores.len()];
    for n in 0..RUNS {
        for (s, (_, store)) in stores.iter().enumerate() {
            per_step[s].push(run(dir, &moto, *store, &format!("bench-{s}-{n}")));
        }
    }
    for (s, (label, _)) in stores.iter().enumerate() {
        let t = &per_step[s];
        println!(
            "run {STEPS} trivial steps, plain, {label}: median {:.2} ms a step over {RUNS} runs (min {:.2}, max {:.2})",
            ms(median(t.clone())),
            ms(*t.iter().min().unwrap()),
            ms(*t.iter().max().unwrap()),
        );
    }
    let (local, s3) = (median(per_step[0].clone()), median(per_step[1].clone()));
    println!(
        "  extra a step on S3: {:.2} ms ({:.1}x the local store)",
        ms(s3.saturating_sub(local)),
        s3.as_secs_f64() / local.as_secs_f64()
    );
}
