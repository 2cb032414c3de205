//! The detector's cases: each kind valid and invalid, overlaps, masking, non-ASCII text.
use super::*;

fn masked(text: &str) -> String {
    mask(text, &find(text, &Kind::ALL, &[]))
}

/// Each `(text, masked)` pair, with every kind on and no entities.
fn check(cases: &[(&str, &str)]) {
    for (text, want) in cases {
        assert_eq!(masked(text), *want, "in {text:?}");
    }
}

/// Each '|'-separated text is left as it is.
fn untouched(texts: &str) {
    for t in texts.split('|') {
        assert_eq!(masked(t), t);
    }
}

fn hit(start: usize, end: usize, kind: Kind) -> Found {
    Found { start, end, kind }
}

/// An IBAN with its check digits computed here, independently of `iban_valid`.
fn with_check(country: &str, bban: &str) -> String {
    let digits = format!("{bban}{country}00");
    let values = digits.chars().filter_map(|c| c.to_digit(36));
    let rem = values.fold(0, |r, v| (r * if v < 10 { 10 } else { 100 } + v) % 97);
    format!("{country}{:02}{bban}", 98 - rem)
}

#[test]
fn kinds_round_trip_their_names() {
    for k in Kind::ALL {
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    assert_eq!(Kind::from_name("dna"), None);
    let masks = Kind::ALL.map(Kind::mask).concat();
    assert_eq!(masks, "[EMAIL][CARD][IBAN][PHONE][SSN][NINO][IP][ENTITY]");
    let names = Kind::ALL.map(Kind::name).join(" ");
    assert_eq!(names, "email card iban phone ssn nino ip entity");
}

#[test]
fn emails() {
    check(&[
        ("mail bob.smith+x@mail.example.co.uk.", "mail [EMAIL]."),
        ("a@b.io and c@d.fr", "[EMAIL] and [EMAIL]"),
    ]);
    untouched("user@localhost|@home|a@b.1|a@.io");
}

#[test]
fn cards_need_luhn() {
    assert!(luhn("4111 1111 1111 1111") && luhn("79927398713"));
    assert!(!luhn("4111 1111 1111 1112") && !luhn("0") && !luhn(""));
    check(&[
        ("card 4111 1111 1111 1111, ok", "card [CARD], ok"),
        ("4111-1111-1111-1111", "[CARD]"),
        ("378282246310005", "[CARD]"),
    ]);
    // A bad checksum, glued to letters, a double space, a card inside a longer run.
    untouched("4111 1111 1111 1112|x4111111111111111|4111111111111111y|4111  1111 1111 1111");
    untouched("1234567890123|12 4111 1111 1111 1111");
}

#[test]
fn ibans_need_mod_97_and_length() {
    assert!(iban_valid("GB82WEST12345698765432") && iban_valid("gb82west12345698765432"));
    assert!(!iban_valid("GB82WEST12345698765433") && !iban_valid("GB82 WEST"));
    assert_eq!(
        with_check("DE", "370400440532013000"),
        "DE89370400440532013000"
    );
    assert_eq!(with_check("BE", "539007547034"), "BE68539007547034");
    // Good mod 97 at a length Germany does not use; a country not listed may use it.
    assert!(!iban_valid(&with_check("DE", "3704004405320130001")));
    assert!(iban_valid(&with_check("XY", "3704004405320130001")));
    check(&[
        ("IBAN GB82 WEST 1234 5698 7654 32.", "IBAN [IBAN]."),
        ("to DE89 3704 0044 0532 0130 00, ok", "to [IBAN], ok"),
        ("to de89370400440532013000", "to [IBAN]"),
        // Groups run on past the IBAN: the longest prefix that checks is taken.
        ("BE68 5390 0754 7034 1234", "[IBAN] 1234"),
    ]);
    untouched("GB82 WEST 1234 5698 7654 33|XDE89370400440532013000");
    untouched("DE89  3704 0044 0532 0130 00|DE89 3704 0044 0532 0130 00X");
}

#[test]
fn phones_are_international() {
    check(&[
        ("call +44 20 7946 0958 now", "call [PHONE] now"),
        ("+1 (555) 123-4567", "[PHONE]"),
        ("+44 (0)20 7946 0958", "[PHONE]"),
        ("+33.1.23.45.67.89", "[PHONE]"),
    ]);
    // No '+', too short, country code 0, a bracket left open, too long.
    untouched("call 020 7946 0958|+12 345|+0 20 7946 0958|+1 (555 123-4567|+1234567890123456");
}

#[test]
fn ssns_follow_issuing_rules() {
    check(&[("SSN 123-45-6789.", "SSN [SSN].")]);
    untouched("000-12-3456|666-12-3456|900-12-3456|123-00-4567|123-45-0000");
    untouched("123 45 6789|123-45-6789-01|x123-45-6789|1123-45-6789");
}

#[test]
fn ninos_follow_prefix_rules() {
    check(&[("NI AB123456C", "NI [NINO]"), ("AB 12 34 56 C!", "[NINO]!")]);
    check(&[("ab123456d", "[NINO]")]);
    // Q may come neither first nor second: HMRC's own example QQ123456C is no NINO.
    untouched("QQ123456C|DA123456A|AO123456A|GB123456A|ZZ123456A|AB123456E");
    untouched("AB12345C|AB123456CD|AB1234567C");
}

#[test]
fn ipv4s() {
    check(&[
        ("host 192.168.1.10 up", "host [IP] up"),
        ("is 10.0.0.1.", "is [IP]."),
    ]);
    check(&[("0.0.0.0", "[IP]")]);
    untouched("256.1.1.1|01.2.3.4|1.2.3|1.2.3.4.5|v.1.2.3.4|1.2.3.1000");
}

#[test]
fn entities_are_whole_words_any_case() {
    let names = [
        String::from("Acme"),
        String::new(),
        "  ".into(),
        "Blue Fox".into(),
    ];
    let go = |t: &str| mask(t, &find(t, &[], &names));
    let t = "ACME corp, acme's rival; acmeish, Acme2, éacme, acmeé";
    let want = "[ENTITY] corp, [ENTITY]'s rival; acmeish, Acme2, éacme, acmeé";
    assert_eq!(go(t), want);
    assert_eq!(
        go("the blue  fox, the BLUE FOX"),
        "the blue  fox, the [ENTITY]"
    );
    // An occurrence overlapping a rejected one is still seen.
    let spaced = [String::from("a a")];
    assert_eq!(find("xa a a", &[], &spaced), [hit(3, 6, Kind::Entity)]);
}

#[test]
fn only_enabled_kinds() {
    // (A space then digits would continue the card's digit run: a comma ends it.)
    let t = "a@b.io 4111111111111111, 192.168.0.1";
    assert_eq!(
        mask(t, &find(t, &[Kind::Card], &[])),
        "a@b.io [CARD], 192.168.0.1"
    );
    assert!(find(t, &[], &[]).is_empty());
}

#[test]
fn overlaps_keep_the_earlier_then_longer() {
    let names = [String::from("example"), "4111".into()];
    let t = "bob@example.com 4111 1111 1111 1111";
    let found = find(t, &Kind::ALL, &names);
    assert_eq!(found, [hit(0, 15, Kind::Email), hit(16, 35, Kind::Card)]);
    assert_eq!(mask(t, &found), "[EMAIL] [CARD]");
    // The phone (from '+') and the Luhn-valid card (from '4') lose to the e-mail.
    let t = "+4915112345678@example.com";
    assert_eq!(find(t, &Kind::ALL, &[]), [hit(0, t.len(), Kind::Email)]);
    assert_eq!(masked("tel +4915112345678"), "tel [PHONE]");
}

#[test]
fn mask_writes_each_kind_and_skips_bad_ranges() {
    let t = "id AB123456C ip 8.8.8.8 ssn 123-45-6789 tel +33 1 23 45 67 89";
    assert_eq!(masked(t), "id [NINO] ip [IP] ssn [SSN] tel [PHONE]");
    let bad = [
        hit(0, 2, Kind::Card),
        hit(1, 3, Kind::Iban),
        hit(4, 99, Kind::Ipv4),
    ];
    assert_eq!(mask("ab cd", &bad), "[CARD] cd");
    assert_eq!(mask("é", &[hit(1, 2, Kind::Card)]), "é");
}

#[test]
fn non_ascii_text_masks_on_char_boundaries() {
    check(&[
        ("café 4111-1111-1111-1111 ☕", "café [CARD] ☕"),
        ("日本 a@b.jp、+81 3-1234-5678。", "日本 [EMAIL]、[PHONE]。"),
    ]);
    untouched("é4111111111111111|4111111111111111é");
}

#[test]
fn never_panics_on_any_cut() {
    let t = "é+4(4)-2.0 é@é.é a@b.c-- 1.2.3.é DE89 37é AB 12 é 123-45-é ☕4111 1111 11";
    let names = [String::from("é"), "☕4".into()];
    for (i, _) in t.char_indices() {
        for piece in [&t[..i], &t[i..]] {
            mask(piece, &find(piece, &Kind::ALL, &names));
        }
    }
}

#[test]
fn long_inputs_stay_linear() {
    let names = [String::from("a a")];
    for unit in ["1 ", "a@", "+1 ", "1.", "DE89 ", "1-"] {
        assert!(find(&unit.repeat(200_000), &Kind::ALL, &names).is_empty());
    }
    let t = format!("{} 4111111111111111", "a".repeat(500_000));
    let card = hit(500_001, t.len(), Kind::Card);
    assert_eq!(find(&t, &Kind::ALL, &[]), [card]);
}
