//! A plain hash of a low-entropy problem is reversed by hashing guesses; a keyed one is not.

use std::collections::HashMap;

use qis::fingerprint::{
    Context, FieldsFingerprint, Fingerprint, KeysFingerprint, RoutingSchema, Secret,
};
use qis::packet::Address;
use serde_json::json;

const DOMAINS: &[&str] = &[
    "clinical_trial",
    "oncology",
    "cardiology",
    "finance",
    "agriculture",
    "ml_training",
    "logistics",
    "retail",
    "security",
    "energy",
];
const KEYS: &[&str] = &[
    "age",
    "sex",
    "condition",
    "intervention_type",
    "dose",
    "site",
    "region",
    "bmi",
    "stage",
    "drug",
    "arm",
    "cohort",
    "asset_class",
    "crop",
    "soil",
    "model",
    "dataset",
    "task",
    "regime",
    "exposure",
];

/// Every domain × every set of up to three keys: ~13,000 guesses.
fn guesses() -> Vec<(String, Context)> {
    let mut out = Vec::new();
    for d in DOMAINS {
        for (i, a) in KEYS.iter().enumerate() {
            for (j, b) in KEYS.iter().enumerate().skip(i) {
                for c in &KEYS[j..] {
                    let mut context = Context::new();
                    for key in [a, b, c] {
                        context.insert(key.to_string(), json!(0));
                    }
                    out.push((d.to_string(), context));
                }
            }
        }
    }
    out
}

fn attack(fp: &dyn Fingerprint, target: Address) -> Option<(String, Vec<String>)> {
    let table: HashMap<Address, (String, Vec<String>)> = guesses()
        .into_iter()
        .map(|(d, c)| {
            (
                fp.address(&d, &c).unwrap(),
                (d, c.keys().cloned().collect()),
            )
        })
        .collect();
    table.get(&target).cloned()
}

fn secret(s: &str) -> Secret {
    Secret::new(s.as_bytes().to_vec()).unwrap()
}

#[test]
fn keys_addresses_are_reversed_by_a_dictionary_unless_keyed() {
    let context: Context =
        serde_json::from_value(json!({"condition": "T2D", "intervention_type": "GLP1"})).unwrap();
    let plain = KeysFingerprint::new()
        .address("clinical_trial", &context)
        .unwrap();
    let recovered = attack(&KeysFingerprint::new(), plain);
    assert_eq!(
        recovered,
        Some((
            "clinical_trial".to_owned(),
            vec!["condition".to_owned(), "intervention_type".to_owned()]
        )),
        "the plain address gives away the domain and the context keys"
    );

    let network = secret("network secret: 4f1c9a7e0b2d8c3f");
    let keyed = KeysFingerprint::keyed(network.clone())
        .address("clinical_trial", &context)
        .unwrap();
    assert_ne!(keyed, plain);
    assert_eq!(
        attack(&KeysFingerprint::new(), keyed),
        None,
        "plain guesses miss"
    );
    let wrong = KeysFingerprint::keyed(secret("a guessed secret, not the one"));
    assert_eq!(
        attack(&wrong, keyed),
        None,
        "guesses under a wrong secret miss"
    );
    // Members of the network (who hold the secret) still meet at the same address.
    assert_eq!(
        KeysFingerprint::keyed(network)
            .address("clinical_trial", &context)
            .unwrap(),
        keyed
    );
}

#[test]
fn fields_addresses_of_low_entropy_values_are_reversed_unless_keyed() {
    let schema = RoutingSchema::from_toml(
        "[[field]]\nname = \"condition\"\nnormalize = \"casefold\"\n\
         [[field]]\nname = \"age\"\nnormalize = \"bucket\"\nwidth = 5\n",
    )
    .unwrap();
    let conditions = [
        "t2d",
        "t1d",
        "hypertension",
        "copd",
        "asthma",
        "ckd",
        "chf",
        "afib",
    ];
    let patient: Context = serde_json::from_value(json!({"condition": "COPD", "age": 67})).unwrap();
    let guess_all = |fp: &FieldsFingerprint, target: Address| {
        for c in conditions {
            for age in 0..120 {
                let ctx: Context =
                    serde_json::from_value(json!({"condition": c, "age": age})).unwrap();
                if fp.address("clinical_trial", &ctx).unwrap() == target {
                    return Some((c, age / 5 * 5));
                }
            }
        }
        None
    };
    let plain_fp = FieldsFingerprint::new(schema.clone());
    let plain = plain_fp.address("clinical_trial", &patient).unwrap();
    assert_eq!(
        guess_all(&plain_fp, plain),
        Some(("copd", 65)),
        "960 guesses reveal condition and age band"
    );

    let keyed = FieldsFingerprint::keyed(schema, secret("0123456789abcdef-network"))
        .address("clinical_trial", &patient)
        .unwrap();
    assert_eq!(guess_all(&plain_fp, keyed), None);
}
