//! Walking a JSON document down a JSON pointer (RFC 6901) to its records
//! (an array's items, one object, or every value of an object), skipping
//! everything else, and naming the closest pointer when one leads nowhere.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// "; did you mean ...?" for a pointer that leads nowhere, over the
/// pointers to the arrays and objects of the document's top level.
pub(super) fn pointer_hint(pointer: &str, document: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(document) else {
        return String::new();
    };
    let arrays: Vec<String> = map
        .iter()
        .filter(|(_, v)| v.is_array() || v.is_object())
        .map(|(k, _)| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect();
    let arrays: Vec<&str> = arrays.iter().map(String::as_str).collect();
    super::header::closest(pointer, &arrays)
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default()
}

/// A JSON pointer's reference tokens (RFC 6901); `None` if it is not one.
fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Where records are: a JSON pointer (RFC 6901) from the document's root
/// (`/data`), or the same without the leading `/`, from the record at hand
/// (`columns`, for a lookup in a record's own array); ending in `/*`, every
/// value of the object or array there is a record.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RecordsPath {
    tokens: Vec<String>,
    every: bool,
}

impl RecordsPath {
    /// `None` if `path` is not one (a `/*` anywhere but at the end).
    pub(super) fn parse(path: &str) -> Option<RecordsPath> {
        let relative = !path.is_empty() && !path.starts_with('/');
        let mut tokens = if relative {
            pointer_tokens(&format!("/{path}"))?
        } else {
            pointer_tokens(path)?
        };
        let every = tokens.last().is_some_and(|t| t == "*");
        if every {
            tokens.pop();
        }
        if tokens.iter().any(|t| t == "*") {
            return None;
        }
        Some(RecordsPath { tokens, every })
    }

    /// The records the path leads to in `document` (a whole document, or
    /// a record for a relative path): the items of an array, an object as
    /// one record, or with `/*` every value of an object or array.
    pub(super) fn find<'de>(&self, document: &'de str) -> Result<Target<'de>, serde_json::Error> {
        let every = self.every;
        Ok(match self.walk(document, At::Items { every })? {
            None => Target::Missing,
            Some(Found::Items(items)) => Target::Records(items),
            Some(Found::Scalar) => Target::Scalar,
            // Rare and small (one post, one response): walked again to
            // take the object whole, so arrays are read in one pass.
            Some(Found::Object) => match self.walk(document, At::Raw)? {
                Some(Found::Raw(object)) => Target::Records(vec![object]),
                _ => Target::Missing,
            },
            Some(Found::Raw(_)) => unreachable!("asked for items"),
        })
    }

    fn walk<'de>(
        &self,
        document: &'de str,
        at: At,
    ) -> Result<Option<Found<'de>>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(document);
        let found = PointerSeed {
            tokens: &self.tokens,
            at,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(found)
    }
}

/// What a records path leads to.
#[derive(Debug)]
pub(super) enum Target<'de> {
    Records(Vec<&'de RawValue>),
    /// A string, number, boolean or null: no record.
    Scalar,
    Missing,
}

/// An object's keys and values in the order written.
pub(super) fn object_entries(text: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                entries.push((key, value));
            }
            Ok(entries)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = de.deserialize_map(Entries)?;
    de.end()?;
    Ok(entries)
}

/// What to take where a pointer leads.
#[derive(Clone, Copy)]
enum At {
    /// An array's items, or with `every` an object's values.
    Items { every: bool },
    /// The value whole.
    Raw,
}

/// What a pointer led to.
enum Found<'de> {
    Items(Vec<&'de RawValue>),
    /// An object, not taken (`At::Items` without `every`).
    Object,
    Raw(&'de RawValue),
    Scalar,
}

/// Walks a document down a JSON pointer, skipping everything else, and
/// takes what `at` asks for there (`None` if the pointer leads nowhere).
struct PointerSeed<'t> {
    tokens: &'t [String],
    at: At,
}

impl<'de> DeserializeSeed<'de> for PointerSeed<'_> {
    type Value = Option<Found<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        match (self.tokens.is_empty(), self.at) {
            (false, _) => de.deserialize_any(self),
            (true, At::Raw) => Ok(Some(Found::Raw(serde::Deserialize::deserialize(de)?))),
            (true, At::Items { every }) => de.deserialize_any(ItemsVisitor { every }).map(Some),
        }
    }
}

/// Takes an array's items (or an object's values, with `every`) as raw
/// records, each parsed afterwards.
struct ItemsVisitor {
    every: bool,
}

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Found::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        if !self.every {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Found::Object);
        }
        let mut values = Vec::new();
        while let Some((_, value)) = map.next_entry::<IgnoredAny, &'de RawValue>()? {
            values.push(value);
        }
        Ok(Found::Items(values))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Found<'de>, E> {
        Ok(Found::Scalar)
    }
}

impl<'de> Visitor<'de> for PointerSeed<'_> {
    type Value = Option<Found<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (first, rest) = self.tokens.split_first().expect("not called when empty");
        let mut target = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if *first == key {
                target = map.next_value_seed(PointerSeed {
                    tokens: rest,
                    at: self.at,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(target)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (first, rest) = self.tokens.split_first().expect("not called when empty");
        // RFC 6901 array indices: digits, no leading zero.
        let wanted = first
            .parse::<usize>()
            .ok()
            .filter(|_| !first.starts_with('+') && (first == "0" || !first.starts_with('0')));
        let mut target = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(PointerSeed {
                    tokens: rest,
                    at: self.at,
                })? {
                    Some(t) => target = t,
                    None => return Ok(target),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(target);
            }
            index += 1;
        }
    }

    // A scalar has nothing below it.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
