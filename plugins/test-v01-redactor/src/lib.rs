//! A redactor built against `switchboard:plugin@0.1.0`, kept as a test fixture: the
//! host must keep loading 0.1.0 components beside 0.2.0 ones. It masks the word
//! `classified` as `[v0.1]` in both directions, so a test can see that it ran.

wit_bindgen::generate!({ world: "redactor", path: "../../wit/v0.1" });

use exports::switchboard::plugin::text_redactor::Guest;
use switchboard::plugin::types::Direction;

struct V01;

impl Guest for V01 {
    fn redact(_dir: Direction, texts: Vec<String>) -> Vec<String> {
        texts
            .into_iter()
            .map(|t| t.replace("classified", "[v0.1]"))
            .collect()
    }
}

export!(V01);
