//! Who the customers are: each customer's profile, a pure function of the
//! seed and the customer's index so that any customer can be recomputed on its own
//! (a referee's referrer, say) without holding the others in memory.
//!
//! Emails, handles and codes that must identify one customer carry the
//! customer's index as digits, so they are unique by construction instead
//! of through a set of names already handed out.

use chrono_tz::Tz;

use super::random::{Rng, hash64, stable_hex, stream};
use super::reference::{
    COMPANY_DOMAINS, COUNTRIES, Country, FIRST_NAMES, LAST_NAMES, LEAD_SOURCES, MAIL_DOMAINS,
    SEGMENTS,
};
use super::truth::Persona;
use super::{Ctx, calendar::SignupCalendar};

#[derive(Debug, Clone)]
pub(super) struct Handle {
    pub name: String,
    /// Whether the CRM knows this handle belongs to the customer; unlinked
    /// handles make identity resolution miss, as it does in real life.
    pub linked: bool,
    pub followers: u64,
}

pub(super) struct Customer {
    pub index: usize,
    pub id: String,
    pub first: String,
    pub last: String,
    pub first_base: &'static str,
    pub last_base: &'static str,
    pub email: String,
    pub email_in_crm: String,
    pub secondary_email: Option<String>,
    pub signup_ms: i64,
    pub country: &'static Country,
    pub zone: Tz,
    pub segment: &'static str,
    pub lead_source: &'static str,
    /// The referral code the customer signed up with (the referrer's).
    pub referral_code: String,
    /// Latent satisfaction, N(0, 1): drives scores, reviews, referrals, posts.
    pub sat: f64,
    pub x: Option<Handle>,
    pub community: Option<Handle>,
    pub educator: bool,
    pub planted: Option<Persona>,
}

impl Customer {
    /// The part of the email before the `@`, which many review sites show
    /// as the display name by default.
    pub fn email_local(&self) -> &str {
        self.email.split('@').next().unwrap_or_default()
    }
}

/// Latent satisfaction of customer `i`, from its own stream so a referee
/// can weigh candidate referrers without building their whole profile.
pub(super) fn satisfaction(ctx: &Ctx, i: usize) -> f64 {
    if ctx.planted(i).is_some() {
        return 2.5;
    }
    Rng::stream(ctx.seed, stream::SATISFACTION, i as u64).normal()
}

pub(super) fn signup_ms(ctx: &Ctx, calendar: &SignupCalendar, i: usize) -> i64 {
    calendar.signup_ms(i, &mut ctx.rng(stream::SIGNUP, i))
}

pub(super) fn make_customer(ctx: &Ctx, calendar: &SignupCalendar, i: usize) -> Customer {
    let signup_ms = signup_ms(ctx, calendar, i);
    let planted = ctx.planted(i);
    let mut r = ctx.rng(stream::PROFILE, i);
    let (country, zone, segment, first_base, last_base) = base_profile(&mut r);
    let (f, l) = (slug(first_base), slug(last_base));
    let email = make_email(&mut r, &f, &l, i, country, segment);
    let secondary_email = r
        .chance(0.08)
        .then(|| format!("{l}.{f}{i}@{}", r.pick(&COMPANY_DOMAINS)));
    let sat = satisfaction(ctx, i);
    let mut x = r.chance(0.3).then(|| Handle {
        name: x_handle(&mut r, &f, &l, i),
        linked: r.chance(0.85),
        followers: followers(&mut r),
    });
    let mut community = r.chance(0.2).then(|| Handle {
        name: community_handle(&mut r, first_base, last_base, i),
        linked: r.chance(0.9),
        followers: 0,
    });
    let educator = community.is_some() && r.chance(if sat > 0.5 { 0.3 } else { 0.1 });
    if let Some(persona) = planted {
        plant_handles(&mut r, persona, &f, &l, i, &mut x, &mut community);
    }
    let mut first = first_base.to_string();
    let mut last = last_base.to_string();
    // Every CRM has a customer whose name breaks naive CSV handling.
    if ctx.customers >= 3 && i == ctx.customers / 3 {
        last = format!("{last_base}, Jr.");
    }
    if ctx.customers >= 3 && i == 2 * ctx.customers / 3 {
        first = format!("{first_base} \"Kit\"");
    }
    Customer {
        index: i,
        id: customer_id(ctx, i),
        first,
        last,
        first_base,
        last_base,
        email_in_crm: crm_spelling(&mut r, &email),
        email,
        secondary_email,
        signup_ms,
        country,
        zone,
        segment,
        lead_source: r.weighted(&LEAD_SOURCES),
        referral_code: String::new(),
        sat,
        x,
        community,
        educator: educator && planted.is_none(),
        planted,
    }
}

/// A planted advocate has exactly the channels its persona needs, linked,
/// and none that would make it match an earlier persona rule.
fn plant_handles(
    r: &mut Rng,
    persona: Persona,
    f: &str,
    l: &str,
    i: usize,
    x: &mut Option<Handle>,
    community: &mut Option<Handle>,
) {
    *x = None;
    *community = None;
    match persona {
        Persona::Educator => {
            *community = Some(Handle {
                name: community_handle(r, f, l, i),
                linked: true,
                followers: 0,
            })
        }
        Persona::StatusSeeker => {
            *x = Some(Handle {
                name: x_handle(r, f, l, i),
                linked: true,
                followers: 20_000 + r.below(60_000),
            })
        }
        Persona::Validator | Persona::Collaborator => {}
    }
}

type BaseProfile = (
    &'static Country,
    Tz,
    &'static str,
    &'static str,
    &'static str,
);

/// The first draws of a customer's profile stream: country, time zone,
/// segment and name.
fn base_profile(r: &mut Rng) -> BaseProfile {
    let country = pick_country(r);
    let zone = r.pick(country.zones);
    let segment = r.weighted(&SEGMENTS);
    let first = r.pick(&FIRST_NAMES);
    let last = r.pick(&LAST_NAMES);
    (country, zone, segment, first, last)
}

/// Salesforce ids grow with creation time (the index) with a hashed gap.
fn customer_id(ctx: &Ctx, i: usize) -> String {
    salesforce_id(1_500_000_000 + i as u64 * 29 + hash64(ctx.seed, 18, i as u64) % 29)
}

/// Customer `j`'s CRM id and referral code, recomputed from its index.
pub(super) fn referrer_identity(ctx: &Ctx, j: usize) -> (String, String) {
    let (_, _, _, first, _) = base_profile(&mut ctx.rng(stream::PROFILE, j));
    (customer_id(ctx, j), referral_code(ctx.seed, first, j))
}

/// A country drawn by population weight (customers and strangers alike).
pub(super) fn pick_country(r: &mut Rng) -> &'static Country {
    let total: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut x = r.unit() * total;
    for c in &COUNTRIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    &COUNTRIES[0]
}

/// Salesforce 18-character ids: 15 case-sensitive characters plus the
/// checksum that makes them case-insensitive, increasing with creation time
/// like real record ids.
pub(super) fn salesforce_id(n: u64) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut id: Vec<u8> = b"0035g000".to_vec();
    let mut body = [b'0'; 7];
    let mut v = n;
    for slot in body.iter_mut().rev() {
        *slot = B62[(v % 62) as usize];
        v /= 62;
    }
    id.extend_from_slice(&body);
    for chunk in 0..3 {
        let bits = (0..5)
            .filter(|k| id[chunk * 5 + k].is_ascii_uppercase())
            .fold(0, |acc, k| acc | (1 << k));
        id.push(SUFFIX[bits]);
    }
    String::from_utf8(id).expect("ascii")
}

/// The code a customer hands out to friends: the first name and the
/// customer's index in base 36, plus two hashed characters.
fn referral_code(seed: u64, first: &str, i: usize) -> String {
    const B36: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut digits = Vec::new();
    let mut v = i;
    while v > 0 || digits.len() < 4 {
        digits.push(B36[v % 36]);
        v /= 36;
    }
    digits.reverse();
    format!(
        "{}{}{}",
        slug(first).to_uppercase(),
        String::from_utf8(digits).expect("ascii"),
        stable_hex(seed, "code", i as u64, 2).to_uppercase()
    )
}

/// Lower-case ASCII for email local parts and handles.
pub(super) fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.to_lowercase().chars() {
        match ch {
            'á' | 'à' | 'â' | 'ä' | 'å' | 'ą' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'ø' => out.push('o'),
            'ú' | 'ù' | 'û' | 'ü' => out.push('u'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// The local part always ends in the customer's index, which makes the
/// address unique without remembering the ones handed out.
fn make_email(r: &mut Rng, f: &str, l: &str, i: usize, country: &Country, segment: &str) -> String {
    let local = match r.below(4) {
        0 => format!("{f}.{l}{i}"),
        1 => format!("{f}{l}{i}"),
        2 => format!("{f}_{l}{i}"),
        _ => format!("{}{l}{i}", &f[..1]),
    };
    let domain = if segment != "Consumer" {
        r.pick(&COMPANY_DOMAINS)
    } else if r.chance(0.2) {
        country.isp_domain
    } else {
        r.weighted(&MAIL_DOMAINS)
    };
    format!("{local}@{domain}")
}

/// An invitee who is not (yet) a customer: no index digits, a random tag.
pub(super) fn stranger_email(r: &mut Rng) -> String {
    let (f, l) = (slug(r.pick(&FIRST_NAMES)), slug(r.pick(&LAST_NAMES)));
    format!(
        "{f}.{l}.{:04x}@{}",
        r.below(1 << 16),
        r.weighted(&MAIL_DOMAINS)
    )
}

/// How people actually typed their email into the CRM: capitals and stray
/// spaces, which the ingest trims and lower-cases before hashing.
fn crm_spelling(r: &mut Rng, email: &str) -> String {
    let mut s = if r.chance(0.15) {
        let mut up = true;
        email
            .chars()
            .map(|c| {
                let out = if up { c.to_ascii_uppercase() } else { c };
                up = matches!(c, '.' | '@' | '_');
                out
            })
            .collect()
    } else {
        email.to_string()
    };
    if r.chance(0.05) {
        s.insert(0, ' ');
    }
    if r.chance(0.05) {
        s.push(' ');
    }
    s
}

/// Letters, cut to fit, then the index in decimal: unique, at most 15
/// characters. Crowd handles put an underscore before their digits, so the
/// two kinds never meet.
fn x_handle(r: &mut Rng, f: &str, l: &str, i: usize) -> String {
    let base = match r.below(4) {
        0 => format!("{f}_{l}"),
        1 => format!("{f}{}", &l[..1]),
        2 => format!("{f}{l}"),
        _ => format!("the{f}{l}"),
    };
    with_digits(&base, "", i, 15)
}

pub(super) fn crowd_x_handle(r: &mut Rng, k: usize) -> String {
    let (f, l) = (slug(r.pick(&FIRST_NAMES)), slug(r.pick(&LAST_NAMES)));
    with_digits(&format!("{f}{l}"), "_", k, 15)
}

fn community_handle(r: &mut Rng, first: &str, last: &str, i: usize) -> String {
    let (f, l) = (slug(first), slug(last));
    let base = match r.below(3) {
        0 => format!("{}{}", capitalise(&f), capitalise(&l)),
        1 => format!("{}{l}", &f[..1]),
        _ => format!("{f}.{}", &l[..1]),
    };
    with_digits(&base, "", i, 20)
}

pub(super) fn crowd_community_handle(r: &mut Rng, k: usize) -> String {
    let (f, l) = (slug(r.pick(&FIRST_NAMES)), slug(r.pick(&LAST_NAMES)));
    with_digits(&format!("{f}.{l}"), "_", k, 20)
}

fn with_digits(base: &str, separator: &str, n: usize, max_len: usize) -> String {
    let digits = n.to_string();
    let keep = max_len.saturating_sub(digits.len() + separator.len());
    let mut cut: String = base.chars().take(keep).collect();
    while cut.ends_with(['_', '.']) {
        cut.pop();
    }
    format!("{cut}{separator}{digits}")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|h| h.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Heavy-tailed reach: most people have a few hundred followers, a few have
/// tens of thousands.
pub(super) fn followers(r: &mut Rng) -> u64 {
    ((180f64.ln() + 1.5 * r.normal()).exp().round() as u64).clamp(3, 2_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_ids_carry_the_case_checksum() {
        let id = salesforce_id(1_500_000_000);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0035g000"));
    }

    #[test]
    fn handles_keep_their_digits_when_cut_to_fit() {
        assert_eq!(
            with_digits("alexander_fernandez", "", 1234567, 15),
            "alexande1234567"
        );
        assert_eq!(with_digits("olivia_", "_", 12, 15), "olivia_12");
        assert_eq!(with_digits("ab", "", 0, 15), "ab0");
    }
}
