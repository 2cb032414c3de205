//! The first-party plugin components embedded in the binary (`builtin:<name>`),
//! compiled from `plugins/` by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of `builtin:<name>`.
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub fn exists(name: &str) -> bool {
    bytes(name).is_some()
}

pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}
