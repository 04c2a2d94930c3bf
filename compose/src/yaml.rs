//! YAML to a node tree that keeps every node's position and its `!reset`/`!override` tag.
//!
//! Built on saphyr-parser's event stream rather than serde, because the loader needs positions
//! on every node through merging and normalization, the Compose tags, and hard limits on alias
//! expansion and nesting that a generic deserializer does not give.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{LoadError, Pos};

/// Nesting deeper than this is rejected: no real compose file comes close, and it keeps every
/// recursive walk over the tree on a small stack.
pub const MAX_DEPTH: usize = 128;
/// Nodes that aliases may materialize in one file: stops a billion-laughs file early.
pub const MAX_ALIAS_NODES: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: drop the value inherited from earlier files.
    Reset,
    /// `!override`: replace the inherited value instead of merging.
    Override,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: Option<Tag>,
}

/// A mapping key: always a string in Compose, with its own position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A mapping in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(pub Vec<(Key, Node)>);

impl Map {
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.0.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.0.iter_mut().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.0.iter().find(|(k, _)| k.name == name).map(|(k, _)| k)
    }
    pub fn remove(&mut self, name: &str) -> Option<Node> {
        let i = self.0.iter().position(|(k, _)| k.name == name)?;
        Some(self.0.remove(i).1)
    }
    /// Replaces the value under `name`, or appends it.
    pub fn insert(&mut self, key: Key, value: Node) {
        match self.0.iter_mut().find(|(k, _)| k.name == key.name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Node)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Node {
        Node { value, pos, tag: None }
    }
    pub fn str(s: impl Into<String>, pos: Pos) -> Node {
        Node::new(Value::Str(s.into()), pos)
    }
    pub fn map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The text of a scalar as Compose sees it when it wants a string (`80` -> "80").
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "mapping",
        }
    }
    /// How many nodes this subtree holds.
    fn size(&self) -> usize {
        match &self.value {
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(m) => 1 + m.0.iter().map(|(_, v)| 1 + v.size()).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Parses every document of `text`; `file` is the name errors will show.
pub fn parse(text: &str, file: &Arc<str>) -> Result<Vec<Node>, LoadError> {
    let mut b =
        Builder { file: file.clone(), stack: Vec::new(), anchors: HashMap::new(), alias_nodes: 0, docs: vec![] };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| LoadError::Yaml {
            pos: Pos::new(file, e.marker().line(), e.marker().col() + 1),
            msg: e.info().to_string(),
        })?;
        b.event(event, span)?;
    }
    Ok(b.docs)
}

enum Frame {
    Seq { items: Vec<Node>, pos: Pos, anchor: usize, tag: Option<Tag> },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, pos: Pos, anchor: usize, tag: Option<Tag> },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    docs: Vec<Node>,
}

impl Builder {
    fn pos(&self, span: &Span) -> Pos {
        Pos::new(&self.file, span.start.line(), span.start.col() + 1)
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), LoadError> {
        let pos = self.pos(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag_name = tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix));
                let node = scalar(&text, style, tag_name.as_deref(), pos);
                self.complete(node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_depth(&pos)?;
                let tag = compose_tag(tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix)).as_deref());
                self.stack.push(Frame::Seq { items: vec![], pos, anchor, tag });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                self.check_depth(&pos)?;
                let tag = compose_tag(tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix)).as_deref());
                self.stack.push(Frame::Map { entries: vec![], key: None, pos, anchor, tag });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { items, pos, anchor, tag }) => {
                    self.complete(Node { value: Value::Seq(items), pos, tag }, anchor)
                }
                _ => Err(self.broken(pos)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { entries, pos, anchor, tag, .. }) => {
                    let map = build_map(entries)?;
                    self.complete(Node { value: Value::Map(map), pos, tag }, anchor)
                }
                _ => Err(self.broken(pos)),
            },
            Event::Alias(id) => {
                let node = self.anchors.get(&id).ok_or_else(|| LoadError::Yaml {
                    pos: pos.clone(),
                    msg: "alias refers to an unknown anchor".into(),
                })?;
                self.alias_nodes += node.size();
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(LoadError::Yaml {
                        pos,
                        msg: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    });
                }
                let node = node.clone();
                self.complete(node, 0)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    fn check_depth(&self, pos: &Pos) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(LoadError::Yaml { pos: pos.clone(), msg: format!("nesting deeper than {MAX_DEPTH} levels") });
        }
        Ok(())
    }

    fn broken(&self, pos: Pos) -> LoadError {
        LoadError::Yaml { pos, msg: "unbalanced YAML events".into() }
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), LoadError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

fn compose_tag(tag: Option<&str>) -> Option<Tag> {
    match tag {
        Some("!reset") => Some(Tag::Reset),
        Some("!override") => Some(Tag::Override),
        _ => None,
    }
}

/// Resolves a scalar with the YAML 1.2 core schema; quoted scalars are always strings.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>, pos: Pos) -> Node {
    let ctag = compose_tag(tag);
    let value = if style != ScalarStyle::Plain || tag == Some("tag:yaml.org,2002:str") || tag == Some("!!str") {
        Value::Str(text.to_string())
    } else {
        resolve_plain(text)
    };
    Node { value, pos, tag: ctag }
}

pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_float = digits.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

/// Turns key/value pairs into a map: keys must be scalars and unique; `<<` merge keys are
/// applied (explicit keys win, then earlier merge sources over later ones).
fn build_map(entries: Vec<(Node, Node)>) -> Result<Map, LoadError> {
    let mut map = Map::default();
    let mut merges = Vec::new();
    for (k, v) in entries {
        let is_merge = matches!(&k.value, Value::Str(s) if s == "<<") && k.tag.is_none();
        let name = match k.scalar_text() {
            Some(name) => name,
            None if k.is_null() => "null".to_string(),
            None => return Err(LoadError::Yaml { pos: k.pos, msg: "mapping keys must be strings".into() }),
        };
        if is_merge {
            merges.push(v);
            continue;
        }
        if let Some(first) = map.key(&name) {
            return Err(LoadError::Yaml {
                pos: k.pos,
                msg: format!("mapping key {name:?} already defined at line {}", first.pos.line),
            });
        }
        map.0.push((Key { name, pos: k.pos }, v));
    }
    for source in merges {
        let sources = match source.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => {
                let mut maps = vec![];
                for item in items {
                    match item.value {
                        Value::Map(m) => maps.push(m),
                        _ => return Err(merge_error(&item.pos)),
                    }
                }
                maps
            }
            _ => return Err(merge_error(&source.pos)),
        };
        for m in sources {
            for (k, v) in m.0 {
                if map.key(&k.name).is_none() {
                    map.0.push((k, v));
                }
            }
        }
    }
    Ok(map)
}

fn merge_error(pos: &Pos) -> LoadError {
    LoadError::Yaml { pos: pos.clone(), msg: "a merge key (<<) takes a mapping or a list of mappings".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        parse(text, &Arc::from("t.yaml")).unwrap().remove(0)
    }

    #[test]
    fn positions_are_one_based() {
        let doc = one("services:\n  web:\n    image: nginx\n");
        let web = doc.map().unwrap().get("services").unwrap().map().unwrap().get("web").unwrap();
        let image = web.map().unwrap().get("image").unwrap();
        assert_eq!((image.pos.line, image.pos.col), (3, 12));
        assert_eq!(web.map().unwrap().key("image").unwrap().pos.col, 5);
    }

    #[test]
    fn merge_keys_explicit_wins() {
        let doc = one("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n");
        let b = doc.map().unwrap().get("b").unwrap().map().unwrap();
        assert_eq!(b.get("x").unwrap().value, Value::Int(1));
        assert_eq!(b.get("y").unwrap().value, Value::Int(3));
    }

    #[test]
    fn merge_list_earlier_wins() {
        let doc = one("a: &a {x: 1}\nc: &c {x: 2, z: 3}\nb:\n  <<: [*a, *c]\n");
        let b = doc.map().unwrap().get("b").unwrap().map().unwrap();
        assert_eq!(b.get("x").unwrap().value, Value::Int(1));
        assert_eq!(b.get("z").unwrap().value, Value::Int(3));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_tags_are_kept() {
        let doc = one("a: \"80\"\nb: 80\nc: !reset []\nd: !override {x: 1}\ne: ''\nf:\n");
        let m = doc.map().unwrap();
        assert_eq!(m.get("a").unwrap().value, Value::Str("80".into()));
        assert_eq!(m.get("b").unwrap().value, Value::Int(80));
        assert_eq!(m.get("c").unwrap().tag, Some(Tag::Reset));
        assert_eq!(m.get("d").unwrap().tag, Some(Tag::Override));
        assert_eq!(m.get("e").unwrap().value, Value::Str(String::new()));
        assert_eq!(m.get("f").unwrap().value, Value::Null);
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let err = parse("a: 1\nb: 2\na: 3\n", &Arc::from("t.yaml")).unwrap_err();
        assert_eq!(err.to_string(), "t.yaml:3:1: mapping key \"a\" already defined at line 1");
    }

    #[test]
    fn billion_laughs_is_rejected_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let start = std::time::Instant::now();
        let err = parse(&text, &Arc::from("t.yaml")).unwrap_err();
        assert!(err.to_string().contains("aliases expand to more than"), "{err}");
        assert!(start.elapsed().as_secs_f64() < 1.0);
    }

    #[test]
    fn deep_nesting_is_rejected_quickly() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let start = std::time::Instant::now();
        let err = parse(&text, &Arc::from("t.yaml")).unwrap_err();
        // The scanner's own flow-level limit may fire before ours; either way it is an error.
        assert!(err.to_string().starts_with("t.yaml:1:"), "{err}");
        let text = (0..10_000).map(|i| format!("{}k:\n", " ".repeat(i))).collect::<String>();
        let err = parse(&text, &Arc::from("t.yaml")).unwrap_err();
        assert!(err.to_string().contains("nesting deeper than 128 levels"), "{err}");
        assert!(start.elapsed().as_secs_f64() < 1.0);
    }
}
