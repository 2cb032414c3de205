//! What a config error may echo of the file: its snippets and messages with every
//! secret-bearing value masked. A refused reload's answer, log line and audit entry
//! carry the error, and the line it quotes may hold a PostgreSQL URL with its
//! password, a webhook URL whose path is its token, or a header value.

/// Keys whose values are secrets, or may carry one (any URL may embed credentials).
const SECRET_KEYS: &[&str] = &[
    "url",
    "secret",
    "token",
    "password",
    "passwd",
    "key",
    "webhook",
    "dsn",
    "auth",
    "header",
    "cookie",
    "credential",
];

/// `text` with URL credentials and query strings masked everywhere, and the quoted
/// values of secret-bearing keys masked on every line that assigns one.
pub fn masked(text: &str) -> String {
    text.lines()
        .map(|l| urls_masked(&line_masked(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `key = "value"` line (as TOML or a snippet of it shows one) with the value
/// masked when the key is secret-bearing.
fn line_masked(line: &str) -> String {
    let Some(eq) = line.find('=') else {
        return line.to_string();
    };
    let key = line[..eq].to_ascii_lowercase();
    let key = key.rsplit(['|', '{', ',', ' ']).find(|k| !k.is_empty());
    if !key.is_some_and(|k| SECRET_KEYS.iter().any(|s| k.contains(s))) {
        return line.to_string();
    }
    let rest = &line[eq + 1..];
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..=eq]);
    let mut in_string = None;
    for c in rest.chars() {
        match in_string {
            Some(q) if c == q => {
                in_string = None;
                out.push(c);
            }
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                in_string = Some(c);
                out.push(c);
                out.push_str("***");
            }
            None => out.push(c),
        }
    }
    out
}

/// `text` with each URL's user information and query string replaced by `***`.
fn urls_masked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '>'))
            .unwrap_or(tail.len());
        let (url, after) = tail.split_at(end);
        let authority_end = url.find('/').unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***");
                out.push_str(&authority[i..]);
            }
            None => out.push_str(authority),
        }
        match path.find('?') {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?***");
            }
            None => out.push_str(path),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn urls_and_secret_values_are_masked_and_the_rest_is_kept() {
        let snippet = "TOML parse error at line 3, column 60\n  |\n3 | postgres_url = \"postgres://gw:hunter2@db:5432/sb?sslmode=require\" x\n  |                                                            ^\nexpected newline";
        let m = masked(snippet);
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("line 3, column 60"), "{m}");
        assert!(m.contains("expected newline"), "{m}");
        let hook = masked("5 | url = \"https://hooks.example.com/services/T0/B0/s3cr3t\" ]");
        assert!(!hook.contains("s3cr3t"), "{hook}");
        let inline = masked("invalid value postgres://u:pw@h/db?password=pw2 for store");
        assert!(
            !inline.contains("pw@") && !inline.contains("pw2"),
            "{inline}"
        );
        assert!(inline.contains("@h/db"), "{inline}");
        assert_eq!(masked("weight = 3"), "weight = 3");
    }
}
