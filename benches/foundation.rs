//! Benchmarks of the foundation, run with `cargo bench --bench foundation`.
//!
//! 1. `stepwise validate` on a generated runbook of 10,000 steps: wall time and peak memory
//!    (the child's maximum resident set size).
//! 2. `stepwise run --plain` of 1,000 trivial `run: "true"` steps, with durable state: time a
//!    step, all included (bash start, two atomic durable state writes, journal, printing).
//!
//! Each figure is the median of several runs of the release binary; the machine is noisy.
//! With `STEPWISE_BASELINE=/path/to/an/older/stepwise`, that binary is measured too, side by
//! side in the same run (turn about), and the ratio is printed.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

// The same allocator as the binary, so that the in-process figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 11;

fn big_runbook(steps: usize) -> String {
    let mut s = String::from(
        "stepwise: 1\nid: big\ntitle: Generated\ninputs:\n  name:\n    default: big\n    pattern: \"[a-z]+\"\n  zone:\n    default: \"{{ inputs.name }}.example.org\"\nsteps:\n",
    );
    for i in 0..steps {
        match i % 5 {
            0 => s.push_str(&format!(
                "  - id: step-{i}\n    title: Step {i}\n    description: Makes an output.\n    run: |\n      echo \"value=v{i}\" >> \"$STEPWISE_OUTPUT\"\n    outputs:\n      value: {{}}\n      line:\n        regex: 'line (\\d+)'\n    timeout: 5m\n    retry: {{ times: 2, delay: 1s }}\n"
            )),
            1 => s.push_str(&format!(
                "  - id: step-{i}\n    title: Step {i}\n    description: Uses the one before.\n    run: echo {{{{ steps.step-{}.value }}}} {{{{ inputs.zone }}}}\n    when: inputs.name == \"big\"\n",
                i - 1
            )),
            2 => s.push_str(&format!(
                "  - id: step-{i}\n    title: Step {i}\n    description: Waits.\n    check: test -f ready-{i}\n    wait: {{ every: 5s, timeout: 10m }}\n"
            )),
            3 => s.push_str(&format!(
                "  - id: step-{i}\n    title: Step {i}\n    description: Writes a file.\n    file:\n      path: \"out/{{{{ inputs.name }}}}-{i}.yaml\"\n      content: \"value: {{{{ steps.step-{}.value }}}}\\n\"\n",
                i - 3
            )),
            _ => s.push_str(&format!(
                "  - id: step-{i}\n    title: Step {i}\n    description: Asks a person.\n    manual: Check {{{{ inputs.zone }}}}.\n    prompts:\n      answer:\n        prompt: The answer\n        pattern: \"[0-9]+\"\n"
            )),
        }
    }
    s
}

fn trivial_runbook(steps: usize) -> String {
    let mut s = String::from("stepwise: 1\nid: trivial\ntitle: Trivial\nsteps:\n");
    for i in 0..steps {
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

fn peak_rss_kib() -> i64 {
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(0)
}

fn stepwise(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("STEPWISE_HOME", dir.join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The binaries measured: this build, and the one `STEPWISE_BASELINE` names (a release build
/// of an earlier commit), measured side by side in the same run, turn about.
fn binaries() -> Vec<(&'static str, PathBuf)> {
    let mut bins = vec![("this build", PathBuf::from(env!("CARGO_BIN_EXE_stepwise")))];
    if let Some(base) = std::env::var_os("STEPWISE_BASELINE") {
        bins.push(("baseline", PathBuf::from(base)));
    }
    bins
}

fn validate(bin: &Path, dir: &Path) -> Duration {
    let t = Instant::now();
    let out = stepwise(bin, dir)
        .args(["validate", "big.yaml"])
        .output()
        .expect("run");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "validation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The peak memory of one validation by `bin`, measured in a child of its own (the maximum
/// resident set size of a process's children covers all of them).
fn peak_of(bin: &Path, dir: &Path) -> f64 {
    let out = Command::new(std::env::current_exe().expect("the benchmark's path"))
        .env("BENCH_PEAK_OF", bin)
        .env("BENCH_DIR", dir)
        .output()
        .expect("run");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .expect("a peak in KiB")
        / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if let (Some(bin), Some(dir)) = (
        std::env::var_os("BENCH_PEAK_OF"),
        std::env::var_os("BENCH_DIR"),
    ) {
        validate(Path::new(&bin), Path::new(&dir));
        println!("{}", peak_rss_kib());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let bins = binaries();

    // 1. Validation of 10,000 steps.
    let big = dir.join("big.yaml");
    std::fs::write(&big, big_runbook(10_000)).expect("write runbook");
    let size = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    let mut times = vec![Vec::new(); bins.len()];
    for _ in 0..RUNS {
        for (b, (_, bin)) in bins.iter().enumerate() {
            times[b].push(validate(bin, dir));
        }
    }
    for (b, (label, bin)) in bins.iter().enumerate() {
        let t = &times[b];
        println!(
            "validate 10,000 steps ({:.1} MiB of YAML), {label}: median {:.1} ms over {RUNS} runs (min {:.1}, max {:.1}); peak memory {:.1} MiB",
            size as f64 / 1048576.0,
            ms(median(t.clone())),
            ms(*t.iter().min().unwrap()),
            ms(*t.iter().max().unwrap()),
            peak_of(bin, dir)
        );
    }
    if bins.len() == 2 {
        println!(
            "  this build / baseline: {:.2}",
            median(times[0].clone()).as_secs_f64() / median(times[1].clone()).as_secs_f64()
        );
    }

    // Where the time goes, in-process: the YAML tree alone (on one thread), then everything
    // (the parser on a second thread, handing steps over as it goes).
    let text = std::fs::read_to_string(&big).expect("read");
    let mut parse = Vec::new();
    let mut load = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let node = stepwise::runbook::yaml::Node::parse(&text).expect("parses");
        parse.push(t.elapsed());
        drop(node);
        let t = Instant::now();
        let plan = stepwise::runbook::load(&big).expect("valid");
        load.push(t.elapsed());
        drop(plan);
    }
    println!(
        "  in-process (this build): YAML tree {:.1} ms, whole validation {:.1} ms (medians)",
        ms(median(parse)),
        ms(median(load))
    );

    // 2. 1,000 trivial steps in plain mode with durable state.
    let trivial = dir.join("trivial.yaml");
    std::fs::write(&trivial, trivial_runbook(1000)).expect("write runbook");
    let mut per_step = vec![Vec::new(); bins.len()];
    for run in 0..RUNS {
        for (b, (_, bin)) in bins.iter().enumerate() {
            let t = Instant::now();
            let out = stepwise(bin, dir)
                .args([
                    "run",
                    "trivial.yaml",
                    "--plain",
                    "--name",
                    &format!("bench-{b}-{run}"),
                ])
                .output()
                .expect("run");
            let elapsed = t.elapsed();
            assert!(
                out.status.success(),
                "run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            per_step[b].push(elapsed / 1000);
        }
    }
    for (b, (label, _)) in bins.iter().enumerate() {
        let t = &per_step[b];
        println!(
            "run 1,000 trivial steps, plain, durable, {label}: median {:.2} ms a step over {RUNS} runs (min {:.2}, max {:.2})",
            ms(median(t.clone())),
            ms(*t.iter().min().unwrap()),
            ms(*t.iter().max().unwrap()),
        );
    }
    if bins.len() == 2 {
        println!(
            "  this build / baseline: {:.2}",
            median(per_step[0].clone()).as_secs_f64() / median(per_step[1].clone()).as_secs_f64()
        );
    }
}
