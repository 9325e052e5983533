//! Walking a JSON document down a JSON pointer (RFC 6901) to the array of
//! records, skipping everything else, and naming the closest pointer when
//! one leads nowhere.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// "; did you mean ...?" for a pointer that leads nowhere, over the
/// pointers to the arrays of the document's top level.
pub(super) fn pointer_hint(pointer: &str, document: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(document) else {
        return String::new();
    };
    let arrays: Vec<String> = map
        .iter()
        .filter(|(_, v)| v.is_array())
        .map(|(k, _)| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect();
    let arrays: Vec<&str> = arrays.iter().map(String::as_str).collect();
    super::header::closest(pointer, &arrays)
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default()
}

/// What the pointer leads to in one document.
pub(super) fn pointer_target<'de>(
    document: &'de str,
    tokens: &[String],
) -> Result<Target<'de>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(document);
    let target = PointerSeed { tokens }.deserialize(&mut de)?;
    de.end()?;
    Ok(target)
}

/// A JSON pointer's reference tokens (RFC 6901); `None` if it is not one.
pub(super) fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
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

/// What a JSON pointer leads to.
pub(super) enum Target<'de> {
    Records(Vec<&'de RawValue>),
    NotArray,
    Missing,
}

/// Walks a document down a JSON pointer, skipping everything else, and
/// takes the array it points at as raw records (each parsed afterwards).
struct PointerSeed<'t> {
    tokens: &'t [String],
}

impl<'de> DeserializeSeed<'de> for PointerSeed<'_> {
    type Value = Target<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Target<'de>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PointerSeed<'_> {
    type Value = Target<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target<'de>, A::Error> {
        let mut target = if self.tokens.is_empty() {
            Target::NotArray
        } else {
            Target::Missing
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.tokens.split_first() {
                Some((first, rest)) if *first == key => {
                    target = map.next_value_seed(PointerSeed { tokens: rest })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(target)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Target<'de>, A::Error> {
        let Some((first, rest)) = self.tokens.split_first() else {
            let mut records = Vec::new();
            while let Some(record) = seq.next_element::<&'de RawValue>()? {
                records.push(record);
            }
            return Ok(Target::Records(records));
        };
        // RFC 6901 array indices: digits, no leading zero.
        let wanted = first
            .parse::<usize>()
            .ok()
            .filter(|_| !first.starts_with('+') && (first == "0" || !first.starts_with('0')));
        let mut target = Target::Missing;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(PointerSeed { tokens: rest })? {
                    Some(t) => target = t,
                    None => return Ok(target),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(target);
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_str<E>(self, _: &str) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_unit<E>(self) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
}

impl PointerSeed<'_> {
    /// A scalar is the target itself (not an array) or has nothing below.
    fn scalar<'de>(&self) -> Target<'de> {
        if self.tokens.is_empty() {
            Target::NotArray
        } else {
            Target::Missing
        }
    }
}
