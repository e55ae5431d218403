use super::*;

fn ctx(x: &str) -> Value {
    Value::from_serialize(serde_json::json!({ "inputs": { "x": x } }))
}

fn places(src: &str) -> Vec<Place> {
    let script = render(src, &ctx("v")).unwrap();
    script.places
}

#[test]
fn each_place_gets_its_reference() {
    let s = render(
        "echo {{ inputs.x }} \"a {{ inputs.x }}\" 'b {{ inputs.x }}' $'c {{ inputs.x }}' # {{ inputs.x }}",
        &ctx("v"),
    )
    .unwrap();
    assert_eq!(
        s.source,
        "echo \"${STEPWISE_V1}\" \"a ${STEPWISE_V2}\" 'b '\"${STEPWISE_V3}\"'' $'c '\"${STEPWISE_V4}\"$'' # ${STEPWISE_V5}"
    );
    assert_eq!(s.vars.len(), 5);
    assert!(s.values().all(|v| v == "v"));
}

#[test]
fn heredocs_command_substitutions_and_parameters() {
    assert_eq!(
        places("cat <<EOF\nx {{ inputs.x }}\nEOF\necho {{ inputs.x }}"),
        [Place::Heredoc, Place::Word]
    );
    assert_eq!(
        places("cat <<-\"E\" >f; echo {{ inputs.x }}\n\tliteral\n\tE\n"),
        [Place::Word]
    );
    assert_eq!(
        places(
            "echo \"$(basename {{ inputs.x }})\" ${HOME:-{{ inputs.x }}} \"${A:-{{ inputs.x }}}\""
        ),
        [Place::Word, Place::Word, Place::Double]
    );
    assert_eq!(places("x=`echo {{ inputs.x }}`"), [Place::Word]);
    assert_eq!(places("echo \"it's\" # {{ inputs.x }}"), [Place::Comment]);
    assert_eq!(places("echo a#{{ inputs.x }}"), [Place::Word]);
}

#[test]
fn unsafe_places_are_refused_with_a_hint() {
    for (src, what) in [
        ("echo $(( {{ inputs.x }} + 1 ))", "arithmetic"),
        ("(( {{ inputs.x }} > 1 ))", "arithmetic"),
        ("cat <<'EOF'\n{{ inputs.x }}\nEOF", "quoted delimiter"),
        ("echo \\{{ inputs.x }}", "after a `\\`"),
        ("echo ${{ inputs.x }}", "after a `$`"),
        ("echo \"`echo {{ inputs.x }}`\"", "backticks"),
        ("cat <<{{ inputs.x }}\nx\n", "delimiter"),
    ] {
        let err = render(src, &ctx("v")).unwrap_err();
        assert!(err.contains(what), "{src}: {err}");
        assert!(err.contains("hint:"), "{src}: {err}");
        let (at, message) = check(src).expect(src);
        assert_eq!(&src[at..at + 2], "{{", "{src}");
        assert!(message.contains(what), "{src}: {message}");
    }
}

#[test]
fn check_finds_the_tag_and_passes_safe_scripts() {
    let src = "echo ok\n{% if inputs.x %}echo $(( 1 + {{ inputs.x }} )){% endif %}";
    let (at, _) = check(src).unwrap();
    assert_eq!(at, src.find("{{").unwrap());
    assert!(check("echo \"{{ inputs.x }}\" '{{ inputs.x }}' {{ inputs.x }}").is_none());
    assert!(check("no tags").is_none());
}

#[test]
fn shown_quotes_values_as_bash_needs_them() {
    let s = render(
        "echo {{ inputs.x }} \"{{ inputs.x }}\" '{{ inputs.x }}'\ncat <<EOF\n{{ inputs.x }}\nEOF",
        &ctx("it's \"$(x)\""),
    )
    .unwrap();
    assert_eq!(
        s.shown(|v: &str| Cow::Borrowed(v)),
        "echo 'it'\\''s \"$(x)\"' \"it's \\\"\\$(x)\\\"\" 'it'\\''s \"$(x)\"'\ncat <<EOF\nit's \"\\$(x)\"\nEOF"
    );
    let plain = render("echo {{ inputs.x }}", &ctx("abc-1.2")).unwrap();
    assert_eq!(plain.shown(|v: &str| Cow::Borrowed(v)), "echo abc-1.2");
    let unknown = render("echo {{ inputs.x }}", &ctx("<steps.a.b>")).unwrap();
    assert_eq!(
        unknown.shown(|v: &str| Cow::Borrowed(v)),
        "echo <steps.a.b>"
    );
    let masked = render("echo {{ inputs.x }}", &ctx("s3cret")).unwrap();
    assert_eq!(
        masked.shown(|v| Cow::Owned(v.replace("s3cret", "********"))),
        "echo '********'"
    );
}

#[test]
fn loops_and_filters_emit_one_value_each() {
    let ctx = Value::from_serialize(serde_json::json!({ "inputs": { "l": ["a", "b"] } }));
    let s = render(
        "{% for v in inputs.l %}echo {{ v | upper }}\n{% endfor %}",
        &ctx,
    )
    .unwrap();
    assert_eq!(
        s.source,
        "echo \"${STEPWISE_V1}\"\necho \"${STEPWISE_V2}\"\n"
    );
    assert_eq!(s.values().collect::<Vec<_>>(), ["A", "B"]);
    let q = render("echo {{ inputs.x | shell_quote }}", &self::ctx("a b")).unwrap();
    assert_eq!(q.values().collect::<Vec<_>>(), ["a b"]);
}
