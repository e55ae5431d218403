//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Runbooks are parsed in two stages: the YAML event stream becomes a `Node` tree (every node
//! knowing its line and column), and typed values are then deserialized from parts of that tree
//! through serde. Errors raised anywhere inside serde carry the location of the innermost node
//! being read, so a wrong type deep inside a step is reported at its own line and column, and
//! each step can be read on its own so that one broken step does not hide the others.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// A position in a source file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// How a scalar was written; plain scalars get YAML's core-schema typing, quoted ones are strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// One node of a YAML document.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error, or a problem with the document's shape found while building the tree.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Aliases are expanded by copying; this bounds the copies so that a "billion laughs" document
/// is refused instead of filling memory.
const MAX_NODES: usize = 5_000_000;
/// Deeper nesting than this is refused instead of risking the stack.
const MAX_DEPTH: usize = 256;

impl Node {
    /// Parses one YAML document. An empty document is an empty mapping.
    pub fn parse(text: &str) -> Result<Node, SyntaxError> {
        Builder::new(text, None).document()
    }

    /// Parses one YAML document like `parse`, but hands each item of the root mapping's list
    /// under `key` to `each` as soon as it is complete, instead of keeping it in the tree; the
    /// tree gets an empty list in its place. The caller can work on the items while the rest
    /// is parsed, and the whole tree is never in memory at once. A list with an anchor stays in
    /// the tree (an alias may copy it later).
    pub fn parse_split(
        text: &str,
        key: &str,
        each: &mut dyn FnMut(Node),
    ) -> Result<Node, SyntaxError> {
        Builder::new(text, Some((key, each))).document()
    }

    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s, Style::Plain) if is_null(s))
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short name of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(..) if self.is_null() => "nothing",
            NodeKind::Scalar(..) => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Converts the node to JSON, with YAML core-schema typing of plain scalars.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar(s, Style::Plain) => plain_scalar(s).to_json(),
            NodeKind::Scalar(s, _) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

struct Builder<'a, 's> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    depth: usize,
    /// The root key whose list items are handed out, and where they go.
    split: Option<(&'s str, &'s mut dyn FnMut(Node))>,
}

fn pos_of(marker: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: marker.line(),
        col: marker.col() + 1,
    }
}

impl<'a, 's> Builder<'a, 's> {
    fn new(text: &'a str, split: Option<(&'s str, &'s mut dyn FnMut(Node))>) -> Self {
        Builder {
            parser: Parser::new_from_str(text),
            anchors: HashMap::new(),
            nodes: 0,
            depth: 0,
            split,
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Pos), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, pos_of(&span.start))),
            Some(Err(e)) => Err(SyntaxError {
                pos: pos_of(e.marker()),
                message: format!("YAML syntax error: {}{}", e.info(), syntax_hint(e.info())),
            }),
            None => Err(SyntaxError {
                pos: Pos { line: 1, col: 1 },
                message: "YAML syntax error: unexpected end of input".into(),
            }),
        }
    }

    fn document(&mut self) -> Result<Node, SyntaxError> {
        let empty = |pos| Node {
            pos,
            kind: NodeKind::Map(Vec::new()),
        };
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::StreamStart => continue,
                Event::StreamEnd => return Ok(empty(pos)),
                Event::DocumentStart(_) => break,
                _ => return Ok(empty(pos)),
            }
        }
        let (event, pos) = self.next()?;
        let root = match event {
            Event::DocumentEnd => return Ok(empty(pos)),
            event => self.node(event, pos)?,
        };
        // Anything after the first document is refused: a runbook is one document.
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::DocumentEnd => continue,
                Event::StreamEnd => return Ok(root),
                _ => {
                    return Err(SyntaxError {
                        pos,
                        message: "a runbook file holds one YAML document; found a second one"
                            .into(),
                    });
                }
            }
        }
    }

    fn count(&mut self, pos: Pos, n: usize) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                pos,
                message: "document too large: aliases expand to more than 5,000,000 nodes".into(),
            });
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, pos: Pos) -> Result<Node, SyntaxError> {
        self.count(pos, 1)?;
        let (node, anchor) = match event {
            Event::Scalar(value, style, anchor, _) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    _ => Style::Block,
                };
                let kind = NodeKind::Scalar(value.into_owned(), style);
                (Node { pos, kind }, anchor)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| SyntaxError {
                    pos,
                    message: "alias to an unknown anchor".into(),
                })?;
                let size = node_count(&node);
                self.count(pos, size)?;
                return Ok(Node { pos, ..node });
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                self.seq_items(pos, &mut |_, item| items.push(item))?;
                let kind = NodeKind::Seq(items);
                (Node { pos, kind }, anchor)
            }
            Event::MappingStart(anchor, _) => {
                self.enter(pos)?;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (event, key_pos) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, key_pos)?;
                    let (event, value_pos) = self.next()?;
                    let split_here = self.depth == 1
                        && matches!(event, Event::SequenceStart(0, _))
                        && matches!((&self.split, key.as_str()), (Some((k, _)), Some(name)) if *k == name);
                    let value = if split_here {
                        self.split_seq(value_pos)?
                    } else {
                        self.node(event, value_pos)?
                    };
                    let Some(name) = key.as_str() else {
                        return Err(SyntaxError {
                            pos: key.pos,
                            message: "mapping keys must be plain text, not lists or mappings"
                                .into(),
                        });
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.as_str() == Some(name))
                    {
                        return Err(SyntaxError {
                            pos: key.pos,
                            message: format!(
                                "duplicate key `{name}` (first defined at line {})\nhint: a key may appear only once in a mapping; keep one of them",
                                first.pos.line
                            ),
                        });
                    }
                    entries.push((key, value));
                }
                self.depth -= 1;
                let kind = NodeKind::Map(entries);
                (Node { pos, kind }, anchor)
            }
            _ => {
                return Err(SyntaxError {
                    pos,
                    message: "YAML syntax error: unexpected event".into(),
                });
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// The items of the list being split, each handed out when complete; an empty list stays.
    fn split_seq(&mut self, pos: Pos) -> Result<Node, SyntaxError> {
        self.count(pos, 1)?;
        self.seq_items(pos, &mut |builder, item| {
            if let Some((_, each)) = &mut builder.split {
                each(item);
            }
        })?;
        Ok(Node {
            pos,
            kind: NodeKind::Seq(Vec::new()),
        })
    }

    /// Reads the items of a list whose start was just read, handing each to `take`.
    fn seq_items(
        &mut self,
        pos: Pos,
        take: &mut dyn FnMut(&mut Self, Node),
    ) -> Result<(), SyntaxError> {
        self.enter(pos)?;
        loop {
            let (event, item_pos) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                break;
            }
            let item = self.node(event, item_pos)?;
            take(self, item);
        }
        self.depth -= 1;
        Ok(())
    }

    fn enter(&mut self, pos: Pos) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                pos,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }
}

/// A hint for the parser's messages that do not say what to change.
fn syntax_hint(info: &str) -> &'static str {
    if info.contains("mapping values are not allowed") {
        "\nhint: check the indentation of this line against the lines above; \
         a value that contains `: ` must be quoted"
    } else if info.contains("quoted scalar")
        && (info.contains("end of stream") || info.contains("indentation"))
    {
        "\nhint: check that the quote that starts here is closed"
    } else if info.contains("tabs disallowed") {
        "\nhint: indent with spaces; YAML does not allow tabs for indentation"
    } else {
        ""
    }
}

fn node_count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(..) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_count(k) + node_count(v))
                .sum::<usize>()
        }
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// A plain scalar typed by YAML 1.2's core schema.
enum Plain<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Plain<'_> {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match *self {
            Plain::Null => Value::Null,
            Plain::Bool(b) => Value::Bool(b),
            Plain::Int(i) => Value::from(i),
            Plain::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Plain::Str(s) => Value::String(s.to_string()),
        }
    }
}

fn plain_scalar(s: &str) -> Plain<'_> {
    match s {
        s if is_null(s) => Plain::Null,
        "true" | "True" | "TRUE" => Plain::Bool(true),
        "false" | "False" | "FALSE" => Plain::Bool(false),
        _ => {
            // A leading zero (an account id such as 012345678901) stays text.
            let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
            if digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.") {
                return Plain::Str(s);
            }
            if let Ok(i) = s.parse::<i64>() {
                Plain::Int(i)
            } else if s.chars().any(|c| c.is_ascii_digit())
                && !s
                    .chars()
                    .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
                && let Ok(f) = s.parse::<f64>()
            {
                Plain::Float(f)
            } else {
                Plain::Str(s)
            }
        }
    }
}

/// An error from reading typed values out of a node tree, with where it happened.
#[derive(Debug, Clone)]
pub struct DeError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            pos: None,
            message: tidy(msg.to_string()),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown field `{field}`");
        if let Some(best) = super::closest(field, expected.iter().copied()) {
            message.push_str(&format!("\nhint: did you mean `{best}`?"));
        } else if !expected.is_empty() {
            let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
            message.push_str(&format!("\nhint: expected one of {}", list.join(", ")));
        }
        DeError { pos: None, message }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
        let mut message = format!("unknown value `{variant}`");
        if let Some(best) = super::closest(variant, expected.iter().copied()) {
            message.push_str(&format!("\nhint: did you mean `{best}`?"));
        } else {
            message.push_str(&format!("\nhint: expected one of {}", list.join(", ")));
        }
        DeError { pos: None, message }
    }
}

/// serde's own messages say "invalid type: string "x", expected a boolean"; keep them but make
/// them read as sentences about the runbook.
fn tidy(msg: String) -> String {
    msg.replace("invalid type: ", "wrong type: found ")
        .replace("map, expected", "a mapping, expected")
        .replace("sequence, expected", "a list, expected")
}

impl DeError {
    fn at(mut self, pos: Pos) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
        }
        self
    }
}

/// Reads a typed value from a node; errors carry the position of the innermost node.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(node)
}

/// The name under which `Spanned` asks the deserializer for a position.
pub const SPANNED: &str = "$stepwise::Spanned";
pub const SPANNED_FIELDS: &[&str] = &["$line", "$col", "$value"];

macro_rules! forward_scalar {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.kind {
            NodeKind::Scalar(s, Style::Plain) => match plain_scalar(s) {
                Plain::Null => visitor.visit_unit(),
                Plain::Bool(b) => visitor.visit_bool(b),
                Plain::Int(i) => visitor.visit_i64(i),
                Plain::Float(f) => visitor.visit_f64(f),
                Plain::Str(s) => visitor.visit_borrowed_str(s),
            },
            NodeKind::Scalar(s, _) => visitor.visit_borrowed_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(Items { iter: items.iter() }),
            NodeKind::Map(entries) => visitor.visit_map(Entries {
                iter: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e: DeError| e.at(self.pos))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Any scalar may be read as text: `version: 1.0` or `account: 0123` stay as written.
        match &self.kind {
            NodeKind::Scalar(s, Style::Plain) if is_null(s) => self.deserialize_any(visitor),
            NodeKind::Scalar(s, _) => visitor
                .visit_borrowed_str(s)
                .map_err(|e: DeError| e.at(self.pos)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            visitor.visit_none().map_err(|e: DeError| e.at(self.pos))
        } else {
            visitor
                .visit_some(self)
                .map_err(|e: DeError| e.at(self.pos))
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: DeError| e.at(self.pos))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess {
                node: self,
                field: 0,
            });
        }
        let _ = fields;
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.kind {
            NodeKind::Scalar(s, _) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumAccess {
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            _ => Err(de::Error::custom(format!(
                "wrong type: found {}, expected a name or a mapping with one key",
                self.type_name()
            ))),
        };
        result.map_err(|e: DeError| e.at(self.pos))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_scalar! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_seq deserialize_map deserialize_identifier deserialize_i128 deserialize_u128
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }
}

struct Items<'de> {
    iter: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(node) => seed
                .deserialize(node)
                .map(Some)
                .map_err(|e: DeError| e.at(node.pos)),
            None => Ok(None),
        }
    }
}

struct Entries<'de> {
    iter: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key)
                    .map(Some)
                    .map_err(|e: DeError| e.at(key.pos))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value read before its key"))?;
        seed.deserialize(value)
            .map_err(|e: DeError| e.at(value.pos))
    }
}

struct SpannedAccess<'de> {
    node: &'de Node,
    field: usize,
}

impl<'de> MapAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match SPANNED_FIELDS.get(self.field) {
            Some(name) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let field = self.field;
        self.field += 1;
        match field {
            0 => seed.deserialize((self.node.pos.line as u64).into_deserializer()),
            1 => seed.deserialize((self.node.pos.col as u64).into_deserializer()),
            _ => seed.deserialize(self.node),
        }
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed
            .deserialize(self.key)
            .map_err(|e: DeError| e.at(self.key.pos))?;
        Ok((v, VariantAccess { value: self.value }))
    }
}

struct VariantAccess<'de> {
    value: &'de Node,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self.value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self.value, visitor)
    }
}

#[cfg(test)]
mod tests;
