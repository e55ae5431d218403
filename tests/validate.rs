#[test]
fn probe() {
    let env = minijinja::Environment::new();
    for s in [
        "echo \"{{ inputs.x \"",
        "a {{ x }} b {% if %} c",
        "x {{ a | }}",
        "line1\nline2 {{ a b }}",
        "{% for x in y %}",
        "{{ inputs.x }",
    ] {
        let e = env.template_from_str(s).unwrap_err();
        println!(
            "{s:?}: kind={} detail={:?} line={:?} range={:?}",
            e.kind(),
            e.detail(),
            e.line(),
            e.range()
        );
    }
}
