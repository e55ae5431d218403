//! `stepwise validate` on runbooks: broken ones get every problem reported, each located with
//! the offending line, a caret and hints, and exit status 2; valid ones print `ok`; and no
//! input, however broken, makes the validator panic.
//!
//! The broken runbooks are in `tests/fixtures/broken/`, one sort of problem per file; the
//! expected report is written out in full below each test's name.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// Runs `stepwise` from the crate root, so that paths in messages are relative.
fn stepwise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("stepwise runs")
}

/// Validates `tests/fixtures/broken/<fixture>` and checks the exact report on stderr.
/// `expected` starts with a line break, for readability.
#[track_caller]
fn assert_invalid(fixture: &str, expected: &str) {
    let path = format!("tests/fixtures/broken/{fixture}");
    let out = stepwise(&["validate", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = expected.strip_prefix('\n').unwrap_or(expected);
    assert!(
        stderr == expected,
        "stderr of `stepwise validate {path}` differs\n--- expected:\n{expected}--- actual:\n{stderr}---"
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit status of validating {path}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "stdout of validating {path}"
    );
}

/// A key indented one space too far reads as the continuation of the value above.
#[test]
fn yaml_syntax_error_bad_indentation() {
    assert_invalid(
        "syntax-indent.yaml",
        r#"
tests/fixtures/broken/syntax-indent.yaml:7:9: YAML syntax error: mapping values are not allowed in this context
  |
7 |      run: echo hi
  |         ^
  = hint: check the indentation of this line against the lines above; a value that contains `: ` must be quoted

1 problem found; nothing was run
"#,
    );
}

/// The parser reports the indentation of the next line; the caret and hint point at the quote.
#[test]
fn yaml_syntax_error_unclosed_quote() {
    assert_invalid(
        "syntax-quote.yaml",
        r#"
tests/fixtures/broken/syntax-quote.yaml:3:8: YAML syntax error: invalid indentation in quoted scalar
  |
3 | title: "Unclosed quote
  |        ^
  = hint: check that the quote that starts here is closed

1 problem found; nothing was run
"#,
    );
}

#[test]
fn unknown_step_field_suggests_the_closest() {
    assert_invalid(
        "unknown-step-field.yaml",
        r#"
tests/fixtures/broken/unknown-step-field.yaml:8:5: unknown field `timout`
  |
8 |     timout: 10m
  |     ^^^^^^
  = hint: did you mean `timeout`?

1 problem found; nothing was run
"#,
    );
}

#[test]
fn unknown_top_level_field() {
    assert_invalid(
        "unknown-top-field.yaml",
        r#"
tests/fixtures/broken/unknown-top-field.yaml:4:1: unknown field `input`
  |
4 | input:
  | ^^^^^
  = hint: did you mean `inputs`?

1 problem found; nothing was run
"#,
    );
}

/// Problems in three different steps, of two different sorts, all in one report.
#[test]
fn every_problem_is_reported_not_only_the_first() {
    assert_invalid(
        "several-problems.yaml",
        r#"
tests/fixtures/broken/several-problems.yaml:8:5: unknown field `comand`
  |
8 |     comand: make
  |     ^^^^^^

tests/fixtures/broken/several-problems.yaml:12:5: unknown field `envs`
   |
12 |     envs:
   |     ^^^^
   = hint: did you mean `env`?

tests/fixtures/broken/several-problems.yaml:17:14: invalid duration `soon`: expected a number followed by a unit
   |
17 |     timeout: soon
   |              ^^^^
   = hint: write a number with a unit, e.g. `30s`, `10m`, `1h 30m` or `3d`

3 problems found; nothing was run
"#,
    );
}

#[test]
fn step_without_id_or_title() {
    assert_invalid(
        "missing-id-title.yaml",
        r#"
tests/fixtures/broken/missing-id-title.yaml:5:5: this step has no `id`
  |
5 |   - title: No id
  |     ^^^^^
  = hint: give every step a unique `id`, e.g. `id: build`

tests/fixtures/broken/missing-id-title.yaml:7:5: step `no-title` has no `title`
  |
7 |   - id: no-title
  |     ^^
  = hint: give every step a one-line `title`

2 problems found; nothing was run
"#,
    );
}

#[test]
fn runbook_without_steps() {
    assert_invalid(
        "missing-steps.yaml",
        r#"
tests/fixtures/broken/missing-steps.yaml:1:1: missing field `steps`
  |
1 | stepwise: 1
  | ^^^^^^^^
  = hint: list the steps under `steps:`, each with `id`, `title` and one kind

1 problem found; nothing was run
"#,
    );
}

#[test]
fn unsupported_format_version() {
    assert_invalid(
        "version-2.yaml",
        r#"
tests/fixtures/broken/version-2.yaml:1:11: unsupported format version 2
  |
1 | stepwise: 2
  |           ^
  = hint: this stepwise reads `stepwise: 1`

1 problem found; nothing was run
"#,
    );
}

#[test]
fn duplicate_step_ids() {
    assert_invalid(
        "duplicate-ids.yaml",
        r#"
tests/fixtures/broken/duplicate-ids.yaml:11:9: duplicate step id `build` (first used at line 5)
   |
11 |   - id: build
   |         ^^^^^
   = hint: step ids must be unique within a runbook; `-` and `_` count as the same

1 problem found; nothing was run
"#,
    );
}

#[test]
fn two_kinds_on_one_step_and_a_step_with_no_kind() {
    assert_invalid(
        "two-kinds.yaml",
        r#"
tests/fixtures/broken/two-kinds.yaml:8:5: step `both` has two kinds: `run` and `manual`
  |
8 |     manual: Check the output
  |     ^^^^^^
  = hint: a step does one thing; split it into two steps

tests/fixtures/broken/two-kinds.yaml:9:5: step `neither` has no kind
  |
9 |   - id: neither
  |     ^^
  = hint: give it one of `manual`, `run`, `check`, `aws`, `file` or `include`

2 problems found; nothing was run
"#,
    );
}

/// References are named as written (`get-ip`), not in template spelling (`get_ip`), in file order.
#[test]
fn unknown_input_step_output_and_later_step() {
    assert_invalid(
        "unknown-refs.yaml",
        r#"
tests/fixtures/broken/unknown-refs.yaml:16:16: unknown input `regoin`
   |
16 |       echo "{{ inputs.regoin }}"
   |                ^^^^^^^^^^^^^
   = hint: did you mean `region`?

tests/fixtures/broken/unknown-refs.yaml:17:16: unknown step `get-ipp`
   |
17 |       echo "{{ steps.get-ipp.ip }}"
   |                ^^^^^^^^^^^^^^^^
   = hint: did you mean `get-ip`?

tests/fixtures/broken/unknown-refs.yaml:18:16: unknown output `addr` of `steps.get-ip`
   |
18 |       echo "{{ steps.get-ip.addr }}"
   |                ^^^^^^^^^^^^^^^^^
   = hint: expected one of `ip`

tests/fixtures/broken/unknown-refs.yaml:19:16: `steps.later` refers to a later step
   |
19 |       echo "{{ steps.later.value }}"
   |                ^^^^^^^^^^^^^^^^^
   = hint: a step can only use outputs of the steps before it

4 problems found; nothing was run
"#,
    );
}

#[test]
fn invalid_regex_in_input_pattern_and_output_regex() {
    assert_invalid(
        "bad-regex.yaml",
        r#"
tests/fixtures/broken/bad-regex.yaml:6:14: invalid regular expression `[a-z`: unclosed character class
  |
6 |     pattern: "[a-z"
  |              ^^^^^^

tests/fixtures/broken/bad-regex.yaml:13:16: invalid regular expression `version (\d+`: unclosed group
   |
13 |         regex: "version (\\d+"
   |                ^^^^^^^^^^^^^^^

2 problems found; nothing was run
"#,
    );
}

/// An unknown unit, a number without a unit, and a bad `wait.every`.
#[test]
fn bad_durations() {
    assert_invalid(
        "bad-durations.yaml",
        r#"
tests/fixtures/broken/bad-durations.yaml:8:14: invalid duration `10 minuts`: unknown unit `minuts`
  |
8 |     timeout: 10 minuts
  |              ^^
  = hint: write a number with a unit, e.g. `30s`, `10m`, `1h 30m` or `3d`

tests/fixtures/broken/bad-durations.yaml:12:14: invalid duration `10`: a number needs a unit
   |
12 |     timeout: 10
   |              ^^
   = hint: write e.g. `10s` or `10m`

tests/fixtures/broken/bad-durations.yaml:17:14: invalid duration `often`: expected a number followed by a unit
   |
17 |       every: often
   |              ^^^^^
   = hint: write a number with a unit, e.g. `30s`, `10m`, `1h 30m` or `3d`

3 problems found; nothing was run
"#,
    );
}

/// The cycle is reported where it closes, in b.yaml.
#[test]
fn include_cycle() {
    assert_invalid(
        "cycle/a.yaml",
        r#"
tests/fixtures/broken/cycle/b.yaml:7:14: include cycle: a.yaml -> b.yaml -> a.yaml
  |
7 |     include: a.yaml
  |              ^^^^^^
  = hint: a runbook cannot include itself, directly or through others

1 problem found; nothing was run
"#,
    );
}

/// `include/child.yaml` is itself valid; `include/parent.yaml` includes it badly.
#[test]
fn include_missing_file_unknown_input_and_missing_required_input() {
    assert_invalid(
        "include/parent.yaml",
        r#"
tests/fixtures/broken/include/parent.yaml:7:14: included runbook `nowhere.yaml` not found
  |
7 |     include: nowhere.yaml
  |              ^^^^^^^^^^^^
  = hint: the path is relative to this runbook's folder

tests/fixtures/broken/include/parent.yaml:10:14: `child.yaml` needs input `name`
   |
10 |     include: child.yaml
   |              ^^^^^^^^^^
   = hint: pass it with `with: { name: ... }`

tests/fixtures/broken/include/parent.yaml:12:7: unknown input `greting` of `child.yaml`
   |
12 |       greting: hi
   |       ^^^^^^^
   = hint: did you mean `greeting`?

3 problems found; nothing was run
"#,
    );
}

#[test]
fn template_syntax_error() {
    assert_invalid(
        "bad-template.yaml",
        r#"
tests/fixtures/broken/bad-template.yaml:10:16: invalid template: `{{` is not closed
   |
10 |     run: echo "{{ inputs.x "
   |                ^^
   = hint: end it with `}}`

1 problem found; nothing was run
"#,
    );
}

#[test]
fn wrong_types() {
    assert_invalid(
        "wrong-types.yaml",
        r#"
tests/fixtures/broken/wrong-types.yaml:8:18: wrong type: found string "maybe", expected a boolean
  |
8 |     interactive: maybe
  |                  ^^^^^

tests/fixtures/broken/wrong-types.yaml:12:12: wrong type: found string "lots", expected a number of tries, or a mapping with `times` and `delay`
   |
12 |     retry: lots
   |            ^^^^

2 problems found; nothing was run
"#,
    );
}

#[test]
fn unknown_aws_action_and_unknown_parameter() {
    assert_invalid(
        "aws.yaml",
        r#"
tests/fixtures/broken/aws.yaml:7:10: unknown AWS action `sts.get_caller_identiy`
  |
7 |     aws: sts.get_caller_identiy
  |          ^^^^^^^^^^^^^^^^^^^^^^
  = hint: did you mean `sts.get_caller_identity`?

tests/fixtures/broken/aws.yaml:12:7: sts.get_caller_identity: unknown parameter `region`
   |
12 |       region: us-east-1
   |       ^^^^^^
   = hint: `sts.get_caller_identity` takes no parameters

2 problems found; nothing was run
"#,
    );
}

#[test]
fn field_that_does_not_apply_to_the_kind() {
    assert_invalid(
        "field-kind.yaml",
        r#"
tests/fixtures/broken/field-kind.yaml:8:5: `prompts` does not apply to a `run` step
  |
8 |     prompts:
  |     ^^^^^^^
  = hint: `prompts` is for `manual` steps

1 problem found; nothing was run
"#,
    );
}

#[test]
fn duplicate_yaml_key() {
    assert_invalid(
        "duplicate-key.yaml",
        r#"
tests/fixtures/broken/duplicate-key.yaml:8:5: duplicate key `run` (first defined at line 7)
  |
8 |     run: make test
  |     ^^^
  = hint: a key may appear only once in a mapping; keep one of them

1 problem found; nothing was run
"#,
    );
}

// Valid runbooks.

/// Steps are checked while the rest of the file is still being parsed; inputs declared after
/// the steps are still known to the steps' templates.
#[test]
fn inputs_declared_after_the_steps() {
    assert_invalid(
        "inputs-after-steps.yaml",
        r#"
tests/fixtures/broken/inputs-after-steps.yaml:7:37: unknown input `nmae`
  |
7 |     run: echo "{{ inputs.name }} {{ inputs.nmae }}"
  |                                     ^^^^^^^^^^^
  = hint: did you mean `name`?

1 problem found; nothing was run
"#,
    );
}

/// A list of steps with an anchor is kept whole by the parser, and checked the same way.
#[test]
fn anchored_list_of_steps() {
    assert_invalid(
        "anchored-steps.yaml",
        r#"
tests/fixtures/broken/anchored-steps.yaml:7:19: `steps.second` refers to a later step
  |
7 |     run: echo "{{ steps.second.value }}"
  |                   ^^^^^^^^^^^^^^^^^^
  = hint: a step can only use outputs of the steps before it

1 problem found; nothing was run
"#,
    );
}

/// Steps checked before the parser reached a syntax error further down report nothing: the
/// syntax error comes first, alone.
#[test]
fn syntax_error_after_broken_steps() {
    assert_invalid(
        "syntax-after-problems.yaml",
        r#"
tests/fixtures/broken/syntax-after-problems.yaml:10:12: YAML syntax error: while scanning a quoted scalar, found unexpected end of stream
   |
10 |     title: "Second
   |            ^
   = hint: check that the quote that starts here is closed

1 problem found; nothing was run
"#,
    );
}

#[test]
fn valid_runbooks_pass() {
    // `references.yaml` uses hyphenated ids (`{{ steps.get-ip.external_ip }}`), outputs of an
    // included runbook (`{{ steps.inc.child-step.out }}`), input defaults built from earlier
    // inputs, prompts and AWS outputs used by later steps, and `timeout: 10 minutes`.
    let out = stepwise(&[
        "validate",
        "tests/fixtures/valid/references.yaml",
        "tests/fixtures/valid/child.yaml",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tests/fixtures/valid/references.yaml: ok\ntests/fixtures/valid/child.yaml: ok\n"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn shipped_runbooks_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("runbooks/ exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("runbooks/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "the shipped runbooks: {files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = stepwise(&args);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let expected: String = files.iter().map(|f| format!("{f}: ok\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn valid_and_broken_files_together() {
    let out = stepwise(&[
        "validate",
        "tests/fixtures/valid/child.yaml",
        "tests/fixtures/broken/version-2.yaml",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tests/fixtures/valid/child.yaml: ok\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        r#"tests/fixtures/broken/version-2.yaml:1:11: unsupported format version 2
  |
1 | stepwise: 2
  |           ^
  = hint: this stepwise reads `stepwise: 1`

1 problem found; nothing was run
"#
    );
    assert_eq!(out.status.code(), Some(2));
}

// No panic on any input.

/// A small deterministic generator (Knuth's MMIX LCG), so that failures can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to YAML, templates, UTF-8 or the caret renderer.
const NASTY: &[&[u8]] = &[
    b"\t",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\0",
    b"\r",
    b"\n",
    b" ",
    b":",
    b": ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"&a ",
    b"*a",
    b"!!str ",
    b"|",
    b">",
    b"#",
    b"%",
    b"?",
    b"@",
    b"`",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"{#",
    b"\\",
    b"---\n",
    b"...\n",
    b"\xc3\xa9",
    b"\xf0\x9f\x92\xa5",
    b"steps.",
    b"inputs.",
    b"-",
    b"_",
    b"0",
    b"99999999999999999999",
];

fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// Mutations of one valid runbook: truncations, line edits, inserted and replaced bytes.
fn mutate(name: &str, base: &[u8], rng: &mut Lcg, out: &mut Vec<(String, Vec<u8>)>) {
    let step = (base.len() / 150).max(1);
    for at in (0..base.len()).step_by(step) {
        out.push((format!("{name}: truncated at {at}"), base[..at].to_vec()));
    }
    let ls = lines(base);
    for _ in 0..40 {
        let i = rng.below(ls.len());
        let mut v = ls.clone();
        v.remove(i);
        out.push((format!("{name}: line {} deleted", i + 1), v.concat()));
        let i = rng.below(ls.len());
        let mut v = ls.clone();
        v.insert(i, ls[i]);
        out.push((format!("{name}: line {} duplicated", i + 1), v.concat()));
        let (i, j) = (rng.below(ls.len()), rng.below(ls.len()));
        let mut v = ls.clone();
        v.swap(i, j);
        out.push((
            format!("{name}: lines {} and {} swapped", i + 1, j + 1),
            v.concat(),
        ));
        let i = rng.below(ls.len());
        let mut v: Vec<Vec<u8>> = ls.iter().map(|l| l.to_vec()).collect();
        if rng.below(2) == 0 {
            v[i].insert(0, b' ');
        } else if v[i].first() == Some(&b' ') {
            v[i].remove(0);
        } else {
            v[i].insert(0, b'\t');
        }
        out.push((
            format!("{name}: indentation of line {} changed", i + 1),
            v.concat(),
        ));
    }
    for _ in 0..120 {
        let mut v = base.to_vec();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(v.len() + 1);
            let bytes = NASTY[rng.below(NASTY.len())];
            v.splice(at..at, bytes.iter().copied());
            what.push(format!("{bytes:?} at {at}"));
        }
        out.push((format!("{name}: inserted {}", what.join(", ")), v));
    }
    for _ in 0..60 {
        let mut v = base.to_vec();
        let at = rng.below(v.len());
        let byte = rng.next() as u8;
        v[at] = byte;
        out.push((format!("{name}: byte {at} replaced by {byte:#04x}"), v));
    }
}

/// Inputs written to break things: deep nesting, huge values, encodings.
fn specials() -> Vec<(String, Vec<u8>)> {
    let step = |body: &str| {
        format!("stepwise: 1\nid: x\ntitle: t\nsteps:\n  - id: a\n    title: a\n{body}\n")
            .into_bytes()
    };
    let deep_map: String = (0..2000)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let deep_list: String = (0..2000)
        .map(|i| format!("{}-\n", "  ".repeat(i)))
        .collect();
    let mut cases = vec![
        ("empty file".to_string(), Vec::new()),
        ("10,000 `[`".to_string(), "[".repeat(10_000).into_bytes()),
        ("10,000 `{`".to_string(), "{".repeat(10_000).into_bytes()),
        ("10,000 `[` closed".to_string(), format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("10,000 `- `".to_string(), "- ".repeat(10_000).into_bytes()),
        ("steps nested 10,000 deep".to_string(), format!("stepwise: 1\nid: x\ntitle: t\nsteps: {}", "[".repeat(10_000)).into_bytes()),
        ("2,000 nested mappings".to_string(), deep_map.into_bytes()),
        ("2,000 nested lists".to_string(), deep_list.into_bytes()),
        ("only a BOM".to_string(), b"\xef\xbb\xbf".to_vec()),
        ("NUL bytes".to_string(), b"stepwise: 1\0\nid: \0\n".to_vec()),
        ("invalid UTF-8 first".to_string(), b"\xff\xfe\nstepwise: 1\n".to_vec()),
        ("lone CRs".to_string(), b"stepwise: 1\rid: x\rtitle: t\rsteps: []\r".to_vec()),
        ("two documents".to_string(), b"stepwise: 1\n---\nstepwise: 1\n".to_vec()),
        ("a scalar".to_string(), b"just text".to_vec()),
        ("a list".to_string(), b"- a\n- b\n".to_vec()),
        ("self alias".to_string(), b"a: &a [*a]\n".to_vec()),
        ("unknown alias".to_string(), b"stepwise: *nowhere\n".to_vec()),
        ("complex key".to_string(), b"? [a, b]\n: c\n".to_vec()),
        ("tag".to_string(), b"stepwise: !!binary aGVsbG8=\n".to_vec()),
        ("long line".to_string(), format!("stepwise: 1\nid: {}\n", "x".repeat(1_000_000)).into_bytes()),
        ("template parentheses 10,000 deep".to_string(), step(&format!("    run: \"{{{{ {} }}}}\"", "(".repeat(10_000)))),
        ("template 10,000 filters".to_string(), step(&format!("    run: \"{{{{ inputs.x{} }}}}\"", " | upper".repeat(10_000)))),
        ("template 50,000 opening tags".to_string(), step(&format!("    run: \"{}\"", "{{".repeat(50_000)))),
        ("template blocks 2,000 deep".to_string(), step(&format!("    run: \"{}x{}\"", "{% if true %}".repeat(2_000), "{% endif %}".repeat(2_000)))),
        ("when 10,000 deep".to_string(), step(&format!("    run: x\n    when: \"{}\"", "(".repeat(10_000)))),
        ("when 10,000 nots".to_string(), step(&format!("    run: x\n    when: \"{}true\"", "not ".repeat(10_000)))),
        ("regex 10,000 groups".to_string(), format!("stepwise: 1\nid: x\ntitle: t\ninputs:\n  a:\n    pattern: \"{}{}\"\nsteps: []\n", "(".repeat(10_000), ")".repeat(10_000)).into_bytes()),
        ("JSON path 10,000 brackets".to_string(), step(&format!("    run: x\n    outputs:\n      o:\n        json: \"${}\"", "[".repeat(10_000)))),
        ("JSON path 10,000 filters".to_string(), step(&format!("    run: x\n    outputs:\n      o:\n        json: \"$[?{}@.a{}]\"", "(".repeat(10_000), ")".repeat(10_000)))),
        ("huge retry".to_string(), step("    run: x\n    retry: 99999999999999999999999")),
        ("negative retry".to_string(), step("    run: x\n    retry: -5")),
        ("huge timeout".to_string(), step("    run: x\n    timeout: 99999999999999999999999999y")),
        ("negative timeout".to_string(), step("    run: x\n    timeout: -5")),
        ("float timeout".to_string(), step("    run: x\n    timeout: 1.5")),
        ("huge file mode".to_string(), step("    file:\n      path: p\n      content: c\n      mode: \"0o77777777777777777777777\"")),
        ("file set with current".to_string(), step("    file:\n      path: p.yaml\n      set:\n        \"a..b[[\": \"{{ current + 1 }}\"")),
        ("include itself".to_string(), step("    include: main.yaml")),
        ("include a folder".to_string(), step("    include: .")),
        ("include an absolute device".to_string(), step("    include: /dev/null")),
        ("include outside".to_string(), step("    include: ../../../../../../../../etc/hostname")),
        ("unicode before an error".to_string(), "stepwise: 1\nid: x\ntitle: ééé\nsteps:\n  - id: a\n    title: 💥\t💥\n    run: \"💥 {{ inputs.é }}\"\n".as_bytes().to_vec()),
        ("tab before an error".to_string(), b"stepwise: 1\nid: x\ntitle: t\nsteps:\n\t- id: a\n".to_vec()),
        ("every kind at once".to_string(), step("    manual: m\n    run: r\n    check: c\n    aws: a\n    file: {path: p, content: c}\n    include: i.yaml")),
    ];
    // An alias bomb: ten levels of ten copies.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{p}"); 10].join(", ")
        ));
    }
    cases.push(("alias bomb".to_string(), bomb.into_bytes()));
    cases
}

fn all_inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rng = Lcg(0x5eed);
    let mut inputs = specials();
    for base in [
        "runbooks/example.yaml",
        "runbooks/example-greeting.yaml",
        "tests/fixtures/valid/references.yaml",
    ] {
        let text = std::fs::read(root.join(base)).expect("base runbook");
        mutate(base, &text, &mut rng, &mut inputs);
        // The same runbook with CRLF line ends and a BOM.
        let crlf = String::from_utf8_lossy(&text).replace('\n', "\r\n");
        inputs.push((
            format!("{base}: CRLF and BOM"),
            [b"\xef\xbb\xbf", crlf.as_bytes()].concat(),
        ));
    }
    inputs
}

/// A folder holding the runbooks the bases include, and where each input is written as
/// `main.yaml`.
fn workdir() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    for (from, to) in [
        ("runbooks/example-greeting.yaml", "example-greeting.yaml"),
        ("tests/fixtures/valid/child.yaml", "child.yaml"),
    ] {
        std::fs::copy(root.join(from), dir.path().join(to)).expect("copy included runbook");
    }
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).expect("create input");
    f.write_all(bytes).expect("write input");
}

#[test]
fn validator_never_panics() {
    let started = Instant::now();
    let inputs = all_inputs();
    let dir = workdir();
    let file = dir.path().join("main.yaml");
    // Like the binary, on a thread with the main thread's usual 8 MiB of stack.
    let (failures, passed, count) = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let mut failures = Vec::new();
            let mut passed = 0;
            for (what, bytes) in &inputs {
                write(&file, bytes);
                // A stack overflow aborts the process instead of unwinding; name the input.
                if std::env::var_os("STEPWISE_FUZZ_TRACE").is_some() {
                    eprintln!("validating: {what}");
                }
                let result = catch_unwind(AssertUnwindSafe(|| {
                    // Rendering is part of validating: the caret and line are computed there.
                    let diags = stepwise::runbook::validate(&file);
                    diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
                }));
                match result {
                    Ok(problems) if problems.is_empty() => passed += 1,
                    Ok(_) => {}
                    Err(_) => failures.push(what.clone()),
                }
            }
            (failures, passed, inputs.len())
        })
        .expect("thread")
        .join()
        .expect("the validating thread does not die");
    assert!(
        failures.is_empty(),
        "the validator panicked on {} of {count} inputs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutations are not all refused at the first byte: some still pass (the included
    // runbooks are found), and most are refused.
    assert!(count > 1000, "only {count} inputs");
    assert!(
        passed > 20 && passed < count / 2,
        "{passed} of {count} inputs passed"
    );
    eprintln!(
        "{count} inputs validated ({passed} passed) in {:?}",
        started.elapsed()
    );
}

/// The binary itself, on the inputs most likely to break it: exit status 0 or 2, never a
/// panic (101) or a signal.
#[test]
fn binary_never_panics_on_hostile_inputs() {
    let dir = workdir();
    let file = dir.path().join("main.yaml");
    let mut inputs = specials();
    let mut rng = Lcg(0xbad);
    let base = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/example.yaml"))
        .expect("base runbook");
    let mut mutated = Vec::new();
    mutate("runbooks/example.yaml", &base, &mut rng, &mut mutated);
    for _ in 0..20 {
        let i = rng.below(mutated.len());
        inputs.push(mutated.swap_remove(i));
    }
    for (what, bytes) in &inputs {
        write(&file, bytes);
        let out = Command::new(env!("CARGO_BIN_EXE_stepwise"))
            .arg("validate")
            .arg(&file)
            .output()
            .expect("stepwise runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{what}: exit status {:?}\n{stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        if out.status.code() == Some(2) {
            assert!(stderr.contains("nothing was run"), "{what}: {stderr}");
        }
    }
}

#[test]
fn a_runbook_that_cannot_be_read_is_said_in_one_line() {
    for args in [
        &["validate", "runbooks/nope.yaml"][..],
        &["run", "runbooks/nope.yaml", "--plain"],
    ] {
        let out = stepwise(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "cannot read runbooks/nope.yaml: no such file\n",
            "{args:?}"
        );
    }
}
