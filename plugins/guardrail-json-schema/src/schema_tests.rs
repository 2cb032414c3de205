use super::*;
use serde_json::json;

/// The error of `value` against `schema`, as shown (`path: problem`).
fn error(schema: Value, value: Value) -> String {
    match validate(&schema, &value) {
        Ok(()) => panic!("{value} passed {schema}"),
        Err(e) => e.to_string(),
    }
}

fn passes(schema: Value, value: Value) -> bool {
    validate(&schema, &value).is_ok()
}

#[test]
fn types_by_name_and_list_and_integers_without_fractions() {
    let int = json!({ "type": "integer" });
    assert!(passes(int.clone(), json!(3)));
    assert!(passes(int.clone(), json!(-3)));
    assert!(passes(int.clone(), json!(3.0)));
    assert!(passes(int.clone(), json!(u64::MAX)));
    assert_eq!(
        error(int.clone(), json!(3.5)),
        "/: expected integer, found number"
    );
    assert_eq!(error(int, json!("3")), "/: expected integer, found string");
    let maybe = json!({ "type": ["string", "null"] });
    assert!(passes(maybe.clone(), json!(null)));
    assert!(passes(maybe.clone(), json!("x")));
    assert_eq!(
        error(maybe, json!(false)),
        "/: expected string or null, found boolean"
    );
    for (name, ok, bad) in [
        ("null", json!(null), json!(0)),
        ("boolean", json!(true), json!("true")),
        ("object", json!({}), json!([])),
        ("array", json!([]), json!({})),
        ("number", json!(1.5), json!("1.5")),
        ("string", json!(""), json!(null)),
    ] {
        assert!(passes(json!({ "type": name }), ok), "{name}");
        assert!(!passes(json!({ "type": name }), bad), "{name}");
    }
    // Schemas without keywords, and `true`, take anything; `false` nothing.
    assert!(passes(json!({}), json!({"a": [1]})));
    assert!(passes(json!(true), json!(null)));
    assert_eq!(error(json!(false), json!(1)), "/: no value is allowed here");
}

#[test]
fn properties_required_and_additional_properties() {
    let person = json!({
        "type": "object",
        "properties": {
            "name": { "type": "string" },
            "age": { "type": "integer", "minimum": 0 }
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    assert!(passes(person.clone(), json!({"name": "Ada", "age": 36})));
    assert_eq!(
        error(person.clone(), json!({"name": "Ada"})),
        "/: property \"age\" is required"
    );
    assert_eq!(
        error(person.clone(), json!({"name": 1, "age": 36})),
        "/name: expected string, found number"
    );
    assert_eq!(
        error(person.clone(), json!({"name": "Ada", "age": -1})),
        "/age: must be at least 0"
    );
    assert_eq!(
        error(person, json!({"name": "Ada", "age": 1, "email": "a@b"})),
        "/: property \"email\" is not allowed"
    );
    // additionalProperties as a schema; patternProperties (unsupported) turns it off.
    let extra = json!({ "properties": { "a": {} }, "additionalProperties": { "type": "number" } });
    assert!(passes(extra.clone(), json!({"a": "x", "b": 2})));
    assert_eq!(
        error(extra, json!({"a": "x", "b": "2"})),
        "/b: expected number, found string"
    );
    let pattern = json!({ "patternProperties": { "^x": {} }, "additionalProperties": false });
    assert!(passes(pattern, json!({"y": 1})));
    // Keys are escaped in paths as JSON pointers.
    let odd = json!({ "additionalProperties": { "type": "string" } });
    assert_eq!(
        error(odd, json!({"a/b~c": 1})),
        "/a~1b~0c: expected string, found number"
    );
    let counts = json!({ "minProperties": 1, "maxProperties": 2 });
    assert!(passes(counts.clone(), json!({"a": 1})));
    assert_eq!(
        error(counts.clone(), json!({})),
        "/: must have at least 1 properties (not 0)"
    );
    assert!(!passes(counts, json!({"a": 1, "b": 2, "c": 3})));
    // Keywords of other kinds do not apply: a string is not checked for properties.
    assert!(passes(json!({ "required": ["a"] }), json!("text")));
}

#[test]
fn items_and_paths_into_arrays() {
    let order = json!({
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": { "name": { "type": "string" } },
                    "required": ["name"]
                },
                "minItems": 1,
                "maxItems": 3
            }
        }
    });
    let bad = json!({"items": [{"name": "a"}, {"name": "b"}, {"name": 3}]});
    let e = validate(&order, &bad).unwrap_err();
    assert_eq!(e.path, "/items/2/name");
    assert_eq!(e.problem, "expected string, found number");
    assert_eq!(
        e.to_string(),
        "/items/2/name: expected string, found number"
    );
    assert_eq!(
        error(order.clone(), json!({"items": []})),
        "/items: must have at least 1 items (not 0)"
    );
    assert_eq!(
        error(order, json!({"items": [{"name": "a"}, {}]})),
        "/items/1: property \"name\" is required"
    );
    // By position: prefixItems (and draft 4's list), then items for the rest.
    let pair =
        json!({ "prefixItems": [{ "type": "string" }, { "type": "integer" }], "items": false });
    assert!(passes(pair.clone(), json!(["a", 1])));
    assert_eq!(
        error(pair.clone(), json!([1, 1])),
        "/0: expected string, found number"
    );
    assert_eq!(
        error(pair, json!(["a", 1, 2])),
        "/2: no value is allowed here"
    );
    let old = json!({ "items": [{ "type": "string" }] });
    assert!(passes(old.clone(), json!(["a", 2, null])));
    assert!(!passes(old, json!([2])));
    let unique = json!({ "uniqueItems": true });
    assert!(passes(
        unique.clone(),
        json!([1, "1", [1], {"a": 1}, {"a": 2}])
    ));
    assert_eq!(
        error(
            unique.clone(),
            json!([{"a": 1, "b": 2}, 3, {"b": 2, "a": 1.0}])
        ),
        "/: items 0 and 2 are equal: the items must be unique"
    );
    assert!(!passes(unique, json!([1, 1.0])));
    assert!(passes(json!({ "uniqueItems": false }), json!([1, 1])));
}

#[test]
fn enum_and_const_compare_by_value() {
    let color = json!({ "enum": ["red", "green", null, 1] });
    assert!(passes(color.clone(), json!("green")));
    assert!(passes(color.clone(), json!(null)));
    assert!(passes(color.clone(), json!(1.0)));
    assert_eq!(
        error(color, json!("blue")),
        "/: must be one of [\"red\",\"green\",null,1]"
    );
    let c = json!({ "const": { "v": [1, 2] } });
    assert!(passes(c.clone(), json!({ "v": [1.0, 2] })));
    assert_eq!(error(c, json!({ "v": [2, 1] })), "/: must be {\"v\":[1,2]}");
    // Long values are cut in messages.
    let long: Vec<String> = (0..50).map(|i| format!("value-{i}")).collect();
    let e = error(json!({ "enum": long }), json!("x"));
    assert!(e.ends_with('…') && e.chars().count() < 120, "{e}");
    // Large integers compare exactly.
    let big = json!({ "const": 9_007_199_254_740_993_u64 });
    assert!(!passes(big.clone(), json!(9_007_199_254_740_992_u64)));
    assert!(passes(big, json!(9_007_199_254_740_993_u64)));
}

#[test]
fn numbers_bounds_and_multiples() {
    let range = json!({ "minimum": 1, "maximum": 10 });
    assert!(passes(range.clone(), json!(1)));
    assert!(passes(range.clone(), json!(10.0)));
    assert_eq!(error(range.clone(), json!(0.5)), "/: must be at least 1");
    assert_eq!(error(range, json!(11)), "/: must be at most 10");
    let open = json!({ "exclusiveMinimum": 0, "exclusiveMaximum": 1.5 });
    assert!(passes(open.clone(), json!(0.1)));
    assert_eq!(error(open.clone(), json!(0)), "/: must be greater than 0");
    assert_eq!(error(open, json!(1.5)), "/: must be less than 1.5");
    // Draft 4's booleans.
    let draft4 =
        json!({ "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": false });
    assert_eq!(error(draft4.clone(), json!(0)), "/: must be greater than 0");
    assert!(passes(draft4, json!(5)));
    let tenths = json!({ "multipleOf": 0.1 });
    assert!(passes(tenths.clone(), json!(0.3)));
    assert!(passes(tenths.clone(), json!(7)));
    assert_eq!(error(tenths, json!(0.35)), "/: must be a multiple of 0.1");
    let even = json!({ "multipleOf": 2 });
    assert!(passes(even.clone(), json!(-4)));
    assert!(passes(even.clone(), json!(i64::MIN)));
    assert!(!passes(even, json!(3)));
    // A multipleOf that is not positive is ignored, as are bounds that are not numbers.
    assert!(passes(json!({ "multipleOf": 0 }), json!(3)));
    assert!(passes(json!({ "minimum": "5" }), json!(3)));
}

#[test]
fn string_lengths_count_characters() {
    let s = json!({ "type": "string", "minLength": 2, "maxLength": 5 });
    assert!(passes(s.clone(), json!("héllo")));
    assert_eq!(
        error(s.clone(), json!("h")),
        "/: must have at least 2 characters (not 1)"
    );
    assert_eq!(
        error(s, json!("héllo!")),
        "/: must have at most 5 characters (not 6)"
    );
    // `pattern` and `format` are not checked.
    assert!(passes(
        json!({ "pattern": "^a+$", "format": "email" }),
        json!("bbb")
    ));
}

#[test]
fn combinators() {
    let any = json!({ "anyOf": [{ "type": "string" }, { "type": "integer" }] });
    assert!(passes(any.clone(), json!(3)));
    assert_eq!(
        error(any, json!(1.5)),
        "/: matches none of the anyOf schemas (one: expected string, found number)"
    );
    // The branch that got furthest into the value names the error.
    let shapes = json!({ "anyOf": [
        {
            "type": "object",
            "properties": { "kind": { "const": "circle" }, "r": { "type": "number" } },
            "required": ["kind", "r"]
        },
        { "type": "string" }
    ] });
    assert_eq!(
        error(shapes, json!({"kind": "circle", "r": "big"})),
        "/r: expected number, found string"
    );
    let one = json!({ "oneOf": [{ "type": "integer" }, { "minimum": 10 }] });
    assert!(passes(one.clone(), json!(3)));
    assert!(passes(one.clone(), json!(10.5)));
    assert_eq!(
        error(one.clone(), json!(12)),
        "/: matches more than one of the oneOf schemas"
    );
    assert!(error(one, json!(2.5)).starts_with("/: matches none of the oneOf schemas"));
    let all = json!({ "allOf": [{ "type": "integer" }, { "maximum": 3 }] });
    assert!(passes(all.clone(), json!(2)));
    assert_eq!(error(all, json!(4)), "/: must be at most 3");
    let not = json!({ "not": { "type": "null" } });
    assert!(passes(not.clone(), json!(0)));
    assert_eq!(
        error(not, json!(null)),
        "/: must not match the schema under \"not\""
    );
}

fn tree() -> Value {
    json!({
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "value": { "type": "integer" },
                    "children": { "type": "array", "items": { "$ref": "#/$defs/node" } }
                },
                "required": ["value"],
                "additionalProperties": false
            }
        },
        "$ref": "#/$defs/node"
    })
}

#[test]
fn refs_resolve_against_the_root_and_recurse() {
    let ok = json!({"value": 1, "children": [
        {"value": 2},
        {"value": 3, "children": [{"value": 4, "children": []}]}
    ]});
    assert!(passes(tree(), ok));
    let bad = json!({"value": 1, "children": [
        {"value": 2, "children": [{"value": 3}, {"value": "4"}]}
    ]});
    assert_eq!(
        error(tree(), bad),
        "/children/0/children/1/value: expected integer, found string"
    );
    // A tree 60 nodes deep (its values 120 deep).
    let mut deep = json!({"value": 0});
    for i in 1..60 {
        deep = json!({"value": i, "children": [deep]});
    }
    assert!(passes(tree(), deep));
    // `definitions`, `#` and a ref beside other keywords.
    let list = json!({
        "definitions": { "n": { "type": "number" } },
        "type": "array",
        "items": { "anyOf": [{ "$ref": "#/definitions/n" }, { "$ref": "#" }] }
    });
    assert!(passes(list.clone(), json!([1, [2, [3]], []])));
    assert_eq!(
        error(list, json!([1, ["x"]])),
        "/1/0: matches none of the anyOf schemas (one: expected number, found string)"
    );
    let both =
        json!({ "$defs": { "s": { "type": "string" } }, "$ref": "#/$defs/s", "maxLength": 2 });
    assert!(!passes(both.clone(), json!(1)));
    assert!(!passes(both, json!("abc")));
    let missing = json!({ "$ref": "#/$defs/nothing" });
    assert_eq!(
        error(missing, json!(1)),
        "/: $ref \"#/$defs/nothing\" does not resolve"
    );
}

#[test]
fn loops_and_depths_are_bounded() {
    let selfish = json!({ "$defs": { "a": { "$ref": "#/$defs/a" } }, "$ref": "#/$defs/a" });
    assert!(error(selfish, json!(1)).contains("followed more than 64 times"));
    let mutual = json!({
        "$defs": { "a": { "$ref": "#/$defs/b" }, "b": { "allOf": [{ "$ref": "#/$defs/a" }] } },
        "$ref": "#/$defs/a"
    });
    assert!(error(mutual, json!(1)).contains("followed more than 64 times"));
    let root = json!({ "anyOf": [{ "$ref": "#" }] });
    assert!(!passes(root, json!(1)));
    // Values nested deeper than 128 levels.
    let arrays = json!({ "type": "array", "items": { "$ref": "#" } });
    let mut v = json!([]);
    for _ in 0..100 {
        v = Value::Array(vec![v]);
    }
    // 100 `$ref`s on the way down, but never more than one in a row.
    assert!(passes(arrays.clone(), v.clone()));
    for _ in 0..100 {
        v = Value::Array(vec![v]);
    }
    assert!(error(arrays, v).contains("nests deeper than 128 levels"));
    // anyOf of anyOfs, 2^40 branches: the work budget ends it.
    let mut defs = Map::new();
    for i in 0..40 {
        let next = json!({ "$ref": format!("#/$defs/d{}", i + 1) });
        defs.insert(format!("d{i}"), json!({ "anyOf": [next.clone(), next] }));
    }
    defs.insert("d40".into(), json!({ "type": "string" }));
    let blowup = json!({ "$defs": defs, "$ref": "#/$defs/d0" });
    assert!(error(blowup, json!(1)).contains("too much work"));
}

#[test]
fn schemas_are_checked_before_use() {
    assert!(check_schema(&tree()).is_ok());
    assert!(check_schema(&json!(true)).is_ok());
    assert!(check_schema(&json!({ "$ref": "#" })).is_ok());
    assert!(check_schema(&json!({ "x-unknown": 1, "pattern": "a" })).is_ok());
    let e =
        check_schema(&json!({ "properties": { "a": { "$ref": "https://example.com/s.json" } } }));
    assert_eq!(
        e.unwrap_err(),
        "/properties/a: $ref \"https://example.com/s.json\" is not local (only \"#/…\" references are followed)"
    );
    let e = check_schema(&json!({ "items": { "anyOf": [{}, { "$ref": "#/$defs/x" }] } }));
    assert_eq!(
        e.unwrap_err(),
        "/items/anyOf/1: $ref \"#/$defs/x\" does not resolve"
    );
    let e = check_schema(&json!({ "$defs": { "x": { "type": "strng" } } }));
    assert_eq!(
        e.unwrap_err(),
        "/$defs/x: type \"strng\" is not a JSON Schema type"
    );
    assert!(check_schema(&json!({ "type": ["string", 1] })).is_err());
    assert!(check_schema(&json!({ "$ref": 1 })).is_err());
    assert!(check_schema(&json!("object")).is_err());
    assert!(check_schema(&json!({ "items": 3 })).is_err());
    assert!(check_schema(&json!({ "prefixItems": [{}, []] })).is_err());
    assert!(check_schema(&json!({ "additionalProperties": false })).is_ok());
}
