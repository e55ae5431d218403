//! Route53 actions through the real binary, in plain mode, against moto, checked with the
//! `aws` CLI; and a CNAME runbook with its `danger` confirmation, end to end.

#![allow(clippy::unwrap_used)]

#[path = "support/aws.rs"]
mod awsh;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/moto.rs"]
mod moto;

use awsh::{cli, cli_json, dry, expect, has, start};
use cli::Sandbox;
use moto::Moto;

fn runbook(steps: &str) -> String {
    format!("stepwise: 1\nid: dns\ntitle: DNS test\nsteps:\n{steps}")
}

fn zone(moto: &Moto, name: &str) -> String {
    cli_json(
        moto,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            name,
            "--caller-reference",
            name,
        ],
    )["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string()
}

/// The record sets of a name, as the aws CLI sees them.
fn records(moto: &Moto, zone: &str, name: &str) -> Vec<serde_json::Value> {
    cli_json(
        moto,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            zone,
        ],
    )["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Name"] == name)
        .cloned()
        .collect()
}

fn change_batch(action: &str, name: &str, kind: &str, value: &str) -> String {
    format!(
        r#"{{"Changes":[{{"Action":"{action}","ResourceRecordSet":{{"Name":"{name}","Type":"{kind}","TTL":60,"ResourceRecords":[{{"Value":"{value}"}}]}}}}]}}"#
    )
}

const CNAME: &str = r#"
stepwise: 1
id: route53-cname
title: Point the hub's name at its load balancer
inputs:
  hub: { default: roman }
  target: { default: a1b2c3.elb.us-east-1.amazonaws.com }
steps:
  - id: zone
    title: Find the zone
    aws: route53.find_zone
    with: { name: science.example.org }
  - id: before
    title: What the name points to now
    aws: route53.get_record
    with: { zone_id: "{{ steps.zone.zone_id }}", name: "{{ inputs.hub }}.science.example.org" }
  - id: cname
    title: Point the name at the load balancer
    danger: "{{ inputs.hub }}.science.example.org"
    aws: route53.upsert_cname
    with:
      zone_name: science.example.org
      name: "{{ inputs.hub }}.science.example.org"
      value: "{{ inputs.target }}"
      ttl: 300
"#;

#[test]
fn a_cname_runbook_with_its_danger_confirmation() {
    let (_guard, moto) = moto::shared_reset();
    let z = zone(moto, "science.example.org");
    let sb = Sandbox::new();

    // Dry run: the change request, and with checks what it would do, side by side.
    let d = dry(&sb, moto, CNAME, false);
    expect(&d, 0);
    has(&d.stdout, "\"operation\": \"ChangeResourceRecordSets\"");
    has(&d.stdout, "\"Action\": \"UPSERT\"");
    has(&d.stdout, "\"Name\": \"roman.science.example.org.\"");
    has(&d.stdout, "\"TTL\": 300");
    has(
        &d.stdout,
        "\"Value\": \"a1b2c3.elb.us-east-1.amazonaws.com\"",
    );
    has(
        &d.stdout,
        "DANGER: a person must type `roman.science.example.org` to confirm",
    );
    let d = dry(&sb, moto, CNAME, true);
    has(
        &d.stdout,
        &format!("=> found public zone science.example.org. ({z})"),
    );
    has(
        &d.stdout,
        "=> would create roman.science.example.org.:\n      current: (no record)\n      wanted:  CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300)",
    );

    // Without the confirmation the run waits at the step, showing the change.
    sb.write("rb.yaml", CNAME);
    let r = awsh::run(&sb, moto, &["run", "rb.yaml", "--name", "c"]);
    expect(&r, 3);
    has(&r.stdout, "DANGER");
    has(&r.stdout, "=> would create roman.science.example.org.:");
    has(
        &r.stdout,
        "wanted:  CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300)",
    );
    assert!(records(moto, &z, "roman.science.example.org.").is_empty());
    assert_eq!(
        sb.state("c")["steps"]["before"]["outputs"]["exists"],
        "false"
    );

    let r = awsh::run(
        &sb,
        moto,
        &[
            "resume",
            "c",
            "--confirm",
            "cname=roman.science.example.org",
        ],
    );
    expect(&r, 0);
    has(
        &r.stdout,
        "roman.science.example.org.: (no record) -> CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300) (change ",
    );
    let st = sb.state("c");
    assert_eq!(st["steps"]["cname"]["outputs"]["status"], "INSYNC");
    assert!(
        !st["steps"]["cname"]["outputs"]["change_id"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let rs = records(moto, &z, "roman.science.example.org.");
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0]["Type"], "CNAME");
    assert_eq!(rs[0]["TTL"], 300);
    assert_eq!(
        rs[0]["ResourceRecords"][0]["Value"],
        "a1b2c3.elb.us-east-1.amazonaws.com"
    );

    // Again: already as wanted, nothing changes.
    let r = awsh::run(
        &sb,
        moto,
        &[
            "run",
            "rb.yaml",
            "--name",
            "c2",
            "--confirm",
            "cname=roman.science.example.org",
        ],
    );
    expect(&r, 0);
    has(
        &r.stdout,
        "roman.science.example.org. is already CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300)",
    );
    assert_eq!(sb.status_of("c2", "cname"), "satisfied");
    let st = sb.state("c2");
    assert_eq!(st["steps"]["before"]["outputs"]["exists"], "true");
    assert_eq!(
        st["steps"]["before"]["outputs"]["value"],
        "a1b2c3.elb.us-east-1.amazonaws.com"
    );
    assert_eq!(st["steps"]["before"]["outputs"]["ttl"], "300");
    let d = dry(&sb, moto, CNAME, true);
    has(
        &d.stdout,
        "=> already as wanted: roman.science.example.org. is CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300)",
    );

    // Somewhere else: refused without `replace: true`, the current value shown.
    let elsewhere = [
        "--input",
        "target=other.elb.us-east-1.amazonaws.com",
        "--confirm",
        "cname=roman.science.example.org",
    ];
    let mut args = vec!["run", "rb.yaml", "--name", "c3"];
    args.extend(elsewhere);
    let r = awsh::run(&sb, moto, &args);
    expect(&r, 1);
    has(
        &r.stdout,
        "route53.upsert_cname: RecordConflict: roman.science.example.org. is a CNAME to a1b2c3.elb.us-east-1.amazonaws.com, not other.elb.us-east-1.amazonaws.com; give `replace: true` to point it elsewhere",
    );
    sb.write(
        "rb.yaml",
        &CNAME.replace("ttl: 300", "ttl: 300\n      replace: true"),
    );
    let mut args = vec![
        "run",
        "rb.yaml",
        "--name",
        "c4",
        "--dry-run",
        "--with-checks",
    ];
    args.extend(&elsewhere[..2]);
    let d = awsh::run(&sb, moto, &args);
    has(
        &d.stdout,
        "=> would change roman.science.example.org.:\n      current: CNAME a1b2c3.elb.us-east-1.amazonaws.com (TTL 300)\n      wanted:  CNAME other.elb.us-east-1.amazonaws.com (TTL 300)",
    );
    let mut args = vec!["run", "rb.yaml", "--name", "c5"];
    args.extend(elsewhere);
    let r = awsh::run(&sb, moto, &args);
    expect(&r, 0);
    let rs = records(moto, &z, "roman.science.example.org.");
    assert_eq!(
        rs[0]["ResourceRecords"][0]["Value"],
        "other.elb.us-east-1.amazonaws.com"
    );
}

#[test]
fn a_record_of_another_type_is_replaced_only_when_asked() {
    let (_guard, moto) = moto::shared_reset();
    let z = zone(moto, "example.com");
    cli(
        moto,
        &[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &z,
            "--change-batch",
            &change_batch("CREATE", "hub.example.com.", "A", "10.1.2.3"),
        ],
    );
    let sb = Sandbox::new();
    let rb = |replace: &str| {
        runbook(&format!(
            "  - id: c\n    title: C\n    danger: hub\n    aws: route53.upsert_cname\n    with: {{ zone_id: {z}, name: hub.example.com, value: lb.example.net{replace} }}\n"
        ))
    };
    let r = start(&sb, moto, &rb(""), "a", &["--confirm", "c=hub"]);
    expect(&r, 1);
    has(
        &r.stdout,
        "route53.upsert_cname: RecordConflict: hub.example.com. has A 10.1.2.3 (TTL 60): a CNAME cannot sit beside other records; give `replace: true` to replace them",
    );
    let r = start(
        &sb,
        moto,
        &rb(", replace: true"),
        "b",
        &["--confirm", "c=hub"],
    );
    expect(&r, 0);
    has(
        &r.stdout,
        "hub.example.com.: A 10.1.2.3 (TTL 60) -> CNAME lb.example.net (TTL 300)",
    );
    let rs = records(moto, &z, "hub.example.com.");
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0]["Type"], "CNAME");
    // get_record of the A record now: there is none, and it says what there is.
    let r = start(
        &sb,
        moto,
        &runbook(&format!(
            "  - id: g\n    title: G\n    aws: route53.get_record\n    with: {{ zone_id: {z}, name: hub.example.com, type: A }}\n"
        )),
        "g",
        &[],
    );
    expect(&r, 0);
    has(
        &r.stdout,
        "hub.example.com. has no A record (it has: CNAME lb.example.net (TTL 300))",
    );
    // A name outside the zone.
    let r = start(
        &sb,
        moto,
        &runbook(&format!(
            "  - id: g\n    title: G\n    aws: route53.get_record\n    with: {{ zone_id: {z}, name: hub.example.org }}\n"
        )),
        "h",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "route53.get_record: InvalidParameters: hub.example.org. is not inside the zone example.com.",
    );
}

#[test]
fn zones_are_found_by_name_and_missing_ones_said_so() {
    let (_guard, moto) = moto::shared_reset();
    let z = zone(moto, "example.com");
    zone(moto, "b.example.com");
    let sb = Sandbox::new();
    let rb = runbook(
        "  - id: z\n    title: Z\n    aws: route53.find_zone\n    with: { name: example.com }\n",
    );
    let d = dry(&sb, moto, &rb, false);
    has(&d.stdout, "\"operation\": \"ListHostedZonesByName\"");
    has(&d.stdout, "\"DNSName\": \"example.com.\"");
    let r = start(&sb, moto, &rb, "z1", &[]);
    expect(&r, 0);
    assert_eq!(
        sb.state("z1")["steps"]["z"]["outputs"]["zone_id"],
        z.as_str()
    );
    let r = start(&sb, moto, &rb, "z2", &[]);
    expect(&r, 0);
    let r = start(
        &sb,
        moto,
        &rb.replace("example.com", "example.net"),
        "z3",
        &[],
    );
    expect(&r, 1);
    has(
        &r.stdout,
        "route53.find_zone: NoSuchHostedZone: there is no hosted zone example.net.",
    );
    has(&r.stdout, "hint: check the zone's name and the account");
}

#[test]
fn upsert_cname_needs_a_danger_confirmation_and_one_zone() {
    let sb = Sandbox::new();
    sb.write(
        "rb.yaml",
        &runbook(
            r#"
  - id: c
    title: C
    aws: route53.upsert_cname
    with: { zone_name: example.com, name: hub.example.com, value: lb.example.net }
  - id: d
    title: D
    danger: hub
    aws: route53.upsert_cname
    with: { zone_name: example.com, zone_id: Z1, name: hub.example.com, value: lb.example.net, ttl: "{{ env.TTL }}" }
"#,
        ),
    );
    let r = sb.run(&["validate", "rb.yaml"]);
    assert_eq!(r.code, 2);
    let all = format!("{}{}", r.stdout, r.stderr);
    has(
        &all,
        "rb.yaml:8:10: route53.upsert_cname changes DNS; give the step a `danger:` confirmation",
    );
    has(
        &all,
        "route53.upsert_cname: give `zone_id` or `zone_name`, not both",
    );
}
