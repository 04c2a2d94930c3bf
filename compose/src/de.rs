//! A serde `Deserializer` over the node tree, so the typed model is checked field by field and
//! every error carries the node's file:line:column and its field path. Unknown fields are errors
//! (checked here against the struct's field list), `x-` fields are skipped (extensions are
//! collected separately), and numbers and booleans given as strings are accepted where Compose
//! accepts them (interpolated values are strings).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{LoadError, Pos};
use crate::yaml::{Key, Node, Value};

#[derive(Debug)]
pub struct DeError {
    pos: Option<Pos>,
    path: Option<String>,
    msg: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { pos: None, path: None, msg: msg.to_string() }
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let got = match unexp {
            de::Unexpected::Map => "a mapping".to_string(),
            de::Unexpected::Seq => "a list".to_string(),
            de::Unexpected::Unit => "null".to_string(),
            other => other.to_string(),
        };
        Self::custom(format_args!("must be {}, not {got}", nice_expected(&exp.to_string())))
    }
    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!("additional property {field:?} is not allowed"))
    }
    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("{field:?} is required"))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format_args!("{variant:?} must be one of {}", expected.join(", ")))
    }
}

fn nice_expected(exp: &str) -> String {
    match exp {
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "usize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        e if e.starts_with("struct ") => "a mapping".into(),
        e => e.to_string(),
    }
}

impl DeError {
    fn at(mut self, pos: &Pos, path: &str) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos.clone());
        }
        if self.path.is_none() {
            self.path = Some(path.to_string());
        }
        self
    }

    pub fn into_load_error(self) -> LoadError {
        LoadError::Invalid { pos: self.pos.unwrap_or_default(), path: self.path.unwrap_or_default(), msg: self.msg }
    }
}

/// Deserializes `node` (found at `path`) into `T`.
pub fn from_node<'a, T: serde::Deserialize<'a>>(node: &'a Node, path: &str) -> Result<T, LoadError> {
    T::deserialize(NodeDe { node, path: path.to_string() }).map_err(DeError::into_load_error)
}

/// Like `from_node`, for types that own all their data.
pub fn from_node_owned<T: serde::de::DeserializeOwned>(node: &Node, path: &str) -> Result<T, LoadError> {
    T::deserialize(NodeDe { node, path: path.to_string() }).map_err(DeError::into_load_error)
}

pub struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(&self.node.pos, &self.path))
    }
    fn int(&self) -> Result<i64, DeError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i),
            Value::Str(s) => s.trim().parse().map_err(|_| de::Error::custom(format!("must be an integer, not {s:?}"))),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            _ => Err(de::Error::custom(format!("must be an integer, not {}", self.node.kind()))),
        }
    }
    fn float(&self) -> Result<f64, DeError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) => s.trim().parse().map_err(|_| de::Error::custom(format!("must be a number, not {s:?}"))),
            _ => Err(de::Error::custom(format!("must be a number, not {}", self.node.kind()))),
        }
    }
}

macro_rules! int_method {
    ($name:ident, $visit:ident, $ty:ty) => {
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            let r = self
                .int()
                .and_then(|i| <$ty>::try_from(i).map_err(|_| de::Error::custom(format!("{i} is out of range"))));
            let r = r.and_then(|i| v.$visit(i));
            self.wrap(r)
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) => v.visit_f64(*f),
            Value::Str(s) => v.visit_str(s),
            Value::Seq(items) => v.visit_seq(Seq { items: items.iter(), index: 0, path: &self.path }),
            Value::Map(m) => v.visit_map(Map {
                entries: m.0.iter(),
                value: None,
                path: &self.path,
                fields: None,
                parent: &self.path,
            }),
        };
        self.wrap(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Bool(b) => v.visit_bool(*b),
            Value::Str(s) if matches!(s.as_str(), "true" | "True" | "TRUE") => v.visit_bool(true),
            Value::Str(s) if matches!(s.as_str(), "false" | "False" | "FALSE") => v.visit_bool(false),
            _ => Err(de::Error::custom(format!("must be a boolean, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = self.float().and_then(|f| v.visit_f32(f as f32));
        self.wrap(r)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = self.float().and_then(|f| v.visit_f64(f));
        self.wrap(r)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match self.node.scalar_text() {
            Some(s) => v.visit_string(s),
            None => Err(de::Error::custom(format!("must be a string, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            let r = v.visit_none();
            return self.wrap(r);
        }
        v.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => v.visit_unit(),
            _ => Err(de::Error::custom(format!("must be null, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _n: &'static str, v: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _n: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Seq(items) => v.visit_seq(Seq { items: items.iter(), index: 0, path: &self.path }),
            _ => Err(de::Error::custom(format!("must be a list, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _n: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Map(m) => v.visit_map(Map {
                entries: m.0.iter(),
                value: None,
                path: &self.path,
                fields: None,
                parent: &self.path,
            }),
            _ => Err(de::Error::custom(format!("must be a mapping, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Map(m) => v.visit_map(Map {
                entries: m.0.iter(),
                value: None,
                path: &self.path,
                fields: Some(fields),
                parent: &self.path,
            }),
            _ => Err(de::Error::custom(format!("must be a mapping, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match self.node.scalar_text() {
            Some(s) => v.visit_enum(s.into_deserializer()),
            None => Err(de::Error::custom(format!("must be a string, not {}", describe(self.node)))),
        };
        self.wrap(r)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! { bytes byte_buf i128 u128 }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Null => "null".into(),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

struct Seq<'a, I> {
    items: I,
    index: usize,
    path: &'a str,
}

impl<'de, 'a, I: Iterator<Item = &'a Node>> SeqAccess<'de> for Seq<'a, I> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else { return Ok(None) };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        // Errors raised by the seed itself (a bad duration) still name this element.
        let at = path.clone();
        seed.deserialize(NodeDe { node, path }).map(Some).map_err(|e| e.at(&node.pos, &at))
    }
}

struct Map<'a, I> {
    entries: I,
    value: Option<(&'a Node, String)>,
    path: &'a str,
    parent: &'a str,
    /// The struct's known fields; `None` for free-form maps.
    fields: Option<&'static [&'static str]>,
}

impl<'de, 'a, I: Iterator<Item = &'a (Key, Node)>> MapAccess<'de> for Map<'a, I> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        loop {
            let Some((key, node)) = self.entries.next() else { return Ok(None) };
            if let Some(fields) = self.fields {
                if key.name.starts_with("x-") {
                    continue;
                }
                if !fields.contains(&key.name.as_str()) {
                    return Err(<DeError as de::Error>::unknown_field(&key.name, fields).at(&key.pos, self.parent));
                }
            }
            let path = if self.path.is_empty() { key.name.clone() } else { format!("{}.{}", self.path, key.name) };
            self.value = Some((node, path));
            let k: de::value::StrDeserializer<'_, DeError> = key.name.as_str().into_deserializer();
            return seed.deserialize(k).map(Some).map_err(|e| e.at(&key.pos, self.parent));
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        let (node, path) = self.value.take().ok_or_else(|| <DeError as de::Error>::custom("value without a key"))?;
        let at = path.clone();
        seed.deserialize(NodeDe { node, path }).map_err(|e| e.at(&node.pos, &at))
    }
}
