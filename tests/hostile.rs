//! Hostile values: whatever an input, a step's output or an AWS tag holds, it reaches bash as
//! data, never as code, in every place a runbook writes it; and what is derived from a secret
//! stays a secret.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use std::path::Path;

use cli::Sandbox;

/// Values that run a command, or change meaning, if pasted into a script.
fn hostile(canary: &Path) -> Vec<String> {
    let c = canary.display();
    vec![
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("\"; touch {c}; \""),
        format!("'; touch {c}; '"),
        format!("x\ntouch {c}"),
        format!("EOF\ntouch {c}\nEOF"),
        "$HOME".to_string(),
        "*".to_string(),
        format!("a  b\t* ${{HOME}} \\ $'q' {c}"),
    ]
}

/// Every place a runbook writes a value: each step writes what it received to `out/NAME`.
/// `{V}` is the template expression, `{S}` a name for where the value came from.
const PLACES: &str = r#"
  - id: S-mkdir
    title: Make a folder named by the value
    description: The `cwd` step below runs inside it.
    env: { V: "{{ {V} }}" }
    run: mkdir -p -- "dirs/S/$V"
  - id: S-bare
    title: Bare
    description: The value as a word of its own.
    run: printf '%s' {{ {V} }} > out/S-bare
  - id: S-double
    title: Double quotes
    description: The value inside double quotes.
    run: printf '%s' "{{ {V} }}" > out/S-double
  - id: S-single
    title: Single quotes
    description: The value inside single quotes.
    run: printf '%s' '{{ {V} }}' > out/S-single
  - id: S-word
    title: Part of a word
    description: The value as part of a word.
    run: printf '%s' --name={{ {V} }} > out/S-word
  - id: S-heredoc
    title: Heredoc
    description: The value in a here-document.
    run: |
      cat > out/S-heredoc <<EOF
      {{ {V} }}
      EOF
  - id: S-env
    title: Env
    description: The value in the step's environment.
    env: { V: "{{ {V} }}" }
    run: printf '%s' "$V" > out/S-env
  - id: S-cwd
    title: Cwd
    description: The value as the step's working directory.
    cwd: "dirs/S/{{ {V} }}"
    run: pwd > "$STEPWISE_RUNBOOK_DIR/out/S-cwd"
  - id: S-skipif
    title: Skip if
    description: The value in a `skip_if` script (which does not pass).
    skip_if: printf '%s' {{ {V} }} > out/S-skipif; false
    run: "true"
  - id: S-check
    title: Check
    description: The value in a `check` script.
    check: printf '%s' "{{ {V} }}" > out/S-check
"#;

fn places(source: &str, expr: &str) -> String {
    PLACES
        .replace("{V}", expr)
        .replace("S-", &format!("{source}-"))
        .replace("/S", &format!("/{source}"))
}

/// What each place must have received.
fn expected(sb: &Sandbox, source: &str, value: &str) -> Vec<(String, String)> {
    let cwd = sb.path().join("dirs").join(source).join(value);
    let all: Vec<(&str, String)> = vec![
        ("bare", value.into()),
        ("double", value.into()),
        ("single", value.into()),
        ("word", format!("--name={value}")),
        ("heredoc", format!("{value}\n")),
        ("env", value.into()),
        ("cwd", format!("{}\n", cwd.display())),
        ("skipif", value.into()),
        ("check", value.into()),
    ];
    all.into_iter()
        .map(|(place, want)| (format!("{source}-{place}"), want))
        .collect()
}

fn b64(value: &str) -> String {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in value.as_bytes().chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A runbook that takes the value from an input, from a step's stdout by regex and from
/// `$STEPWISE_OUTPUT` (which holds one line per output, so a value with a new line is not
/// taken from there), and writes it in every place.
fn runbook(value: &str) -> String {
    let encoded = b64(value);
    let mut rb = format!(
        r#"stepwise: 1
id: hostile
title: Hostile values
inputs:
  x:
    description: Free text
steps:
  - id: setup
    title: Folders
    description: Where every step writes what it got.
    run: mkdir -p out dirs
  - id: rx
    title: Print the value
    description: Its output is taken by a regular expression.
    env: {{ B: "{encoded}" }}
    run: printf 'got=%s\n' "$(printf %s "$B" | base64 -d)"
    outputs:
      v: {{ regex: '(?s)got=(.*)\n' }}
  - id: file
    title: Write the value
    description: Its output is written to the output file.
    env: {{ B: "{encoded}" }}
    run: printf 'v=%s\n' "$(printf %s "$B" | base64 -d)" >> "$STEPWISE_OUTPUT"
    outputs:
      v: {{}}
"#
    );
    rb.push_str(&places("input", "inputs.x"));
    rb.push_str(&places("regex", "steps.rx.v"));
    if !value.contains('\n') {
        rb.push_str(&places("file", "steps.file.v"));
    }
    rb
}

fn assert_received(sb: &Sandbox, source: &str, value: &str) {
    for (name, want) in expected(sb, source, value) {
        let got = std::fs::read_to_string(sb.path().join("out").join(&name))
            .unwrap_or_else(|e| panic!("{name} wrote nothing ({e}) for {value:?}"));
        assert_eq!(got, want, "{name} received the value changed");
    }
}

#[test]
fn hostile_values_from_inputs_and_outputs_run_nowhere_and_arrive_intact() {
    for (n, value) in hostile(Path::new("CANARY")).iter().enumerate() {
        let sb = Sandbox::new();
        let canary = sb.path().join("CANARY");
        let value = value.replace("CANARY", &canary.display().to_string());
        sb.write("rb.yaml", &runbook(&value));
        let input = format!("x={value}");

        let v = sb.run(&["validate", "rb.yaml"]);
        assert_eq!(v.code, 0, "{v:?}");

        // A dry run shows the values in place, and runs nothing.
        let dry = sb.run(&["run", "rb.yaml", "--dry-run", "--input", &input]);
        assert_eq!(dry.code, 0, "{value:?}: {dry:?}");
        assert!(!canary.exists(), "a dry run ran a value: {value:?}");

        let r = sb.run(&[
            "run",
            "rb.yaml",
            "--plain",
            "--name",
            &format!("h{n}"),
            "--input",
            &input,
        ]);
        assert_eq!(r.code, 0, "{value:?}: {r:?}");
        assert!(!canary.exists(), "the value ran as code: {value:?}");
        assert_received(&sb, "input", &value);
        assert_received(&sb, "regex", &value);
        if !value.contains('\n') {
            assert_received(&sb, "file", &value);
        }
        assert!(!canary.exists(), "the value ran as code: {value:?}");
    }
}

#[test]
fn the_dry_run_shows_each_value_quoted_as_bash_reads_it() {
    let sb = Sandbox::new();
    let canary = sb.path().join("CANARY");
    let value = format!("it's \"$(touch {})\" `x` $HOME *", canary.display());
    sb.write(
        "rb.yaml",
        r#"stepwise: 1
id: shown
title: Shown
inputs:
  x:
    description: Free text
steps:
  - id: a
    title: A
    description: Each place, as a person reads it.
    run: |
      printf '%s\n' {{ inputs.x }}
      printf '%s\n' "{{ inputs.x }}"
      printf '%s\n' '{{ inputs.x }}'
"#,
    );
    let dry = sb.run(&[
        "run",
        "rb.yaml",
        "--dry-run",
        "--input",
        &format!("x={value}"),
    ]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let shown: Vec<&str> = dry
        .stdout
        .lines()
        .skip_while(|l| !l.contains("would run:"))
        .skip(1)
        .take(3)
        .map(str::trim)
        .collect();
    assert_eq!(shown.len(), 3, "{}", dry.stdout);
    // What is shown is what a person could paste: bash prints the value itself each time.
    for line in shown {
        let out = std::process::Command::new("bash")
            .args(["-c", line])
            .current_dir(sb.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}\n"),
            "{line}"
        );
    }
    assert!(!canary.exists());
}

#[test]
fn unsafe_places_are_refused_at_their_line_and_column() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: u\ntitle: U\ninputs:\n  n:\n    description: A number\nsteps:\n  - id: a\n    title: A\n    description: Arithmetic on a value.\n    run: echo $(( {{ inputs.n }} + 1 ))\n",
    );
    let r = sb.run(&["validate", "rb.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("rb.yaml:11:19: a value cannot stand inside arithmetic"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: assign it to a variable first"),
        "{}",
        r.stderr
    );
    let run = sb.run(&["run", "rb.yaml", "--plain", "--input", "n=1"]);
    assert_eq!(run.code, 2, "nothing runs: {run:?}");
}

#[test]
fn secret_values_are_not_on_the_scripts_command_line() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"stepwise: 1
id: ps
title: Command line
inputs:
  tok:
    description: A token
    secret: true
steps:
  - id: a
    title: A
    description: Reads its own command line, as any local user can with ps.
    run: |
      tr '\0' ' ' < /proc/$$/cmdline > cmdline.txt
      test "{{ inputs.tok }}" = "$WANT"
"#,
    );
    let r = cli::Ran::of(
        sb.cmd(&[
            "run",
            "rb.yaml",
            "--plain",
            "--input",
            "tok=TopSecret-123456",
        ])
        .env("WANT", "TopSecret-123456"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let cmdline = sb.read("cmdline.txt");
    assert!(cmdline.contains("STEPWISE_V1"), "{cmdline}");
    assert!(!cmdline.contains("TopSecret"), "{cmdline}");
}

#[test]
fn what_is_derived_from_a_secret_is_a_secret() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        r#"stepwise: 1
id: derived
title: Derived secrets
inputs:
  tok:
    description: A token
    secret: true
  header:
    description: Made from the token
    default: "prefix-{{ inputs.tok }}"
steps:
  - id: show
    title: Print it
    description: Its output holds the secret.
    env: { H: "{{ inputs.header }}" }
    run: echo "leak=$H"
    outputs:
      leak: { regex: 'leak=(\S+)' }
  - id: use
    title: Use it
    description: A later step still gets the value in this process.
    run: test "{{ steps.show.leak }}" = "prefix-$WANT" && echo used
  - id: wait
    title: A person
    description: The run stops here, to be resumed.
    manual: Carry on later.
  - id: again
    title: Use the header again
    description: The derived input is made again from the secret given on resume.
    run: test "{{ inputs.header }}" = "prefix-$WANT" && echo again
"#,
    );
    let r = cli::Ran::of(
        sb.cmd(&[
            "run",
            "rb.yaml",
            "--plain",
            "--name",
            "d",
            "--input",
            "tok=SuperSecret4242",
        ])
        .env("WANT", "SuperSecret4242"),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("| used"), "{}", r.stdout);
    let st = sb.state("d");
    assert_eq!(
        st["inputs"]["header"],
        serde_json::json!({ "secret": true })
    );
    assert_eq!(
        st["steps"]["show"]["secret_outputs"],
        serde_json::json!(["leak"])
    );

    // On resume the secret is asked again, and the derived input made again from it.
    let missing = sb.run(&["resume", "d", "--plain", "--done", "wait"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("input `tok`"), "{}", missing.stderr);
    let resumed = cli::Ran::of(
        sb.cmd(&[
            "resume",
            "d",
            "--plain",
            "--done",
            "wait",
            "--input",
            "tok=SuperSecret4242",
        ])
        .env("WANT", "SuperSecret4242"),
    );
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(resumed.stdout.contains("| again"), "{}", resumed.stdout);

    for (what, text) in [
        (
            "output",
            format!(
                "{}{}{}{}",
                r.stdout, r.stderr, resumed.stdout, resumed.stderr
            ),
        ),
        ("STEPWISE_HOME", cli::all_files(&sb.home())),
        ("the work dir", cli::all_files(sb.path())),
    ] {
        assert!(
            !text.contains("SuperSecret4242"),
            "the secret is in {what}:\n{text}"
        );
    }
}

#[test]
fn a_run_name_made_from_a_secret_is_refused() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        "stepwise: 1\nid: n\ntitle: N\nrun_name: \"hub-{{ inputs.key }}\"\ninputs:\n  tok:\n    description: A token\n    secret: true\n  key:\n    description: From the token\n    default: \"k-{{ inputs.tok }}\"\nsteps:\n  - id: a\n    title: A\n    description: Nothing to see here at all.\n    run: \"true\"\n",
    );
    let r = sb.run(&["validate", "rb.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("rb.yaml:4:19: `run_name` is made from the secret input `key`"),
        "{}",
        r.stderr
    );
}

#[test]
fn shipped_runbooks_take_hostile_free_text_as_data() {
    let sb = Sandbox::new();
    let canary = sb.path().join("CANARY");
    let value = format!(
        "$(touch {c}) \"; touch {c}; \" '; touch {c}; ' `touch {c}`",
        c = canary.display()
    );
    let mut tried = 0;
    for file in cli::shipped_runbooks() {
        let plan = stepwise::runbook::load(&file).unwrap();
        let mut args = vec![
            "run".to_string(),
            file.display().to_string(),
            "--dry-run".into(),
        ];
        for (name, spec) in &plan.root().doc.inputs {
            // Free text: no pattern or choices to refuse the value.
            if spec.pattern.is_none() && spec.choices.is_empty() {
                args.push("--input".into());
                args.push(format!("{name}={value}"));
                tried += 1;
            } else if spec.default.is_none() {
                args.push("--input".into());
                args.push(format!("{name}={}", choose(spec)));
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = sb.run(&args);
        assert_eq!(r.code, 0, "{}: {r:?}", file.display());
        assert!(
            !canary.exists(),
            "{}: a dry run ran a value",
            file.display()
        );
    }
    assert!(tried > 5, "few free-text inputs were tried: {tried}");

    // A real run of the example, whose owner is free text.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/example.yaml");
    let r = sb.run(&[
        "run",
        &example.display().to_string(),
        "--plain",
        "--name",
        "ex",
        "--input",
        &format!("owner={value}"),
    ]);
    assert_eq!(r.code, 3, "it stops at the review: {r:?}");
    assert!(!canary.exists(), "the example ran a value");
    let settings = sb.read("work/demo/settings.yaml");
    assert!(settings.contains("touch"), "{settings}");
}

/// A value an input with a pattern or choices accepts.
fn choose(spec: &stepwise::runbook::Input) -> String {
    if let Some(c) = spec.choices.first() {
        return c.clone();
    }
    let pattern = spec
        .pattern
        .as_ref()
        .map(|p| p.value.as_str())
        .unwrap_or_default();
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    ["123456789012", "abc", "org/repo", "dev-roman", "a1"]
        .into_iter()
        .find(|c| re.is_match(c))
        .unwrap_or_else(|| panic!("no value for the pattern {pattern}"))
        .to_string()
}

#[test]
fn a_hostile_aws_tag_reaches_a_script_as_data() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let canary = sb.path().join("CANARY");
    let value = format!(
        "hostile-$(touch {c}) \"; touch {c}; \" '; touch {c}; ' `touch {c}` $HOME *",
        c = canary.display()
    );
    let tags = serde_json::json!([{
        "ResourceType": "vpc",
        "Tags": [{ "Key": "Name", "Value": value }],
    }]);
    awsh::cli(
        moto,
        &[
            "ec2",
            "create-vpc",
            "--cidr-block",
            "10.9.0.0/16",
            "--tag-specifications",
            &tags.to_string(),
        ],
    );
    let mut rb = String::from(
        "stepwise: 1\nid: tag\ntitle: Tag\nsteps:\n  - id: setup\n    title: Folders\n    description: Where every step writes what it got.\n    run: mkdir -p out dirs\n  - id: vpc\n    title: Find the VPC\n    description: Its Name tag is hostile.\n    aws: ec2.find_vpc\n    with: { name: \"hostile-*\" }\n",
    );
    rb.push_str(&places("tag", "steps.vpc.name"));
    let r = awsh::start(&sb, moto, &rb, "t", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!canary.exists(), "the tag ran as code");
    assert_received(&sb, "tag", &value);
}

#[test]
fn values_in_commands_sent_to_an_instance_are_quoted_as_data() {
    let (_guard, moto) = moto::shared_reset();
    let sb = Sandbox::new();
    let canary = sb.path().join("CANARY");
    let value = format!(
        "$(touch {c}) \"; touch {c}; \" '; touch {c}; '",
        c = canary.display()
    );
    let id = awsh::instance(moto);
    let rb = format!(
        "stepwise: 1\nid: ssm\ntitle: SSM\ninputs:\n  x:\n    description: Free text\nsteps:\n  - id: send\n    title: Send\n    description: Commands that an instance's shell runs.\n    aws: ssm.run_command\n    with:\n      instance_id: {id}\n      commands:\n        - printf '%s\\n' {{{{ inputs.x }}}} \"{{{{ inputs.x }}}}\" '{{{{ inputs.x }}}}'\n"
    );
    let r = awsh::start(&sb, moto, &rb, "s", &["--input", &format!("x={value}")]);
    assert_eq!(r.code, 0, "{r:?}");
    let command = sb.state("s")["steps"]["send"]["outputs"]["command_id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = awsh::cli_json(moto, &["ssm", "list-commands", "--command-id", &command]);
    let sent = listed["Commands"][0]["Parameters"]["commands"][0]
        .as_str()
        .unwrap()
        .to_string();
    // What the instance's shell would run prints the value three times, and runs nothing.
    let out = std::process::Command::new("sh")
        .args(["-c", &sent])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{value}\n{value}\n{value}\n"),
        "{sent}"
    );
    assert!(!canary.exists(), "{sent}");
}

#[test]
fn terminal_control_sequences_in_output_are_shown_escaped_in_plain_mode() {
    let sb = Sandbox::new();
    // An OSC 52 clipboard write, a clear-screen and a carriage return, in a step's output, in
    // an output value, and in an input echoed in an error.
    sb.write(
        "rb.yaml",
        r#"stepwise: 1
id: esc
title: Escapes
steps:
  - id: noisy
    title: Noisy
    run: |
      printf 'before\033]52;c;aGFja2Vk\007after\n'
      printf 'wipe\033[2Jhere\rover\n'
      printf 'v=x\033[2Jy\n' >> "$STEPWISE_OUTPUT"
    outputs:
      v: {}
"#,
    );
    let r = sb.run(&["run", "rb.yaml", "--plain", "--name", "e"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(!r.stdout.contains('\r'), "{:?}", r.stdout);
    assert!(
        r.stdout.contains(r"before\x1b]52;c;aGFja2Vk\x07after"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(r"wipe\x1b[2Jhere\x0dover"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(r"x\x1b[2Jy"), "{}", r.stdout);
    // The log keeps the bytes as they came.
    let log = std::fs::read(sb.run_dir("e").join("logs/noisy.log")).unwrap();
    assert!(log.windows(5).any(|w| w == b"\x1b]52;"));
    // An error naming a value from outside.
    let r = sb.run(&["resume", "bad\u{1b}[2Jname"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    assert!(r.stderr.contains(r"bad\x1b[2Jname"), "{}", r.stderr);
}
