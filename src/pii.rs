//! Personal data: email normalisation, salted hashing, and redaction of
//! email addresses from free text and quarantined records.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex(Sha256::digest(bytes).as_slice())
}

/// Lower-case hex of a SHA-256 digest. `hex::encode` builds the string a
/// char at a time through an iterator (2.5% of ingest CPU, one hash per
/// email); `encode_to_slice` writes the bytes straight into a buffer.
fn digest_hex(digest: &[u8]) -> String {
    let mut out = [0u8; 64];
    hex::encode_to_slice(digest, &mut out).expect("32-byte digest");
    std::str::from_utf8(&out).expect("hex is ASCII").to_string()
}

/// PBKDF2 rounds of [`salt_key`]: derived once per ingest, and once for
/// every salt an attacker tries against a manifest (200,000 SHA-256
/// compressions, a few milliseconds in ring's optimised code).
const SALT_KEY_ROUNDS: NonZeroU32 = NonZeroU32::new(100_000).unwrap();

/// PBKDF2-HMAC-SHA256 by ring (object_store already builds it), not the
/// generic `pbkdf2` crate: generic code is compiled in the crate that
/// names its types, so `pbkdf2_hmac::<Sha256>` was compiled here at the
/// test build's opt-level 0 and took 0.18 s of every 1.8 s bundled run in
/// a debug build (perf); ring's is compiled once, optimised. Same bytes
/// (RFC 7914's vector below).
fn pbkdf2_hmac_sha256(secret: &[u8], salt: &[u8], rounds: NonZeroU32, out: &mut [u8]) {
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, secret, out);
}

/// What stands for the PII salt in what others may read (the manifest's
/// fingerprints, which change when the salt does): PBKDF2-HMAC-SHA256 of
/// the salt, so that testing a guessed salt against a manifest costs as
/// much as deriving this, not one SHA-256.
/// Derived once per salt in a process: a process that ingests many times
/// (a test suite: 768 ingests in the hostile-export properties) pays for
/// it once.
pub fn salt_key(salt: &str) -> String {
    static KEYS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
    keys.entry(salt.to_string())
        .or_insert_with(|| {
            let mut key = [0u8; 32];
            pbkdf2_hmac_sha256(
                salt.as_bytes(),
                b"advocacy manifest fingerprint",
                SALT_KEY_ROUNDS,
                &mut key,
            );
            digest_hex(&key)
        })
        .clone()
}

/// Trims and lower-cases an address; `None` when it is not one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !domain.contains('@');
    valid.then_some(email)
}

/// The address of a value written as `Name <address>` (or `<address>`),
/// the way mail clients and CRMs export a contact.
pub fn bracketed_address(text: &str) -> Option<String> {
    let inner = text.trim().strip_suffix('>')?;
    let (_, address) = inner.rsplit_once('<')?;
    normalize_email(address)
}

/// Hex SHA-256 of salt + normalised email, as DESIGN.md specifies, so the
/// same person hashes the same in every source.
pub fn hash_email(salt: &str, normalized: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(normalized.as_bytes());
    digest_hex(hasher.finalize().as_slice())
}

/// Characters of an address's local part and domain. Beyond ASCII any
/// letter or digit counts: internationalised addresses (`andré@example.fr`,
/// `josé.m@x.com`) are addresses too.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-'".contains(c) || (!c.is_ascii() && c.is_alphanumeric())
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
}

/// Replaces every email-looking token with `<email:HASH12>` (the first 12
/// hex digits of its salted hash): the text stays readable and joinable by
/// hand, and no address reaches the warehouse.
pub fn redact_emails(text: &str, salt: &str) -> String {
    redact_with(text, salt, true)
}

/// As [`redact_emails`], but hashing each address as written, case and
/// all: for names that must stay apart (`Jane@X.com.csv` and
/// `jane@x.com.csv` are two landing files).
pub fn redact_emails_exact(text: &str, salt: &str) -> String {
    redact_with(text, salt, false)
}

fn redact_with(text: &str, salt: &str, fold_case: bool) -> String {
    if !text.contains('@') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    // memchr jumps from one '@' to the next: posts and comments are long and
    // nearly all of them mention a handle, so a byte-by-byte scan was 2.8%
    // of the instructions of loading X posts (callgrind).
    while let Some(at) = memchr::memchr(b'@', &bytes[i..]) {
        i += at;
        let start = text[copied..i]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_local_char(*c))
            .last()
            .map_or(i, |(offset, _)| copied + offset);
        let end = text[i + 1..]
            .char_indices()
            .find(|(_, c)| !is_domain_char(*c))
            .map_or(text.len(), |(offset, _)| i + 1 + offset);
        let mut end = end;
        // A trailing dot ends the sentence, not the domain.
        while end > i + 1 && bytes[end - 1] == b'.' {
            end -= 1;
        }
        // Anything shaped local@domain goes, valid or not: an address
        // rejected as malformed is still somebody's address.
        if start < i && end > i + 1 {
            let email = match fold_case {
                true => text[start..end].to_lowercase(),
                false => text[start..end].to_string(),
            };
            out.push_str(&text[copied..start]);
            out.push_str("<email:");
            out.push_str(&hash_email(salt, &email)[..12]);
            out.push('>');
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_key_is_pbkdf2_of_the_salt() {
        // PBKDF2-HMAC-SHA256 with RFC 7914's published vector (password
        // "passwd", salt "salt", 1 round) checks the primitive; the key
        // itself is a fixed function of the salt alone.
        let mut one_round = [0u8; 32];
        pbkdf2_hmac_sha256(b"passwd", b"salt", NonZeroU32::MIN, &mut one_round);
        assert_eq!(
            digest_hex(&one_round),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        // The key of salt "s", as Python computes it:
        // hashlib.pbkdf2_hmac("sha256", b"s", b"advocacy manifest fingerprint", 100000)
        assert_eq!(
            salt_key("s"),
            "c7de2f9e9934d26fa785a954f3559e4b2a0ad1f926e8b1700296b5d16bf628aa"
        );
        assert_eq!(salt_key("s"), salt_key("s"));
        assert_ne!(salt_key("s"), salt_key("t"));
        assert_ne!(salt_key("s"), sha256_hex(b"s"));
    }

    #[test]
    fn a_contact_written_with_its_name_has_its_address() {
        assert_eq!(
            bracketed_address("Jane Doe <Jane2@Example.com>").as_deref(),
            Some("jane2@example.com")
        );
        assert_eq!(bracketed_address(" <a@b.co> ").as_deref(), Some("a@b.co"));
        assert_eq!(
            bracketed_address("Jane<jane@x.com>").as_deref(),
            Some("jane@x.com")
        );
        assert_eq!(bracketed_address("Jane <not an address>"), None);
        assert_eq!(bracketed_address("a@b.co"), None);
    }

    #[test]
    fn internationalised_addresses_are_redacted_whole() {
        let tag = |email: &str| format!("<email:{}>", &hash_email("s", email)[..12]);
        assert_eq!(
            redact_emails("écrire à andré@example.fr, merci", "s"),
            format!("écrire à {}, merci", tag("andré@example.fr"))
        );
        assert_eq!(
            redact_emails("(josé.m@x.com)", "s"),
            format!("({})", tag("josé.m@x.com"))
        );
        assert_eq!(
            redact_emails("mail Łucja@poczta.pl.", "s"),
            format!("mail {}.", tag("łucja@poczta.pl"))
        );
    }

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            normalize_email("  Jane.Doe@Example.COM ").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(normalize_email("not an email"), None);
        assert_eq!(normalize_email("a@b"), None);
        assert_eq!(normalize_email("@b.com"), None);
    }

    #[test]
    fn hash_is_salted_sha256() {
        // sha256("salt" + "a@b.co") computed with coreutils sha256sum.
        assert_eq!(
            hash_email("salt", "a@b.co"),
            "bed3bcd88558c701d4a8d22a06684359e57b4d524aaf8940edb6ef0e183bf0f2"
        );
        assert_ne!(hash_email("salt", "a@b.co"), hash_email("pepper", "a@b.co"));
    }

    #[test]
    fn redacts_every_address_in_text() {
        let text = "mail Jane.Doe@example.com or bob@x.org. Twitter @jane";
        let out = redact_emails(text, "s");
        assert!(
            !out.contains("example.com") && !out.contains("bob@"),
            "{out}"
        );
        assert!(out.ends_with(". Twitter @jane"), "{out}");
        // Malformed addresses are personal data too.
        let bad = redact_emails("bad,jane.doe@gmail,x", "s");
        assert!(
            !bad.contains("jane") && bad.starts_with("bad,<email:") && bad.ends_with(">,x"),
            "{bad}"
        );
        let h = &hash_email("s", "jane.doe@example.com")[..12];
        assert!(
            out.starts_with(&format!("mail <email:{h}> or <email:")),
            "{out}"
        );
    }
}
