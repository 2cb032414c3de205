//! Gemini's thought signatures through OpenAI's format. Gemini 3 models sign each
//! function call they make and want the signature back on that call in the next
//! turn; OpenAI's format has no field for it, but it carries the tool call's id to
//! the client and back unchanged. So the signature rides in the id:
//! `<id>.sig.<signature>`.

const MARK: &str = ".sig.";

/// The id a client sees for call `id` signed with `sig`.
pub fn attach(id: &str, sig: Option<&str>) -> String {
    match sig {
        Some(s) if !s.is_empty() => format!("{id}{MARK}{s}"),
        _ => id.to_string(),
    }
}

/// The signature a client's tool call id carries, if any.
pub fn of(id: &str) -> Option<&str> {
    id.split_once(MARK)
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_rides_in_the_id_and_back() {
        let id = attach("call_1", Some("c2lnbmF0dXJl+/="));
        assert_eq!(of(&id), Some("c2lnbmF0dXJl+/="));
        assert_eq!(attach("call_1", None), "call_1");
        assert_eq!(of("call_1"), None);
    }
}
