//! The run store on S3 (`--store s3://BUCKET/PREFIX`), through the real binary against moto,
//! checked with the `aws` CLI: the same behaviour as the local store; a run taken over on
//! another machine after its first one died; one driver at a time; a writer that lost its lock
//! writes nothing; no secret in any object, each encrypted; push and pull.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod aws;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/machines.rs"]
mod machines;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/procs.rs"]
mod procs;

use std::process::Child;
use std::time::Duration;

use aws::{cli_json, expect, has};
use machines::{Machine, Reaper, S3, World, at, count, finish, in_order, wait_for};
use moto::Moto;
use nix::sys::signal::Signal;
use serde_json::Value;

/// Three steps that succeed; the second has an output the third uses.
const THREE: &str = r#"
stepwise: 1
id: three
title: Three steps
steps:
  - id: one
    title: One
    run: echo "one says hello"
  - id: two
    title: Two
    run: echo "word=two" >> "$STEPWISE_OUTPUT"
    outputs:
      word: {}
  - id: three
    title: Three
    run: echo "three, with {{ steps.two.word }}"
"#;

/// A step that fails until a flag file is in the work folder.
const GATED: &str = r#"
stepwise: 1
id: gated
title: Gated
steps:
  - id: before
    title: Before
    run: echo before >> marks
  - id: gate
    title: Gate
    run: |
      echo "looking for the flag"
      test -f flag
  - id: after
    title: After
    run: echo after >> marks
"#;

/// A store under test, and how to tell whether it holds a run.
struct Store<'a> {
    m: Machine<'a>,
    holds: Box<dyn Fn(&str) -> bool + 'a>,
}

/// What every store does: a run to its end, its status, listing and journal, a step's
/// output, a name taken, a resume after a failed step, `unlock` with no lock, `rm`.
fn behaviour(store: &Store) {
    let m = &store.m;
    m.sb.write("three.yaml", THREE);
    let r = m.run(&["run", "three.yaml", "--name", "a"]);
    expect(&r, 0);
    has(&r.stdout, "three, with two");
    assert!((store.holds)("a"), "the store does not hold run a");

    let status = m.json(&["status", "a", "--json"]);
    assert_eq!(status["status"], "completed", "{status:#}");
    assert_eq!(status["driven"], false, "{status:#}");
    let steps: Vec<(&str, &str)> = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("one", "succeeded"),
            ("two", "succeeded"),
            ("three", "succeeded")
        ]
    );

    let runs = m.json(&["runs", "--json"]);
    let listed = runs.as_array().unwrap().iter().find(|r| r["name"] == "a");
    let listed = listed.unwrap_or_else(|| panic!("run a is not listed: {runs:#}"));
    assert_eq!(
        (&listed["status"], &listed["done"], &listed["total"]),
        (&"completed".into(), &3.into(), &3.into())
    );

    journal_of_three(m);

    // The name is taken.
    let r = m.run(&["run", "three.yaml", "--name", "a"]);
    expect(&r, 2);
    has(&r.stderr, "run `a` already exists");

    resumed_after_a_failure(m);

    // A re-check is kept where the run is: its journal entry and its last check.
    let r = m.run(&["check", "a"]);
    expect(&r, 0);
    has(&r.stdout, "a (three): holds");
    let status = m.json(&["status", "a", "--json"]);
    assert_eq!(status["last_check"]["result"], "holds", "{status:#}");
    has(&m.run(&["log", "a"]).stdout, "run.checked");

    // No lock: said, and nothing to do.
    expect(&m.run(&["unlock", "a"]), 0);

    let r = m.run(&["rm", "a"]);
    expect(&r, 0);
    has(&r.stdout, "removed a");
    assert!(!(store.holds)("a"), "run a is still in the store");
    assert!(!m.runs().contains(&"a".to_string()));
    expect(&m.run(&["status", "a"]), 2);
    assert!(m.runs().contains(&"f".to_string()));
}

/// `log a` and `log a --json` tell the same story, and `log a one` is the step's output.
fn journal_of_three(m: &Machine) {
    let r = m.run(&["log", "a"]);
    expect(&r, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains("run.created"), "{}", r.stdout);
    assert!(
        lines.last().unwrap().contains("run.completed"),
        "{}",
        r.stdout
    );
    let whats = m.whats("a");
    assert_eq!(
        whats,
        [
            "run.created",
            "step.started one",
            "step.succeeded one",
            "step.started two",
            "step.succeeded two",
            "step.started three",
            "step.succeeded three",
            "run.completed",
        ]
    );
    assert_eq!(lines.len(), whats.len(), "{}", r.stdout);
    let r = m.run(&["log", "a", "one"]);
    expect(&r, 0);
    assert_eq!(r.stdout, "one says hello\n");
}

/// A run stopped by a failing step goes on from it once the cause is fixed.
fn resumed_after_a_failure(m: &Machine) {
    m.sb.write("gated.yaml", GATED);
    let r = m.run(&["run", "gated.yaml", "--name", "f"]);
    expect(&r, 1);
    assert_eq!(m.json(&["status", "f", "--json"])["status"], "failed");
    m.sb.write("flag", "");
    let r = m.run(&["resume", "f"]);
    expect(&r, 0);
    assert_eq!(m.sb.read("marks"), "before\nafter\n");
    let status = m.json(&["status", "f", "--json"]);
    assert_eq!(status["status"], "completed", "{status:#}");
    assert_eq!(status["steps"][1]["attempts"], 2, "{status:#}");
    assert_eq!(
        m.whats("f"),
        [
            "run.created",
            "step.started before",
            "step.succeeded before",
            "step.started gate",
            "step.failed gate",
            "run.resumed",
            "step.started gate",
            "step.succeeded gate",
            "step.started after",
            "step.succeeded after",
            "run.completed",
        ]
    );
}

#[test]
fn the_store_behaviour_on_the_local_store() {
    let m = Machine::local();
    let runs = m.sb.home().join("runs");
    behaviour(&Store {
        m,
        holds: Box::new(move |run| runs.join(run).join("state.json").is_file()),
    });
}

#[test]
fn the_store_behaviour_on_the_s3_store() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-runs", "team/ops");
    let store = Store {
        m: Machine::on(&s3),
        holds: Box::new(|run| s3.exists(&s3.key(run, "state.json"))),
    };
    behaviour(&store);
    let m = &store.m;

    // S3 holds what the commands said, and nothing is left of the drive.
    let state = s3.state("f");
    let status = m.json(&["status", "f", "--json"]);
    for (i, key) in ["before", "gate", "after"].iter().enumerate() {
        assert_eq!(state["steps"][key]["status"], "succeeded", "{state:#}");
        assert_eq!(status["steps"][i]["key"], *key);
    }
    let objects = s3.numbered_journal("f");
    assert_eq!(machines::whats(&objects), m.whats("f"));
    assert_eq!(
        s3.get(&s3.key("f", "logs/gate.log")),
        m.run(&["log", "f", "gate"]).stdout
    );
    let keys = s3.keys("f");
    assert!(s3.lock("f").is_none(), "{keys:#?}");
    assert!(!keys.iter().any(|k| k.contains(".part-")), "{keys:#?}");
    assert!(
        s3.keys("a").is_empty(),
        "rm left objects: {:#?}",
        s3.keys("a")
    );

    // Another machine sees it; the local store does not.
    let other = Machine::on(&s3);
    assert_eq!(other.runs(), ["f"]);
    assert_eq!(
        other.json(&["status", "f", "--json"])["status"],
        "completed"
    );
    assert!(m.runs_local().is_empty(), "{:?}", m.runs_local());
}

/// Step `long` waits for a file, and writes its process group id first.
const MOVING: &str = r#"
stepwise: 1
id: moving
title: Moving between machines
steps:
  - id: first
    title: First
    run: echo first >> "@W/marks"
  - id: long
    title: Long
    run: |
      echo $$ > "@W/long.pgid"
      echo started >> "@W/marks"
      while [ ! -e "@W/go" ]; do sleep 0.1; done
      echo ended >> "@W/marks"
  - id: last
    title: Last
    run: echo last >> "@W/marks"
"#;

/// Starts `run RB --name NAME` on `m`, and waits until its long step has started (its script
/// wrote `started` to `marks`).
fn driving(m: &Machine, world: &World, rb: &str, name: &str, reaper: &mut Reaper) -> Child {
    let child = m.spawn(&["run", rb, "--name", name]);
    reaper.pid(child.id() as i32);
    wait_for("the long step to start", Duration::from_secs(60), || {
        world.read("marks").contains("started")
    });
    child
}

#[test]
fn a_run_whose_machine_died_mid_step_is_taken_over_on_another_through_the_store() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-runs", "ops");
    let world = World::new();
    let rb = world.runbook("moving.yaml", MOVING);
    let (a, b) = (Machine::on(&s3), Machine::on(&s3));
    let mut reaper = Reaper::default();
    let mut child = driving(&a, &world, &rb, "mv", &mut reaper);
    let pid = child.id();
    let pgid: i32 = world.read("long.pgid").trim().parse().unwrap();
    reaper.group(pgid);
    let lock = s3
        .lock("mv")
        .expect("a lock while machine A drives the run");
    assert_eq!(lock["pid"], pid, "{lock:#}");
    assert_eq!(lock["machine"].as_str(), Some(a.machine_id().as_str()));

    // Machine A is gone, stepwise and the step with it.
    child.kill().unwrap();
    child.wait().unwrap();
    machines::signal(pgid, Signal::SIGKILL, true);
    wait_for("the step's group to end", Duration::from_secs(10), || {
        !machines::alive(pgid)
    });
    world.write("go", "");

    // Its lock is still fresh: B is refused, and a plain unlock too.
    let r = b.run(&["resume", "mv", "--moved", "--rerun", "long"]);
    expect(&r, 4);
    has(&r.stderr, &format!("pid {pid} by"));
    has(&r.stderr, "stepwise unlock mv");
    expect(&b.run(&["unlock", "mv"]), 4);
    assert!(s3.lock("mv").is_some(), "a refused unlock removed the lock");
    expect(&b.run(&["unlock", "mv", "--force"]), 0);
    assert!(s3.lock("mv").is_none(), "unlock --force left the lock");

    // Without --moved, and no terminal to ask at: refused.
    let r = b.run(&["resume", "mv", "--rerun", "long"]);
    expect(&r, 2);
    let said = format!("{}{}", r.stdout, r.stderr);
    has(&said, "was last driven on");
    has(&said, &a.sb.home().to_string_lossy());
    assert_eq!(world.read("marks"), "first\nstarted\n");

    let r = b.run(&["resume", "mv", "--moved", "--rerun", "long"]);
    expect(&r, 0);
    assert_eq!(
        world.read("marks"),
        "first\nstarted\nstarted\nended\nlast\n"
    );
    taken_over(&s3, &a, &b, pid);
}

/// After `mv` was taken over by B from A (pid `pid`): the journal and the state say so.
fn taken_over(s3: &S3, a: &Machine, b: &Machine, pid: u32) {
    let entries = b.journal("mv");
    let whats = machines::whats(&entries);
    in_order(
        &whats,
        &[
            "run.created",
            "step.started first",
            "step.succeeded first",
            "step.started long",
            "run.unlocked",
            "run.resumed",
            "step.rerun long",
            "step.started long",
            "step.succeeded long",
            "step.started last",
            "step.succeeded last",
            "run.completed",
        ],
    );
    for (what, times) in [
        ("step.started first", 1),
        ("step.started long", 2),
        ("step.succeeded long", 1),
        ("step.started last", 1),
        ("run.unlocked", 1),
        ("run.resumed", 1),
    ] {
        assert_eq!(count(&whats, what), times, "{what} in {whats:#?}");
    }
    assert_eq!(whats.last().unwrap(), "run.completed");
    let unlocked = entries
        .iter()
        .find(|e| e["what"] == "run.unlocked")
        .unwrap();
    has(
        unlocked["result"].as_str().unwrap_or_default(),
        &format!("pid {pid}"),
    );
    // One object per entry, numbered without a gap, in the journal's order.
    let objects = s3.numbered_journal("mv");
    assert_eq!(objects, entries);
    // Driven last on B, in B's folder; both machines see it completed.
    let state = s3.state("mv");
    let on = &state["driven_on"];
    assert_eq!(
        on["machine"].as_str(),
        Some(b.machine_id().as_str()),
        "{on}"
    );
    assert_eq!(on["home"].as_str(), Some(&*b.sb.home().to_string_lossy()));
    let here = std::fs::canonicalize(b.sb.path()).unwrap();
    let workdir = std::fs::canonicalize(state["workdir"].as_str().unwrap()).unwrap();
    assert_eq!(workdir, here);
    assert_eq!(a.json(&["status", "mv", "--json"])["status"], "completed");
    assert!(s3.lock("mv").is_none());
}

/// A step with a side effect, once a flag for the run is there, that takes a while after it.
const RACE: &str = r#"
stepwise: 1
id: race
title: Race
steps:
  - id: gate
    title: Gate
    run: |
      test -f "@W/{{ run.name }}.flag"
      echo gate >> "@W/{{ run.name }}.side"
      sleep 2
  - id: after
    title: After
    run: echo after >> "@W/{{ run.name }}.side"
"#;

#[test]
fn of_two_processes_resuming_one_run_at_once_exactly_one_drives_it() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-runs", "");
    let world = World::new();
    let rb = world.runbook("race.yaml", RACE);
    let (a, b, c) = (Machine::on(&s3), Machine::on(&s3), Machine::on(&s3));
    for round in 1..=3 {
        let name = format!("race{round}");
        expect(&a.run(&["run", &rb, "--name", &name]), 1);
        world.write(&format!("{name}.flag"), "");
        // The store from the environment this time.
        let [one, two] = machines::at_once([&b, &c].map(|m| {
            let mut cmd = m.local_cmd(&["resume", &name, "--moved"]);
            cmd.env("STEPWISE_STORE", s3.url());
            cmd
        }));
        let (winner, loser) = match (one.1.code, two.1.code) {
            (0, 4) => (one, two),
            (4, 0) => (two, one),
            _ => panic!("round {round}: B {:?}\nC {:?}", one.1, two.1),
        };
        has(&loser.1.stderr, &format!("pid {} by", winner.0));
        assert_eq!(world.read(&format!("{name}.side")), "gate\nafter\n");
        let state = s3.state(&name);
        assert_eq!(state["steps"]["gate"]["status"], "succeeded");
        assert_eq!(state["steps"]["gate"]["attempts"], 2, "{state:#}");
        let whats = machines::whats(&s3.numbered_journal(&name));
        assert_eq!(count(&whats, "run.resumed"), 1, "{whats:#?}");
        assert_eq!(count(&whats, "step.started gate"), 2, "{whats:#?}");
        assert!(s3.lock(&name).is_none());
    }
}

/// A step that waits for a file, then a step after it.
const STALE: &str = r#"
stepwise: 1
id: stale
title: Stale
steps:
  - id: wait
    title: Wait for the file
    run: |
      echo waiting >> "@W/marks"
      while [ ! -e "@W/go" ]; do sleep 0.1; done
      echo waited >> "@W/marks"
  - id: after
    title: After
    run: echo after >> "@W/marks"
"#;

#[test]
fn a_writer_whose_lock_was_taken_away_writes_nothing_more() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-runs", "stale/runs");
    let world = World::new();
    let rb = world.runbook("stale.yaml", STALE);
    let (a, b) = (Machine::on(&s3), Machine::on(&s3));
    let mut reaper = Reaper::default();
    let child = a.spawn(&["run", &rb, "--name", "st"]);
    let pid = child.id();
    reaper.pid(pid as i32);
    wait_for("the step to start", Duration::from_secs(60), || {
        world.read("marks").contains("waiting")
    });
    assert_eq!(s3.lock("st").expect("A's lock")["pid"], pid);

    machines::signal(pid as i32, Signal::SIGSTOP, false);
    expect(&b.run(&["unlock", "st", "--force"]), 0);
    assert!(s3.lock("st").is_none());
    world.write("go", "");
    wait_for("the step's script to end", Duration::from_secs(20), || {
        world.read("marks").contains("waited")
    });
    machines::signal(pid as i32, Signal::SIGCONT, false);
    let ran = finish(child, Duration::from_secs(60));
    expect(&ran, 4);
    has(&ran.stderr, "no longer drives");

    // A wrote no result over what B did, went no further, and put no lock back.
    assert_eq!(world.read("marks"), "waiting\nwaited\n");
    let state = s3.state("st");
    assert_ne!(state["steps"]["wait"]["status"], "succeeded", "{state:#}");
    let entries = s3.numbered_journal("st");
    let whats = machines::whats(&entries);
    in_order(
        &whats,
        &["run.created", "step.started wait", "run.unlocked"],
    );
    let by_a = |e: &&Value| e["pid"] == pid && e["what"] == "step.succeeded";
    assert!(!entries.iter().any(|e| by_a(&e)), "{entries:#?}");
    assert!(s3.lock("st").is_none(), "A put a lock back");

    // B goes on with it.
    let r = b.run(&["resume", "st", "--moved", "--rerun", "wait"]);
    expect(&r, 0);
    assert_eq!(
        world.read("marks"),
        "waiting\nwaited\nwaiting\nwaited\nafter\n"
    );
    assert_eq!(s3.state("st")["steps"]["wait"]["status"], "succeeded");
}

const SECRET: &str = "Tok-S3cr3t-9f8e7d";

/// A secret input, one derived from it, a step that prints it and an output made from it.
const SECRETS: &str = r#"
stepwise: 1
id: secrets
title: Secrets
inputs:
  tok:
    description: A token
    secret: true
  header:
    description: Made from the token
    default: "Bearer {{ inputs.tok }}"
steps:
  - id: show
    title: Print it
    env: { H: "{{ inputs.header }}" }
    run: |
      echo "the token is {{ inputs.tok }}"
      echo "the header is $H"
      echo "derived=x-{{ inputs.tok }}-y" >> "$STEPWISE_OUTPUT"
    outputs:
      derived: {}
  - id: use
    title: Use it
    run: |
      test "{{ steps.show.derived }}" = "x-{{ inputs.tok }}-y"
      echo "using {{ steps.show.derived }}"
      echo same > "@W/checked"
"#;

/// Every object of the run, read back: none holds the secret; each is encrypted as `sse`
/// says (`ServerSideEncryption`, and the KMS key when there is one).
fn no_secret_and_encrypted(s3: &S3, run: &str, sse: &str, kms_key: Option<&str>) {
    let objects = s3.download(&s3.key(run, ""));
    let keys: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, s3.keys(run));
    for needed in ["state.json", "journal/00000001.json", "logs/show.log"] {
        assert!(keys.contains(&s3.key(run, needed)), "{needed}: {keys:#?}");
    }
    for (key, text) in &objects {
        assert!(!text.contains(SECRET), "the secret is in {key}:\n{text}");
        let head = s3.head(key);
        assert_eq!(head["ServerSideEncryption"], sse, "{key}: {head:#}");
        if let Some(id) = kms_key {
            let used = head["SSEKMSKeyId"].as_str().unwrap_or_default();
            has(used, id);
        }
    }
    let log = s3.get(&s3.key(run, "logs/show.log"));
    has(&log, "the token is ********");
    has(&log, "the header is ********");
    let state = s3.state(run);
    assert_eq!(state["inputs"]["tok"], serde_json::json!({"secret": true}));
    assert_eq!(
        state["inputs"]["header"],
        serde_json::json!({"secret": true})
    );
    assert_eq!(
        state["steps"]["show"]["secret_outputs"],
        serde_json::json!(["derived"])
    );
}

#[test]
fn no_object_holds_a_secret_and_every_object_is_encrypted() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-secrets", "");
    let world = World::new();
    let rb = world.runbook("secrets.yaml", SECRETS);
    let m = Machine::on(&s3);
    let tok = format!("tok={SECRET}");
    let r = m.run(&["run", &rb, "--name", "sec", "--input", &tok]);
    expect(&r, 0);
    has(&r.stdout, "the token is ********");
    assert_eq!(
        world.read("checked"),
        "same\n",
        "the step did not get the value"
    );
    no_secret_and_encrypted(&s3, "sec", "AES256", None);
    // Nor in the machine's working copy.
    assert!(!cli::all_files(&m.sb.home()).contains(SECRET));

    // With a KMS key: SSE-KMS, with that key.
    let key = cli_json(&moto, &["kms", "create-key"]);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let r = m.run(&[
        "run",
        &rb,
        "--name",
        "kms",
        "--input",
        &tok,
        "--store-kms-key",
        &key_id,
    ]);
    expect(&r, 0);
    no_secret_and_encrypted(&s3, "kms", "aws:kms", Some(&key_id));
    // Nor anywhere else in the bucket.
    let everything = s3.download("");
    assert!(everything.len() >= 2 * 4, "{everything:#?}");
    for (key, text) in everything {
        assert!(!text.contains(SECRET), "the secret is in {key}");
    }
    assert!(!cli::all_files(&m.sb.home()).contains(SECRET));
}

/// A step that fails until a flag file is in the shared folder.
const SHELVED: &str = r#"
stepwise: 1
id: shelved
title: Shelved
steps:
  - id: before
    title: Before
    run: echo before >> "@W/marks"
  - id: gate
    title: Gate
    run: |
      echo "looking for the flag"
      test -f "@W/flag"
  - id: after
    title: After
    run: echo after >> "@W/marks"
"#;

#[test]
fn a_local_run_is_pushed_to_the_store_resumed_elsewhere_and_pulled_back() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-shelf", "shelf");
    let world = World::new();
    let rb = world.runbook("shelved.yaml", SHELVED);
    let (a, b) = (Machine::on(&s3), Machine::on(&s3));
    expect(&a.run_local(&["run", &rb, "--name", "p"]), 1);
    assert_eq!(a.runs_local(), ["p"]);

    expect(&a.run(&["push", "p"]), 0);
    assert!(!a.sb.run_dir("p").exists(), "the local run is still there");
    assert!(a.runs_local().is_empty());
    let runs = a.json(&["runs", "--json"]);
    assert_eq!(
        (&runs[0]["name"], &runs[0]["status"]),
        (&"p".into(), &"failed".into()),
        "{runs:#}"
    );
    assert_eq!(s3.state("p")["steps"]["gate"]["status"], "failed");
    let pushed = machines::whats(&s3.numbered_journal("p"));
    assert_eq!(pushed.last().unwrap(), "run.pushed", "{pushed:#?}");

    // A local run of that name is not pushed over the store's, nor pulled over.
    expect(&a.run_local(&["run", &rb, "--name", "p"]), 1);
    assert_ne!(a.run(&["push", "p"]).code, 0);
    assert_ne!(a.run(&["pull", "p"]).code, 0);
    assert_eq!(s3.numbered_journal("p").len(), pushed.len());
    assert_eq!(a.runs_local(), ["p"]);
    assert!(
        s3.lock("p").is_none(),
        "a refused pull left the store's lock"
    );

    world.write("flag", "");
    let r = b.run(&["resume", "p", "--moved"]);
    expect(&r, 0);
    assert_eq!(world.read("marks"), "before\nbefore\nafter\n");

    expect(&b.run(&["pull", "p"]), 0);
    assert!(s3.keys("p").is_empty(), "{:#?}", s3.keys("p"));
    assert!(b.runs().is_empty());
    assert_eq!(b.runs_local(), ["p"]);
    let status = b.json_local(&["status", "p", "--json"]);
    assert_eq!(status["status"], "completed", "{status:#}");
    let whats = machines::whats(&machines::journal_of(&b.run_local(&["log", "p", "--json"])));
    in_order(
        &whats,
        &[
            "run.created",
            "step.failed gate",
            "run.pushed",
            "run.resumed",
            "step.succeeded gate",
            "run.completed",
            "run.pulled",
        ],
    );
    let log = b.run_local(&["log", "p", "gate"]).stdout;
    assert_eq!(log.matches("looking for the flag").count(), 2, "{log}");
}

/// A step that holds the run until a file is there.
const HELD: &str = r#"
stepwise: 1
id: held
title: Held
steps:
  - id: hold
    title: Hold
    run: |
      echo "holding on"
      echo started >> "@W/marks"
      while [ ! -e "@W/go" ]; do sleep 0.1; done
      echo "let go"
"#;

#[test]
fn a_second_process_anywhere_is_refused_while_the_lock_is_renewed() {
    let moto = Moto::start();
    let s3 = S3::new(&moto, "stepwise-runs", "held");
    let world = World::new();
    let rb = world.runbook("held.yaml", HELD);
    let (a, b) = (Machine::on(&s3), Machine::on(&s3));
    let mut reaper = Reaper::default();
    let child = driving(&a, &world, &rb, "h", &mut reaper);
    let pid = child.id();
    let lock = s3.lock("h").expect("A's lock");
    assert_eq!(lock["pid"], pid, "{lock:#}");
    assert_eq!(lock["machine"].as_str(), Some(a.machine_id().as_str()));
    for field in ["user", "host"] {
        assert!(
            !lock[field].as_str().unwrap_or_default().is_empty(),
            "{lock}"
        );
    }
    let lease = at(&lock, "until").duration_since(at(&lock, "renewed"));
    assert_eq!(lease.as_secs(), 30, "{lock:#}");
    assert!(at(&lock, "since") <= at(&lock, "renewed"), "{lock:#}");

    let r = b.run(&["resume", "h", "--moved"]);
    expect(&r, 4);
    has(&r.stderr, &format!("pid {pid} by"));
    has(&r.stderr, "renewed");
    has(&r.stderr, "stepwise unlock h");
    let r = b.run(&["unlock", "h"]);
    expect(&r, 4);
    expect(&b.run(&["rm", "h", "--force"]), 4);
    assert_eq!(s3.lock("h").expect("the lock stays")["pid"], pid);
    assert!(s3.exists(&s3.key("h", "state.json")));
    assert_eq!(b.json(&["status", "h", "--json"])["driven"], true);

    // The lock is renewed, and the running step's output is put as it comes.
    wait_for("the lock to be renewed", Duration::from_secs(20), || {
        s3.lock("h")
            .is_some_and(|l| l["renewed"] != lock["renewed"])
    });
    let renewed = s3.lock("h").unwrap();
    assert_eq!(
        (&renewed["pid"], &renewed["since"]),
        (&lock["pid"], &lock["since"])
    );
    let part = s3.key("h", "logs/hold.log.part-00000000000000000000");
    wait_for("a part of the step's log", Duration::from_secs(20), || {
        s3.exists(&part)
    });
    has(&s3.get(&part), "holding on");
    for key in [s3.key("h", "lock"), part.clone()] {
        assert_eq!(s3.head(&key)["ServerSideEncryption"], "AES256", "{key}");
    }
    has(&b.run(&["log", "h", "hold"]).stdout, "holding on");

    world.write("go", "");
    expect(&finish(child, Duration::from_secs(60)), 0);
    assert_eq!(s3.state("h")["steps"]["hold"]["status"], "succeeded");
    assert!(s3.lock("h").is_none(), "A left its lock");
    let keys = s3.keys("h");
    assert!(!keys.iter().any(|k| k.contains(".part-")), "{keys:#?}");
    assert_eq!(
        s3.get(&s3.key("h", "logs/hold.log")),
        "holding on\nlet go\n"
    );
}
