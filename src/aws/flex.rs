//! Reading action parameters: the same typed structs check a runbook's `with` (where a value
//! may still be a template) and read the resolved values at run time (where a template may
//! have produced a number or a boolean as text).
//!
//! Resolved parameters (JSON) are turned back into a node tree and read with the runbook's own
//! deserializer, so both paths share one set of rules: any scalar reads as text, and the
//! helpers below read numbers, booleans, durations, lists and JSON documents from text too. A
//! value that is still a template (at validation) is accepted by them, and checked once it is
//! resolved.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::syntax::template::is_template;
use crate::syntax::yaml::{Node, NodeKind, Pos, Style};

/// A node tree holding a JSON value: strings quoted (always text), other scalars plain.
pub fn node_of(value: &Value) -> Node {
    let scalar = |s: String, style| NodeKind::Scalar(s, style);
    let kind = match value {
        Value::Null => scalar("null".into(), Style::Plain),
        Value::Bool(b) => scalar(b.to_string(), Style::Plain),
        Value::Number(n) => scalar(n.to_string(), Style::Plain),
        Value::String(s) => scalar(s.clone(), Style::Quoted),
        Value::Array(items) => NodeKind::Seq(items.iter().map(node_of).collect()),
        Value::Object(map) => NodeKind::Map(
            map.iter()
                .map(|(k, v)| (node_of(&Value::String(k.clone())), node_of(v)))
                .collect(),
        ),
    };
    Node {
        pos: Pos::default(),
        kind,
    }
}

/// A scalar read as text, whatever its YAML type.
struct Text;

impl Visitor<'_> for Text {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(Text)
}

/// A boolean, or `true`/`false` as text (what a template produces).
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = text(d)?;
    match s.trim() {
        "true" | "True" | "TRUE" | "yes" => Ok(true),
        "false" | "False" | "FALSE" | "no" => Ok(false),
        t if is_template(t) => Ok(false),
        other => Err(de::Error::custom(format!(
            "wrong type: found `{other}`, expected `true` or `false`"
        ))),
    }
}

/// A whole number, or one written as text.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = text(d)?;
    match s.trim().parse::<u64>() {
        Ok(n) => Ok(n),
        Err(_) if is_template(&s) => Ok(0),
        Err(_) => Err(de::Error::custom(format!(
            "wrong type: found `{s}`, expected a whole number"
        ))),
    }
}

/// An optional whole number.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64(d).map(Some)
}

/// A duration such as `10m` or `60d`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = text(d)?;
    if is_template(&s) {
        return Ok(Duration::ZERO);
    }
    crate::syntax::duration::Duration::parse(&s)
        .map(|d| d.0)
        .map_err(de::Error::custom)
}

/// An optional duration.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A list of strings; a single string is read as a JSON list (`["a","b"]`) or as items
/// separated by commas or spaces, so that a template can produce a list.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct L;
    impl<'de> Visitor<'de> for L {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            if is_template(v) {
                return Ok(Vec::new());
            }
            let t = v.trim();
            if t.starts_with('[') {
                return serde_json::from_str(t)
                    .map_err(|e| E::custom(format!("not a JSON list of strings: {e}")));
            }
            Ok(t.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            #[derive(serde::Deserialize)]
            struct Item(#[serde(deserialize_with = "text")] String);
            let mut out = Vec::new();
            while let Some(Item(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(L)
}

/// A list of strings; a single string is read as a JSON list, or as one item per line (a
/// script written as a block).
pub fn list_lines<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct L;
    impl<'de> Visitor<'de> for L {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list, or lines of text")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            let t = v.trim();
            if t.starts_with('[') && !is_template(t) {
                return serde_json::from_str(t)
                    .map_err(|e| E::custom(format!("not a JSON list of strings: {e}")));
            }
            Ok(t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            #[derive(serde::Deserialize)]
            struct Item(#[serde(deserialize_with = "text")] String);
            let mut out = Vec::new();
            while let Some(Item(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(L)
}

/// A JSON document written as a mapping, or as JSON text.
pub fn json_doc<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let v: Value = serde::Deserialize::deserialize(d)?;
    match v {
        Value::String(s) if is_template(&s) => Ok(Value::Object(Default::default())),
        Value::String(s) => serde_json::from_str::<Value>(&s)
            .map_err(|e| de::Error::custom(format!("not a valid JSON document: {e}"))),
        Value::Object(_) => Ok(v),
        other => Err(de::Error::custom(format!(
            "wrong type: found `{other}`, expected a mapping or a JSON document as text"
        ))),
    }
}

/// A string-to-string mapping whose values may be written as numbers or booleans.
pub fn tags<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<indexmap::IndexMap<String, String>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Item(#[serde(deserialize_with = "text")] String);
    let m: indexmap::IndexMap<String, Item> = serde::Deserialize::deserialize(d)?;
    Ok(m.into_iter().map(|(k, Item(v))| (k, v)).collect())
}

/// A fixed set of words, as an enum; a template stands for the first until it is resolved.
macro_rules! choice {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $(if s == $text { return Ok(Self::$variant); })+
                if crate::syntax::template::is_template(&s) {
                    return Ok([$(Self::$variant),+][0]);
                }
                Err(<D::Error as serde::de::Error>::unknown_variant(&s, Self::NAMES))
            }
        }
    };
}
pub(crate) use choice;
