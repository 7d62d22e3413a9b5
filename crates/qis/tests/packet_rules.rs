//! The packet's wire rules: round trips, and every bad input refused with the field and the rule.

use proptest::prelude::*;
use qis::Error;
use qis::packet::{Address, MAX_ENCODED_BYTES, Outcome, Packet, PacketId, ResultValue};
use serde_json::{Value, json};

fn address() -> Address {
    Address::from_hex("1dd96c30c27fe860").unwrap()
}

fn valid() -> Packet {
    Packet::builder("site_07", "clinical_trial", address())
        .outcome(Outcome::Resolved)
        .confidence(0.87)
        .result("hba1c_reduction", 1.19)
        .result("protocol", "once_weekly")
        .result("adverse", false)
        .summary("weekly dosing held HbA1c down")
        .tags(["t2d", "glp1"])
        .problem("HbA1c stays high on metformin")
        .ttl_secs(3600)
        .build()
        .unwrap()
}

fn field_of(err: &Error) -> &str {
    match err {
        Error::Invalid { field, .. } => field,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn json_and_msgpack_round_trip() {
    let p = valid();
    assert_eq!(Packet::from_json(&p.to_json()).unwrap(), p);
    let bytes = p.to_msgpack();
    assert_eq!(bytes.len(), p.encoded_len());
    assert!(bytes.len() <= MAX_ENCODED_BYTES);
    assert_eq!(Packet::from_msgpack(&bytes).unwrap(), p);
    // The JSON form people read: hex address, hyphenated id, named outcome.
    let v: Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(v["address"], "1dd96c30c27fe860");
    assert_eq!(v["outcome"], "resolved");
    assert_eq!(v["id"], p.id().to_string());
}

#[test]
fn unknown_fields_are_refused_in_both_encodings() {
    let mut v: Value = serde_json::from_str(&valid().to_json()).unwrap();
    v["raw_context"] = json!({"patient": "x"});
    let err = Packet::from_json(&v.to_string()).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { format: "JSON", message } if message.contains("unknown field `raw_context`")),
        "{err}"
    );

    // A MessagePack packet is a fixmap (0x80 | entries): add one entry, "extra" → 1.
    let mut bytes = valid().to_msgpack();
    assert_eq!(bytes[0] & 0xf0, 0x80, "a packet encodes as a fixmap");
    bytes[0] += 1;
    bytes.extend_from_slice(b"\xa5extra\x01");
    let err = Packet::from_msgpack(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { format: "MessagePack", message } if message.contains("extra")),
        "{err}"
    );
}

/// Every rule, broken one at a time, through JSON decoding: the error names the field.
#[test]
fn each_broken_rule_names_its_field() {
    let base: Value = serde_json::from_str(&valid().to_json()).unwrap();
    let long = "x".repeat(65);
    let v4 = "6f9619ff-8b86-4011-b42d-00c04fc964ff";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("confidence", json!(1.5), "confidence"),
        ("confidence", json!(-0.1), "confidence"),
        ("agent", json!(""), "agent"),
        ("agent", json!(long), "agent"),
        ("agent", json!("a\u{0}b"), "agent"),
        ("domain", json!(""), "domain"),
        ("summary", json!("s".repeat(201)), "summary"),
        (
            "tags",
            json!(["a", "b", "c", "d", "e", "f", "g", "h", "i"]),
            "tags",
        ),
        ("tags", json!([""]), "tags"),
        ("problem", json!("   "), "problem"),
        ("created", json!(0), "created"),
        ("ttl", json!(0), "ttl"),
        ("id", json!(v4), "id"),
        ("derived_from", json!([v4]), "derived_from"),
        ("address", json!("abc"), "address"),
        ("address", json!(""), "address"),
    ];
    for (key, value, field) in cases {
        let mut v = base.clone();
        v[key] = value.clone();
        let err = Packet::from_json(&v.to_string()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(field), "{key}={value}: {text}");
        if let Error::Invalid { .. } = err {
            assert_eq!(field_of(&err), field);
        }
    }
    // Result rules.
    let mut v = base.clone();
    v["result"] = json!(
        (0..17)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<serde_json::Map<_, _>>()
    );
    assert_eq!(
        field_of(&Packet::from_json(&v.to_string()).unwrap_err()),
        "result"
    );
    let mut v = base.clone();
    v["result"] = json!({"nested": {"a": 1}});
    let err = Packet::from_json(&v.to_string()).unwrap_err();
    assert!(
        err.to_string().contains("a number, a string or a bool"),
        "{err}"
    );
    let mut v = base.clone();
    v["outcome"] = json!("won");
    assert!(
        Packet::from_json(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("outcome")
    );
    // Missing required fields.
    for key in [
        "id",
        "agent",
        "domain",
        "address",
        "outcome",
        "confidence",
        "created",
    ] {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(key);
        let err = Packet::from_json(&v.to_string()).unwrap_err();
        assert!(
            err.to_string().contains(&format!("missing field `{key}`")),
            "{key}: {err}"
        );
    }
}

#[test]
fn builder_refuses_non_finite_numbers_and_self_derivation() {
    let b = || Packet::builder("a", "d", address());
    assert_eq!(
        field_of(&b().confidence(f32::NAN).build().unwrap_err()),
        "confidence"
    );
    assert_eq!(
        field_of(&b().result("x", f64::INFINITY).build().unwrap_err()),
        "result.x"
    );
    let id = PacketId::new();
    assert_eq!(
        field_of(&b().id(id).derived_from(vec![id]).build().unwrap_err()),
        "derived_from"
    );
    let other = PacketId::new();
    assert_eq!(
        field_of(&b().derived_from(vec![other, other]).build().unwrap_err()),
        "derived_from"
    );
}

#[test]
fn an_oversized_packet_reports_its_size_and_largest_fields() {
    let err = Packet::builder("a", "d", address())
        .summary("s".repeat(200))
        .problem("p".repeat(300))
        .build()
        .unwrap_err();
    match &err {
        Error::TooLarge {
            size,
            limit,
            largest,
        } => {
            assert!(*size > 512);
            assert_eq!(*limit, 512);
            assert_eq!(largest[0].0, "problem");
            assert_eq!(largest[1].0, "summary");
            assert!(largest[0].1 > 300);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("512-byte budget") && text.contains("problem ("),
        "{text}"
    );
}

#[test]
fn garbage_is_a_decode_error_not_a_panic() {
    for bytes in [
        &b""[..],
        b"\xc1",
        b"\x93\x01\x02\x03",
        b"\x81\xa2id\x01",
        &[0xff; 64],
    ] {
        assert!(matches!(
            Packet::from_msgpack(bytes),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            Packet::from_own_msgpack(bytes),
            Err(Error::Decode { .. })
        ));
    }
    let mut trailing = valid().to_msgpack();
    trailing.push(0xc0);
    let err = Packet::from_msgpack(&trailing).unwrap_err();
    assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    let trailing_json = format!("{} x", valid().to_json());
    assert!(matches!(
        Packet::from_json(&trailing_json),
        Err(Error::Decode { .. })
    ));
    for text in ["", "{", "[]", "null", "{\"id\": 3}"] {
        assert!(
            matches!(Packet::from_json(text), Err(Error::Decode { .. })),
            "{text}"
        );
    }
}

fn arb_value() -> impl Strategy<Value = ResultValue> {
    prop_oneof![
        (-1e9f64..1e9).prop_map(ResultValue::Number),
        "[a-z_]{0,12}".prop_map(ResultValue::Text),
        any::<bool>().prop_map(ResultValue::Bool),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any valid packet survives both encodings unchanged; any packet the builder accepts fits
    /// the size budget.
    #[test]
    fn valid_packets_round_trip(
        agent in "[a-z0-9_]{1,20}",
        domain in "\\PC{1,16}",
        confidence in 0.0f32..=1.0,
        outcome in prop::sample::select(Outcome::ALL.to_vec()),
        result in prop::collection::btree_map("[a-z]{1,10}", arb_value(), 0..6),
        summary in "\\PC{0,60}",
        tags in prop::collection::vec("[a-z]{1,8}", 0..4),
        ttl in prop::option::of(1u64..1_000_000),
        addr in prop::collection::vec(any::<u8>(), 1..=32),
    ) {
        let mut b = Packet::builder(agent, domain, Address::from_bytes(&addr).unwrap())
            .confidence(confidence).outcome(outcome).results(result).summary(summary).tags(tags);
        if let Some(t) = ttl { b = b.ttl_secs(t); }
        match b.build() {
            Ok(p) => {
                prop_assert!(p.to_msgpack().len() <= MAX_ENCODED_BYTES);
                prop_assert_eq!(Packet::from_msgpack(&p.to_msgpack()).unwrap(), p.clone());
                prop_assert_eq!(Packet::from_own_msgpack(&p.to_msgpack()).unwrap(), p.clone());
                prop_assert_eq!(Packet::from_json(&p.to_json()).unwrap(), p);
            }
            Err(Error::TooLarge { size, .. }) => prop_assert!(size > MAX_ENCODED_BYTES),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Arbitrary bytes never panic the decoders.
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::from_msgpack(&bytes);
        let _ = Packet::from_own_msgpack(&bytes);
        let _ = Packet::from_json(&String::from_utf8_lossy(&bytes));
    }
}
