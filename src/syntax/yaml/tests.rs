use super::*;

#[test]
fn positions_are_one_based() {
    let node = Node::parse("a: 1\nb:\n  c: x\n").unwrap();
    let b = node.get("b").unwrap();
    let c = b.get("c").unwrap();
    assert_eq!(c.pos, Pos { line: 3, col: 6 });
}

#[test]
fn duplicate_keys_are_refused() {
    let err = Node::parse("a: 1\na: 2\n").unwrap_err();
    assert_eq!(err.pos, Pos { line: 2, col: 1 });
    assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
}

#[test]
fn alias_bombs_are_refused() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = Node::parse(&doc).unwrap_err();
    assert!(err.message.contains("too large"), "{}", err.message);
}

#[test]
fn leading_zero_numbers_stay_text() {
    let node = Node::parse("account: 012345678901\nn: 12\n").unwrap();
    assert_eq!(node.to_json()["account"], "012345678901");
    assert_eq!(node.to_json()["n"], 12);
}
