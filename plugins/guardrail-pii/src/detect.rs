//! Finding personal data in text: e-mail addresses, card numbers (Luhn), IBANs
//! (ISO 13616 mod 97), international phone numbers, US SSNs, UK NINOs, IPv4
//! addresses and configured entity names — and masking what was found.
//!
//! Plain scanners over bytes, no regex engine, so the component stays small. Every
//! pattern is ASCII, so every index a scanner stops at is a char boundary; word
//! boundaries are judged on the neighbouring *char* so "é4111…" is not bounded.
//! Each scanner reads a bounded stretch from each start (the e-mail scan never passes
//! an '@'), so a scan stays linear in the text, which can be megabytes.

use std::cmp::Reverse;

/// One kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Card,
    Iban,
    Phone,
    UsSsn,
    UkNino,
    Ipv4,
    Entity,
}

impl Kind {
    /// Every kind, in the order settings and denials list them.
    pub const ALL: [Kind; 8] = [
        Kind::Email,
        Kind::Card,
        Kind::Iban,
        Kind::Phone,
        Kind::UsSsn,
        Kind::UkNino,
        Kind::Ipv4,
        Kind::Entity,
    ];

    /// The settings name and the mask, kept side by side so they cannot drift apart.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Kind::Email => ("email", "[EMAIL]"),
            Kind::Card => ("card", "[CARD]"),
            Kind::Iban => ("iban", "[IBAN]"),
            Kind::Phone => ("phone", "[PHONE]"),
            Kind::UsSsn => ("ssn", "[SSN]"),
            Kind::UkNino => ("nino", "[NINO]"),
            Kind::Ipv4 => ("ip", "[IP]"),
            Kind::Entity => ("entity", "[ENTITY]"),
        }
    }

    /// The mask written in its place, e.g. "[EMAIL]".
    pub fn mask(self) -> &'static str {
        self.labels().1
    }

    /// The settings name, e.g. "email".
    pub fn name(self) -> &'static str {
        self.labels().0
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A match: byte range in the text and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// A scanner: the end of its kind's match starting at a byte, if one does.
type Scanner = fn(&[u8], usize) -> Option<usize>;

/// Every match of the enabled `kinds` in `text`, plus every case-insensitive
/// whole-word occurrence of the `entities` (searched whenever the list has a
/// non-blank name, whether or not `kinds` holds `Entity`), sorted by start and
/// non-overlapping: the earlier match wins, at the same start the longer.
pub fn find(text: &str, kinds: &[Kind], entities: &[String]) -> Vec<Found> {
    let mut all = Vec::new();
    let on = |k: Kind| kinds.contains(&k);
    let b = text.as_bytes();
    let scanners: [(Kind, Scanner); 6] = [
        (Kind::Card, card_at),
        (Kind::Iban, iban_at),
        (Kind::Phone, phone_at),
        (Kind::UsSsn, ssn_at),
        (Kind::UkNino, nino_at),
        (Kind::Ipv4, ipv4_at),
    ];
    let scanners: Vec<_> = scanners.into_iter().filter(|(k, _)| on(*k)).collect();
    let mut push = |start: usize, end: usize, kind: Kind| all.push(Found { start, end, kind });
    // Each scanner refuses a wrong first byte at once, so trying all at every start is cheap.
    for (i, &c) in b.iter().enumerate() {
        if c == b'@' && on(Kind::Email) {
            if let Some((start, end)) = email_at(b, i) {
                push(start, end, Kind::Email);
            }
        } else if !word_before(text, i) {
            // (A digit right after a digit, or a letter after a letter, never starts one.)
            for &(kind, scan) in &scanners {
                if let Some(end) = scan(b, i).filter(|&e| !word_after(text, e)) {
                    push(i, end, kind);
                }
            }
        }
    }
    entities_in(text, entities, &mut all);
    all.sort_by_key(|f| (f.start, Reverse(f.end), f.kind));
    let mut kept: Vec<Found> = Vec::with_capacity(all.len());
    for f in all {
        if kept.last().is_none_or(|k| f.start >= k.end) {
            kept.push(f);
        }
    }
    kept
}

/// `text` with every match replaced by its kind's mask. Matches out of order,
/// overlapping or off char boundaries are skipped rather than trusted.
pub fn mask(text: &str, found: &[Found]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for f in found {
        if let (Some(head), Some(_)) = (text.get(copied..f.start), text.get(f.start..f.end)) {
            out.push_str(head);
            out.push_str(f.kind.mask());
            copied = f.end;
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// Luhn checksum over the ASCII digits of `digits` (other chars ignored); false for
/// fewer than 2 digits.
pub fn luhn(digits: &str) -> bool {
    luhn_bytes(digits.as_bytes())
}

fn luhn_bytes(digits: &[u8]) -> bool {
    let digits = digits.iter().rev().filter(|c| c.is_ascii_digit());
    // Every second digit from the right doubled, a two-digit product counted by its
    // digits; the sum kept reduced so a run of any length cannot overflow.
    let (sum, n) = digits.fold((0u32, 0usize), |(sum, n), &c| {
        let d = u32::from(c - b'0') * if n % 2 == 1 { 2 } else { 1 };
        ((sum + d / 10 + d % 10) % 10, n + 1)
    });
    n >= 2 && sum == 0
}

/// IBAN lengths by country; a code not listed may have any length in 15..=34.
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"BA", 20), (b"BE", 16),
    (b"BG", 22), (b"BR", 29), (b"CH", 21), (b"CY", 28), (b"CZ", 24), (b"DE", 22),
    (b"DK", 18), (b"EE", 20), (b"ES", 24), (b"FI", 18), (b"FO", 18), (b"FR", 27),
    (b"GB", 22), (b"GI", 23), (b"GL", 18), (b"GR", 27), (b"HR", 21), (b"HU", 28),
    (b"IE", 22), (b"IL", 23), (b"IS", 26), (b"IT", 27), (b"LI", 21), (b"LT", 20),
    (b"LU", 20), (b"LV", 21), (b"MC", 27), (b"MD", 24), (b"ME", 22), (b"MK", 19),
    (b"MT", 31), (b"NL", 18), (b"NO", 15), (b"PL", 28), (b"PT", 25), (b"QA", 29),
    (b"RO", 24), (b"RS", 22), (b"SA", 24), (b"SE", 24), (b"SI", 19), (b"SK", 24),
    (b"SM", 27), (b"TR", 26), (b"UA", 29), (b"VA", 22), (b"XK", 20),
];

/// ISO 13616 check (mod 97 == 1) of a compact IBAN (letters and digits, no spaces,
/// either case), with the country's length where known.
pub fn iban_valid(compact: &str) -> bool {
    iban_bytes_valid(compact.as_bytes())
}

/// Whether `b` starts like an IBAN: a country's two letters, two check digits.
fn iban_head(b: &[u8]) -> bool {
    b.len() >= 4
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
}

fn iban_bytes_valid(b: &[u8]) -> bool {
    if !iban_head(b) || !(15..=34).contains(&b.len()) || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let country = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
    let known = IBAN_LENGTHS.iter().find(|(c, _)| **c == country);
    if known.is_some_and(|(_, len)| *len != b.len()) {
        return false;
    }
    // The country and check digits move to the end; letters count as 10..=35.
    let rem = b[4..].iter().chain(&b[..4]).fold(0u32, |r, &c| {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    rem == 1
}

/// The byte at `i`, or 0 (matching no pattern) past either end.
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// The byte before `i`, or 0 at the start.
fn before(b: &[u8], i: usize) -> u8 {
    i.checked_sub(1).map_or(0, |k| at(b, k))
}

/// Whether a letter or digit of any script ends just before byte `i`.
fn word_before(text: &str, i: usize) -> bool {
    text.get(..i)
        .and_then(|s| s.chars().next_back())
        .is_some_and(char::is_alphanumeric)
}

/// Whether a letter or digit of any script starts at byte `i`.
fn word_after(text: &str, i: usize) -> bool {
    text.get(i..)
        .and_then(|s| s.chars().next())
        .is_some_and(char::is_alphanumeric)
}

/// How many bytes of `class` start at `i`, counting no further than `cap`.
fn run(b: &[u8], i: usize, cap: usize, class: fn(&u8) -> bool) -> usize {
    let rest = b.get(i..).unwrap_or_default();
    rest.iter().take(cap).take_while(|c| class(c)).count()
}

/// The e-mail around the '@' at `i`, as in redact-pii: local part back to the first
/// char that cannot be in one, domain on to the first that cannot, trailing dots
/// and dashes dropped, a dot in the domain and an alphabetic TLD of 2+ letters.
/// Neither scan passes another '@', so all scans together stay linear. No word
/// boundary is asked for: "josé@example.com" still loses its address part.
fn email_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    let mut start = i;
    while local(before(b, start)) {
        start -= 1;
    }
    while start < i && b[start] == b'.' {
        start += 1;
    }
    let mut end = i + 1;
    while domain(at(b, end)) {
        end += 1;
    }
    while end > i + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let dom = &b[i + 1..end];
    let tld = dom.rsplit(|&c| c == b'.').next().unwrap_or_default();
    let ok = start < i
        && dom.first().is_some_and(u8::is_ascii_alphanumeric)
        && dom.contains(&b'.')
        && tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic);
    ok.then_some((start, end))
}

/// A card at `i`: a whole run of 13..=19 digits, a single space or dash allowed
/// between two, passing Luhn. Only a run's first digit starts one: a card is not
/// cut out of a longer number, and no run is read more than once.
fn card_at(b: &[u8], i: usize) -> Option<usize> {
    let inside =
        matches!(before(b, i), b' ' | b'-') && before(b, i.saturating_sub(1)).is_ascii_digit();
    if inside || !at(b, i).is_ascii_digit() {
        return None;
    }
    let (mut j, mut digits, mut end) = (i, 0usize, i);
    loop {
        let c = at(b, j);
        if c.is_ascii_digit() {
            digits += 1;
            if digits > 19 {
                return None;
            }
            j += 1;
            end = j;
        } else if matches!(c, b' ' | b'-') && at(b, j + 1).is_ascii_digit() {
            j += 1;
        } else {
            break;
        }
    }
    ((13..=19).contains(&digits) && luhn_bytes(&b[i..end])).then_some(end)
}

/// An IBAN at `i`: compact ("DE89370400440532013000") or in space-separated groups
/// of four with a shorter last group ("DE89 3704 0044 0532 0130 00"). Grouped, the
/// longest run of groups that checks wins, so "… 0130 00 1234" still finds it.
fn iban_at(b: &[u8], i: usize) -> Option<usize> {
    if !iban_head(b.get(i..)?) {
        return None;
    }
    let first = run(b, i, 35, u8::is_ascii_alphanumeric);
    if first > 4 {
        return iban_bytes_valid(&b[i..i + first]).then_some(i + first);
    }
    // Group ends, longest last; at most eight groups fit in 34 chars.
    let (mut ends, mut j, mut len) = (Vec::new(), i + 4, 4);
    while at(b, j) == b' ' {
        let g = run(b, j + 1, 5, u8::is_ascii_alphanumeric);
        if g == 0 || g > 4 || len + g > 34 {
            break;
        }
        j += 1 + g;
        len += g;
        ends.push(j);
        if g < 4 {
            break;
        }
    }
    ends.into_iter().rev().find(|&end| {
        let compact: Vec<u8> = b[i..end].iter().copied().filter(|&c| c != b' ').collect();
        iban_bytes_valid(&compact)
    })
}

/// A phone at the '+' at `i`: E.164, 8..=15 digits, country code not starting with
/// 0; between digit groups an optional ')', one optional space, dash or dot, and an
/// optional '(' ("+1 (555) 123-4567", "+44 (0)20 7946 0958"); brackets must balance.
/// More than 15 digits is some other number, not a phone with a tail.
fn phone_at(b: &[u8], i: usize) -> Option<usize> {
    if at(b, i) != b'+' || before(b, i) == b'+' {
        return None;
    }
    let mut open = at(b, i + 1) == b'(';
    let mut j = i + 1 + usize::from(open);
    if !matches!(at(b, j), b'1'..=b'9') {
        return None;
    }
    let mut digits = 0;
    loop {
        while at(b, j).is_ascii_digit() {
            digits += 1;
            j += 1;
        }
        if digits > 15 {
            return None;
        }
        let close = open && at(b, j) == b')';
        let mut k = j + usize::from(close);
        k += usize::from(matches!(at(b, k), b' ' | b'-' | b'.'));
        let reopen = (!open || close) && at(b, k) == b'(';
        k += usize::from(reopen);
        if k == j || !at(b, k).is_ascii_digit() {
            break;
        }
        open = (open && !close) || reopen;
        j = k;
    }
    (!open && (8..=15).contains(&digits)).then_some(j)
}

/// A US SSN at `i`: AAA-GG-SSSS, dashes only, with the numbers the SSA never issues
/// (area 000, 666, 9xx; group 00; serial 0000) refused. Not part of a longer
/// dash-joined chain such as "123-45-6789-01".
fn ssn_at(b: &[u8], i: usize) -> Option<usize> {
    let &[a0, a1, a2, b'-', g0, g1, b'-', s0, s1, s2, s3] = b.get(i..i + 11)? else {
        return None;
    };
    let digits = [a0, a1, a2, g0, g1, s0, s1, s2, s3];
    if !digits.iter().all(u8::is_ascii_digit) || before(b, i) == b'-' || at(b, i + 11) == b'-' {
        return None;
    }
    let never = [a0, a1, a2] == *b"000"
        || [a0, a1, a2] == *b"666"
        || a0 == b'9'
        || [g0, g1] == *b"00"
        || [s0, s1, s2, s3] == *b"0000";
    (!never).then_some(i + 11)
}

/// A UK NINO at `i`: two letters, three pairs of digits, a letter A..=D, either case,
/// a single space allowed before each pair and before the letter ("AB 12 34 56 C").
/// The prefix letters follow HMRC's rules, so the "QQ 12 34 56 C" of examples fails.
fn nino_at(b: &[u8], i: usize) -> Option<usize> {
    let p0 = at(b, i).to_ascii_uppercase();
    let p1 = at(b, i + 1).to_ascii_uppercase();
    if !p0.is_ascii_uppercase()
        || !p1.is_ascii_uppercase()
        || b"DFIQUV".contains(&p0)
        || b"DFIOQUV".contains(&p1)
        || [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"].contains(&&[p0, p1])
    {
        return None;
    }
    let mut j = i + 2;
    for _ in 0..3 {
        if at(b, j) == b' ' {
            j += 1;
        }
        if !(at(b, j).is_ascii_digit() && at(b, j + 1).is_ascii_digit()) {
            return None;
        }
        j += 2;
    }
    if at(b, j) == b' ' {
        j += 1;
    }
    matches!(at(b, j).to_ascii_uppercase(), b'A'..=b'D').then_some(j + 1)
}

/// One IPv4 number at `i`: 0..=255, no leading zero; its end.
fn octet(b: &[u8], i: usize) -> Option<usize> {
    let n = run(b, i, 4, u8::is_ascii_digit);
    if n == 0 || n > 3 || (n > 1 && at(b, i) == b'0') {
        return None;
    }
    // Without a leading zero, three digits compare as numbers do as bytes.
    (n < 3 || b[i..i + 3] <= b"255"[..]).then_some(i + n)
}

/// An IPv4 address at `i`. Not inside a longer dotted run ("1.2.3.4.5", "v.1.2.3.4"),
/// but a sentence's closing dot after it is fine ("… is 10.0.0.1.").
fn ipv4_at(b: &[u8], i: usize) -> Option<usize> {
    if before(b, i) == b'.' {
        return None;
    }
    let mut j = octet(b, i)?;
    for _ in 0..3 {
        if at(b, j) != b'.' {
            return None;
        }
        j = octet(b, j + 1)?;
    }
    let more = at(b, j) == b'.' && at(b, j + 1).is_ascii_digit();
    (!more).then_some(j)
}

/// Whole-word, ASCII-case-insensitive occurrences of each non-blank name. The text
/// is lowered once (ASCII only, so byte offsets and char boundaries stay the same)
/// and searched with `str::find`, which is linear.
fn entities_in(text: &str, names: &[String], out: &mut Vec<Found>) {
    let names: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return;
    }
    let lower = text.to_ascii_lowercase();
    for name in &names {
        // After a rejected hit, one char on: "a a" in "xa a a" is found at 3.
        let step = name.chars().next().map_or(1, char::len_utf8);
        let mut from = 0;
        while let Some(p) = lower.get(from..).and_then(|s| s.find(name.as_str())) {
            let (start, end) = (from + p, from + p + name.len());
            if !word_before(text, start) && !word_after(text, end) {
                let kind = Kind::Entity;
                out.push(Found { start, end, kind });
                from = end;
            } else {
                from = start + step;
            }
        }
    }
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
