//! Extracting a mapping's paths from one JSON record in a single pass,
//! without building a `serde_json::Value` of the whole record.
//!
//! Why not `Value` + lookup: perf of loading 894k X posts (363 bytes each)
//! put 60% of the CPU in building and dropping each record's `BTreeMap`s
//! (allocations, key comparisons) for the ten fields the mapping reads.
//! Here serde_json still parses and validates every byte, but only mapped
//! values are kept (borrowed from the input where they have no escapes);
//! the rest is skipped with `IgnoredAny`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The keys a mapping reads, as a tree: `author.username` and
/// `author.public_metrics.followers_count` share the `author` node.
#[derive(Debug)]
pub struct PathTree {
    root: Node,
    columns: usize,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by object key; `index` is the key read as an array index.
    children: Vec<Child>,
    /// Columns whose value is this node's value, with the route's rank.
    leaves: Vec<(usize, Rank)>,
}

#[derive(Debug)]
struct Child {
    key: String,
    index: Option<usize>,
    node: Node,
}

/// A key that itself contains dots (`"x.y": 2`) is matched whole before
/// the path is split at its dots: the lower rank wins.
type Rank = u8;
const WHOLE: Rank = 0;
const SPLIT: Rank = 1;

/// Values found in one record, per column: the rank of the route that
/// found it and its text (`None` for JSON null).
pub type Found<'de> = Vec<Option<(Rank, Option<Cow<'de, str>>)>>;

impl PathTree {
    /// `paths[i]` is column `i`'s dotted path (`consumer.displayName`,
    /// `tweets.0.id`).
    pub fn new(paths: &[String]) -> PathTree {
        let mut root = Node::default();
        for (column, path) in paths.iter().enumerate() {
            root.insert(std::iter::once(path.as_str()), column, WHOLE);
            if path.contains('.') {
                root.insert(path.split('.'), column, SPLIT);
            }
        }
        PathTree {
            root,
            columns: paths.len(),
        }
    }

    /// Parses one record. `Ok(None)` when it is valid JSON but not an object.
    pub fn extract<'de>(&self, text: &'de str) -> Result<Option<Found<'de>>, serde_json::Error> {
        let mut found: Found<'de> = vec![None; self.columns];
        let mut de = serde_json::Deserializer::from_str(text);
        let is_object = (&mut de).deserialize_any(NodeVisitor {
            node: &self.root,
            found: &mut found,
        })?;
        de.end()?;
        Ok(is_object.then_some(found))
    }
}

impl Node {
    fn insert<'p>(&mut self, mut keys: impl Iterator<Item = &'p str>, column: usize, rank: Rank) {
        match keys.next() {
            None => self.leaves.push((column, rank)),
            Some(key) => {
                let position = match self.children.iter().position(|c| c.key == key) {
                    Some(p) => p,
                    None => {
                        self.children.push(Child {
                            key: key.to_string(),
                            index: key.parse().ok(),
                            node: Node::default(),
                        });
                        self.children.len() - 1
                    }
                };
                self.children[position].node.insert(keys, column, rank);
            }
        }
    }

    fn record<'de>(&self, found: &mut Found<'de>, text: Option<Cow<'de, str>>) {
        for &(column, rank) in &self.leaves {
            // Equal rank: a repeated key, and the last one counts, as in a
            // parsed `Value`.
            if found[column].as_ref().is_none_or(|(r, _)| rank <= *r) {
                found[column] = Some((rank, text.clone()));
            }
        }
    }

    /// Fills `found` from an already parsed value: for a node that is both
    /// a mapped value and the parent of others (`author` and
    /// `author.username` both mapped), which is rare.
    fn record_value<'de>(&self, found: &mut Found<'de>, value: &Value) {
        self.record(found, scalar_text(value).map(Cow::Owned));
        for child in &self.children {
            let next = match value {
                Value::Object(map) => map.get(&child.key),
                Value::Array(items) => child.index.and_then(|i| items.get(i)),
                _ => None,
            };
            if let Some(next) = next {
                child.node.record_value(found, next);
            }
        }
    }
}

/// Text of a mapped value: strings as they are, numbers and booleans as
/// JSON spells them, objects and arrays as compact JSON.
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

struct NodeSeed<'t, 'f, 'de> {
    node: &'t Node,
    found: &'f mut Found<'de>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        let node = self.node;
        match (node.leaves.is_empty(), node.children.is_empty()) {
            (true, true) => {
                <IgnoredAny as serde::Deserialize>::deserialize(de)?;
            }
            (true, false) => {
                de.deserialize_any(NodeVisitor {
                    node,
                    found: self.found,
                })?;
            }
            (false, true) => {
                let text = de.deserialize_any(TextVisitor)?;
                node.record(self.found, text);
            }
            (false, false) => {
                let value: Value = serde::Deserialize::deserialize(de)?;
                node.record_value(self.found, &value);
            }
        }
        Ok(())
    }
}

/// Walks an object or array, descending into mapped keys; answers whether
/// the value was an object. Any other value is consumed and ignored (a
/// path through a string finds nothing).
struct NodeVisitor<'t, 'f, 'de> {
    node: &'t Node,
    found: &'f mut Found<'de>,
}

impl<'de> Visitor<'de> for NodeVisitor<'_, '_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(child) = map.next_key_seed(KeySeed(self.node))? {
            match child {
                Some(child) => map.next_value_seed(NodeSeed {
                    node: child,
                    found: self.found,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut index = 0;
        loop {
            let child = self.node.children.iter().find(|c| c.index == Some(index));
            let more = match child {
                Some(child) => seq
                    .next_element_seed(NodeSeed {
                        node: &child.node,
                        found: self.found,
                    })?
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(false);
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Reads an object key and answers which child node it names, if any,
/// without allocating the key.
struct KeySeed<'t>(&'t Node);

impl<'de, 't> DeserializeSeed<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de, 't> Visitor<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .children
            .iter()
            .find(|c| c.key == key)
            .map(|c| &c.node))
    }
}

/// A mapped value's text, borrowed from the input when it has no escapes.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As `Value::Number` prints it; serde_json never yields a
        // non-finite number.
        Ok(serde_json::Number::from_f64(v).map(|n| Cow::Owned(n.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value: Value = serde::Deserialize::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Some(Cow::Owned(value.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value: Value = serde::Deserialize::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Some(Cow::Owned(value.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition the tree implements: follows a dotted path in a
    /// parsed value; a key that itself contains dots is matched whole first.
    fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
        if let Some(v) = record.get(path) {
            return Some(v);
        }
        path.split('.').try_fold(record, |value, part| match value {
            Value::Object(map) => map.get(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
    }

    /// Every path the tree extracts agrees with `lookup` on a parsed
    /// `Value`, the definition it replaces.
    fn assert_agrees(record: &str, paths: &[&str]) {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let tree = PathTree::new(&paths);
        let found = tree.extract(record).unwrap().expect("an object");
        let value: Value = serde_json::from_str(record).unwrap();
        for (column, path) in paths.iter().enumerate() {
            let expected = lookup(&value, path).and_then(scalar_text);
            let got = found[column].as_ref().and_then(|(_, t)| t.as_deref());
            assert_eq!(got, expected.as_deref(), "path {path} of {record}");
        }
    }

    #[test]
    fn dotted_paths_reach_nested_values() {
        let record = r#"{"a": {"b": [{"c": 1}, {"c": 2.50}]}, "x.y": 2, "x": {"y": 3},
            "consumer": {"displayName": "Jo \"J\" \u00e9"}, "n": null, "t": true,
            "big": 18446744073709551615, "neg": -7, "obj": {"k": [1, "v"]}, "s": "plain"}"#;
        assert_agrees(
            record,
            &[
                "a.b.0.c",
                "a.b.1.c",
                "a.b.2.c",
                "x.y",
                "consumer.displayName",
                "a.missing",
                "n",
                "n.deeper",
                "t",
                "big",
                "neg",
                "obj",
                "obj.k.1",
                "s",
                "s.0",
                "missing",
            ],
        );
        let tree = PathTree::new(&["x.y".to_string(), "a.b.1.c".to_string()]);
        let found = tree.extract(record).unwrap().unwrap();
        assert_eq!(found[0], Some((WHOLE, Some(Cow::Borrowed("2")))));
        assert_eq!(found[1], Some((SPLIT, Some(Cow::Borrowed("2.5")))));
    }

    #[test]
    fn a_whole_key_wins_over_the_split_path_even_when_null_or_later() {
        assert_agrees(r#"{"x": {"y": 3}, "x.y": null}"#, &["x.y"]);
        assert_agrees(r#"{"x.y": "whole", "x": {"y": 3}}"#, &["x.y"]);
        assert_agrees(r#"{"a": 1, "a": 2}"#, &["a"]);
    }

    #[test]
    fn a_node_both_mapped_and_a_parent() {
        assert_agrees(
            r#"{"author": {"name": "Jo", "tags": ["a", "b"]}}"#,
            &["author", "author.name", "author.tags.1"],
        );
    }

    #[test]
    fn not_an_object_or_not_json() {
        let tree = PathTree::new(&["a".to_string()]);
        assert!(tree.extract("[1, {\"a\": 2}]").unwrap().is_none());
        assert!(tree.extract("\"text\"").unwrap().is_none());
        assert!(tree.extract("{not json}").is_err());
        assert!(tree.extract("{\"a\": 1} trailing").is_err());
        assert!(tree.extract("{\"a\": 1, \"b\": [1,}").is_err());
    }
}
