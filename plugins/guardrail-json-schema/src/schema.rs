//! A small JSON Schema validator over `serde_json` values, with no other dependency:
//! the subset OpenAI's structured outputs use, and a little more.
//!
//! Checked: `type` (a name or a list of names; `integer` is a number without a
//! fractional part), `enum`, `const`, `properties`, `required`, `additionalProperties`
//! (a boolean or a schema), `minProperties`, `maxProperties`, `items` (a schema, or
//! draft 4's list of schemas by position), `prefixItems`, `minItems`, `maxItems`,
//! `uniqueItems`, `minLength` and `maxLength` (in characters), `minimum`, `maximum`,
//! `exclusiveMinimum` and `exclusiveMaximum` (numbers, or draft 4's booleans),
//! `multipleOf`, `anyOf`, `oneOf`, `allOf`, `not`, and `$ref` to a local JSON pointer
//! (`#/$defs/…`, `#/definitions/…`, `#`) resolved against the root schema, beside the
//! keywords next to it. Numbers compare by value (`1` equals `1.0`).
//!
//! Ignored: `pattern` and `patternProperties` (no regular expressions here; an object
//! schema with `patternProperties` does not apply its `additionalProperties`), `format`,
//! every keyword not named above, and keywords whose values have the wrong type.
//!
//! Bounded, so that no schema or value loops or overflows the stack: at most 64
//! `$ref`s followed in a row without going into the value (a schema that refers to
//! itself), values nested at most 128 deep, at most 512 schemas applied within one
//! another, and a budget of work per validation. Each ends it with an error.

use std::fmt;

use serde_json::{Map, Number, Value};

/// `$ref`s followed in a row without going into the value.
const MAX_REFS: u32 = 64;
/// Nesting of the value checked (and of a schema, in [`check_schema`]).
const MAX_DEPTH: u32 = 128;
/// Schemas applied within one another: what bounds the stack.
const MAX_NESTING: u32 = 512;
/// Schemas applied in one validation: what bounds the time (`anyOf` of `anyOf`s…).
const MAX_STEPS: u64 = 1_000_000;

/// Where a value breaks its schema, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// A JSON pointer to the value at fault (`""`: the whole value).
    pub path: String,
    pub problem: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.problem)
    }
}

fn err(path: &str, problem: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Checks `value` against `schema`: the first place it breaks it.
pub fn validate(schema: &Value, value: &Value) -> Result<(), SchemaError> {
    let mut v = Validator {
        root: schema,
        steps: 0,
        nesting: 0,
    };
    let checked = v.check(schema, value, "", 0, 0);
    // Work spent past the budget inside `not` or a failed `anyOf` branch fails too.
    if v.steps > MAX_STEPS {
        return Err(err("", "the value takes too much work to check"));
    }
    checked
}

/// Whether `schema` is one [`validate`] reads: an object or a boolean, whose every
/// `$ref` is local and resolves and whose `type`s are JSON Schema's.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    walk(schema, schema, "", 0)
}

fn walk(root: &Value, schema: &Value, at: &str, depth: u32) -> Result<(), String> {
    let here = if at.is_empty() { "/" } else { at };
    let s = match schema {
        Value::Object(s) => s,
        Value::Bool(_) => return Ok(()),
        _ => return Err(format!("{here}: a schema is a JSON object or a boolean")),
    };
    if depth > MAX_DEPTH {
        return Err(format!(
            "{here}: the schema nests deeper than {MAX_DEPTH} levels"
        ));
    }
    if let Some(r) = s.get("$ref") {
        let Some(r) = r.as_str() else {
            return Err(format!("{here}: $ref is a string"));
        };
        if !r.starts_with('#') {
            return Err(format!(
                "{here}: $ref \"{r}\" is not local (only \"#/…\" references are followed)"
            ));
        }
        if resolve(root, r).is_none() {
            return Err(format!("{here}: $ref \"{r}\" does not resolve"));
        }
    }
    if let Some(t) = s.get("type") {
        let names: Vec<&Value> = match t {
            Value::Array(names) => names.iter().collect(),
            name => vec![name],
        };
        for name in names {
            match name.as_str() {
                Some(n) if KINDS.contains(&n) => {}
                _ => return Err(format!("{here}: type {name} is not a JSON Schema type")),
            }
        }
    }
    let sub = |key: &str| format!("{at}/{}", escape(key));
    for key in ["items", "additionalProperties", "not"] {
        match s.get(key) {
            Some(Value::Array(list)) if key == "items" => {
                for (i, x) in list.iter().enumerate() {
                    walk(root, x, &format!("{at}/items/{i}"), depth + 1)?;
                }
            }
            Some(x) => walk(root, x, &sub(key), depth + 1)?,
            None => {}
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        for (i, x) in s
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(root, x, &format!("{}/{i}", sub(key)), depth + 1)?;
        }
    }
    for key in ["properties", "$defs", "definitions"] {
        for (name, x) in s.get(key).and_then(Value::as_object).into_iter().flatten() {
            walk(
                root,
                x,
                &format!("{}/{}", sub(key), escape(name)),
                depth + 1,
            )?;
        }
    }
    Ok(())
}

const KINDS: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// The schema a local `$ref` names (`#`, `#/$defs/a`, …).
fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    root.pointer(r.strip_prefix('#')?)
}

/// A key as a JSON pointer's segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

struct Validator<'a> {
    root: &'a Value,
    steps: u64,
    nesting: u32,
}

impl Validator<'_> {
    /// `value` (at `path`, `depth` deep) against `schema`, reached by `refs` `$ref`s in a
    /// row.
    fn check(
        &mut self,
        schema: &Value,
        value: &Value,
        path: &str,
        depth: u32,
        refs: u32,
    ) -> Result<(), SchemaError> {
        self.spend(1, path)?;
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                format!("the value nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        if self.nesting >= MAX_NESTING {
            return Err(err(
                path,
                format!("the schema nests deeper than {MAX_NESTING} levels"),
            ));
        }
        self.nesting += 1;
        let checked = self.keywords(schema, value, path, depth, refs);
        self.nesting -= 1;
        checked
    }

    fn spend(&mut self, n: u64, path: &str) -> Result<(), SchemaError> {
        self.steps = self.steps.saturating_add(n);
        match self.steps > MAX_STEPS {
            true => Err(err(path, "the value takes too much work to check")),
            false => Ok(()),
        }
    }

    fn keywords(
        &mut self,
        schema: &Value,
        value: &Value,
        path: &str,
        depth: u32,
        refs: u32,
    ) -> Result<(), SchemaError> {
        let s = match schema {
            Value::Object(s) => s,
            Value::Bool(false) => return Err(err(path, "no value is allowed here")),
            _ => return Ok(()),
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            if refs >= MAX_REFS {
                let p = format!("$ref \"{r}\" is followed more than {MAX_REFS} times in a row");
                return Err(err(path, p));
            }
            let target = resolve(self.root, r)
                .ok_or_else(|| err(path, format!("$ref \"{r}\" does not resolve")))?;
            self.check(target, value, path, depth, refs + 1)?;
        }
        if let Some(t) = s.get("type") {
            let names: Vec<&str> = match t {
                Value::String(n) => vec![n.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !names.is_empty() && !names.iter().any(|n| is_kind(n, value)) {
                let p = format!("expected {}, found {}", names.join(" or "), kind(value));
                return Err(err(path, p));
            }
        }
        if let Some(e) = s.get("enum")
            && let Some(list) = e.as_array()
            && !list.iter().any(|x| same(x, value))
        {
            return Err(err(path, format!("must be one of {}", brief(e))));
        }
        if let Some(c) = s.get("const")
            && !same(c, value)
        {
            return Err(err(path, format!("must be {}", brief(c))));
        }
        match value {
            Value::Number(n) => number(s, n, path)?,
            Value::String(t) => {
                let len = t.chars().count() as u64;
                counted(s, ["minLength", "maxLength"], len, "characters", path)?;
            }
            Value::Array(items) => self.array(s, items, path, depth)?,
            Value::Object(o) => self.object(s, o, path, depth)?,
            _ => {}
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, value, path, depth, refs)?;
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let (n, closest) = self.count(any, value, path, depth, refs, 1);
            if n == 0 {
                return Err(none_matched("anyOf", path, closest));
            }
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            match self.count(one, value, path, depth, refs, 2) {
                (0, closest) => return Err(none_matched("oneOf", path, closest)),
                (1, _) => {}
                _ => return Err(err(path, "matches more than one of the oneOf schemas")),
            }
        }
        if let Some(not) = s.get("not")
            && self.check(not, value, path, depth, refs).is_ok()
        {
            return Err(err(path, "must not match the schema under \"not\""));
        }
        Ok(())
    }

    fn array(
        &mut self,
        s: &Map<String, Value>,
        items: &[Value],
        path: &str,
        depth: u32,
    ) -> Result<(), SchemaError> {
        let prefix = s
            .get("prefixItems")
            .or_else(|| s.get("items").filter(|i| i.is_array()))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let rest = s.get("items").filter(|i| !i.is_array());
        for (i, item) in items.iter().enumerate() {
            if let Some(sub) = prefix.get(i).or(rest) {
                self.check(sub, item, &format!("{path}/{i}"), depth + 1, 0)?;
            }
        }
        let n = items.len() as u64;
        counted(s, ["minItems", "maxItems"], n, "items", path)?;
        if s.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            // Every pair is compared: a pair costs about a sixteenth of a schema.
            self.spend(n * n.saturating_sub(1) / 32, path)?;
            for (i, a) in items.iter().enumerate() {
                if let Some(j) = items[..i].iter().position(|b| same(a, b)) {
                    let p = format!("items {j} and {i} are equal: the items must be unique");
                    return Err(err(path, p));
                }
            }
        }
        Ok(())
    }

    fn object(
        &mut self,
        s: &Map<String, Value>,
        o: &Map<String, Value>,
        path: &str,
        depth: u32,
    ) -> Result<(), SchemaError> {
        let required = s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        if let Some(missing) = required
            .filter_map(Value::as_str)
            .find(|k| !o.contains_key(*k))
        {
            return Err(err(path, format!("property \"{missing}\" is required")));
        }
        let props = s.get("properties").and_then(Value::as_object);
        let extra = match s.contains_key("patternProperties") {
            true => None,
            false => s.get("additionalProperties"),
        };
        for (k, v) in o {
            let sub = match (props.and_then(|p| p.get(k)), extra) {
                (Some(sub), _) => sub,
                (None, Some(Value::Bool(false))) => {
                    return Err(err(path, format!("property \"{k}\" is not allowed")));
                }
                (None, Some(sub)) => sub,
                (None, None) => continue,
            };
            self.check(sub, v, &format!("{path}/{}", escape(k)), depth + 1, 0)?;
        }
        let n = o.len() as u64;
        counted(s, ["minProperties", "maxProperties"], n, "properties", path)
    }

    /// How many of `subs` `value` matches (counting stops at `enough`), and the error
    /// that got deepest into the value among those it does not.
    fn count(
        &mut self,
        subs: &[Value],
        value: &Value,
        path: &str,
        depth: u32,
        refs: u32,
        enough: usize,
    ) -> (usize, Option<SchemaError>) {
        let mut n = 0;
        let mut closest: Option<SchemaError> = None;
        for sub in subs {
            match self.check(sub, value, path, depth, refs) {
                Ok(()) => {
                    n += 1;
                    if n >= enough {
                        break;
                    }
                }
                Err(e) => {
                    if closest.as_ref().is_none_or(|c| e.path.len() > c.path.len()) {
                        closest = Some(e);
                    }
                }
            }
        }
        (n, closest)
    }
}

/// The error of a value that matches none of an `anyOf`'s or `oneOf`'s schemas: the
/// error of the one it got furthest into, when that is inside the value.
fn none_matched(keyword: &str, path: &str, closest: Option<SchemaError>) -> SchemaError {
    match closest {
        Some(c) if c.path.len() > path.len() => c,
        Some(c) => err(
            path,
            format!("matches none of the {keyword} schemas (one: {})", c.problem),
        ),
        None => err(path, format!("matches none of the {keyword} schemas")),
    }
}

/// A count (`n` characters, items, properties) against its `min…` and `max…` keywords.
fn counted(
    s: &Map<String, Value>,
    [min, max]: [&str; 2],
    n: u64,
    what: &str,
    path: &str,
) -> Result<(), SchemaError> {
    if let Some(m) = s.get(min).and_then(Value::as_u64)
        && n < m
    {
        return Err(err(
            path,
            format!("must have at least {m} {what} (not {n})"),
        ));
    }
    if let Some(m) = s.get(max).and_then(Value::as_u64)
        && n > m
    {
        return Err(err(path, format!("must have at most {m} {what} (not {n})")));
    }
    Ok(())
}

fn number(s: &Map<String, Value>, n: &Number, path: &str) -> Result<(), SchemaError> {
    let Some(x) = n.as_f64() else {
        return Ok(());
    };
    // Draft 4: `exclusiveMinimum: true` makes `minimum` exclusive.
    let strict = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
    // (keyword, whether the bound itself is allowed, whether `x` must be above it)
    let rules = [
        ("minimum", !strict("exclusiveMinimum"), true),
        ("maximum", !strict("exclusiveMaximum"), false),
        ("exclusiveMinimum", false, true),
        ("exclusiveMaximum", false, false),
    ];
    for (key, equal, above) in rules {
        let Some(m) = s.get(key).and_then(Value::as_f64) else {
            continue;
        };
        if (x == m && !equal) || (x != m && (x > m) != above) {
            let words = match (above, equal) {
                (true, true) => "at least",
                (true, false) => "greater than",
                (false, true) => "at most",
                (false, false) => "less than",
            };
            return Err(err(path, format!("must be {words} {m}")));
        }
    }
    if let Some(m) = s.get("multipleOf").and_then(Value::as_number)
        && !is_multiple(n, m)
    {
        return Err(err(path, format!("must be a multiple of {m}")));
    }
    Ok(())
}

/// Whether `n` is a multiple of `m` (exactly for integers, within rounding for others;
/// a `multipleOf` that is not positive is ignored).
fn is_multiple(n: &Number, m: &Number) -> bool {
    if let (Some(a), Some(b)) = (n.as_i64(), m.as_i64())
        && b > 0
    {
        return a % b == 0;
    }
    let (Some(x), Some(m)) = (n.as_f64(), m.as_f64()) else {
        return true;
    };
    if m <= 0.0 || !m.is_finite() {
        return true;
    }
    let q = x / m;
    q.is_finite() && (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

fn is_kind(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_number().is_some_and(|n| {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }),
        _ => false,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality, numbers by value (`1` equals `1.0`; integers exactly).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A value as JSON text, cut to about 80 characters.
fn brief(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
