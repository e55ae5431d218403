//! Lengths of time as runbooks write them: `30s`, `10m`, `1h 30m`, `3d`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration as StdDuration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A length of time written as `30s`, `10m`, `1h 30m` or `3d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// Parses the written form.
    pub fn parse(text: &str) -> Result<Duration, String> {
        use humantime::DurationError as E;
        let trimmed = text.trim();
        if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid duration `{text}`: a number needs a unit\nhint: write e.g. `{trimmed}s` or `{trimmed}m`"
            ));
        }
        humantime::parse_duration(trimmed).map(Duration).map_err(|e| {
            // humantime's own messages give byte offsets ("expected number at 0").
            let why = match e {
                E::InvalidCharacter(_) | E::NumberExpected(_) => {
                    "expected a number followed by a unit".to_string()
                }
                E::UnknownUnit { unit, .. } if !unit.is_empty() => format!("unknown unit `{unit}`"),
                E::Empty => "it is empty".to_string(),
                e => e.to_string(),
            };
            format!("invalid duration `{text}`: {why}\nhint: write a number with a unit, e.g. `30s`, `10m`, `1h 30m` or `3d`")
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `30s` or `10m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: a number needs a unit\nhint: write e.g. `{v}s` or `{v}m`"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_u64(v.unsigned_abs())
            }
        }
        d.deserialize_str(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A length of time such as `30s`, `10m`, `1h 30m` or `3d`.",
            "pattern": "^\\s*[0-9]+\\s*[a-zA-Zµ]+(\\s*[0-9]+\\s*[a-zA-Zµ]+)*\\s*$"
        })
    }
}
