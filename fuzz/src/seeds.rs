//! Writes the seed corpus (`fuzz/corpus/<target>/`) from the library's own encodings:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin seeds`.

use std::path::Path;

use qis::packet::{Address, Outcome, Packet};
use qis_server::wire::{MsgpackDeposit, MsgpackItem};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let address = Address::from_hex("1dd96c30c27fe860").expect("an address");
    let packets = [
        Packet::builder("site_01", "clinical_trial", address)
            .outcome(Outcome::Resolved)
            .confidence(0.9)
            .result("protocol", "once_weekly")
            .result("hba1c_reduction", 1.19)
            .summary("weekly dosing held HbA1c down")
            .tag("t2d")
            .build(),
        Packet::builder("site_02", "clinical_trial", address)
            .outcome(Outcome::Partial)
            .confidence(0.4)
            .ttl_secs(3_600)
            .result("ok", true)
            .build(),
        Packet::builder("a", "d", address).build(),
    ]
    .map(|p| p.expect("a packet"));
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("a seed");
    };
    for (i, p) in packets.iter().enumerate() {
        write(
            "packet_json",
            &format!("packet{i}.json"),
            p.to_json().as_bytes(),
        );
        write(
            "packet_msgpack",
            &format!("packet{i}.msgpack"),
            &p.to_msgpack(),
        );
        let json: serde_json::Value = serde_json::from_str(&p.to_json()).expect("JSON");
        let one = serde_json::json!({"packet": json, "vector": [0.1, 0.2, 0.3]});
        let batch = serde_json::json!({"packets": [{"packet": json}, {"packet": json}]});
        let mut request = vec![0u8];
        request.extend(serde_json::to_vec(&one).expect("JSON"));
        write("node_requests", &format!("deposit{i}"), &request);
        let mut request = vec![0u8];
        request.extend(serde_json::to_vec(&batch).expect("JSON"));
        write("node_requests", &format!("batch{i}"), &request);
        // A MessagePack deposit: the packet as a binary of its own MessagePack encoding.
        let envelope = MsgpackDeposit {
            packets: Some(vec![MsgpackItem {
                packet: serde_bytes::ByteBuf::from(p.to_msgpack()),
                vector: Some(vec![0.1, 0.2, 0.3]),
            }]),
            ..MsgpackDeposit::default()
        };
        let mut request = vec![1u8];
        request.extend(rmp_serde::to_vec_named(&envelope).expect("MessagePack"));
        write("node_requests", &format!("deposit{i}.msgpack"), &request);
    }
    let query = serde_json::json!({
        "address": address.to_hex(),
        "filter": {"domain": "clinical_trial", "tags_any": ["t2d"], "min_confidence": 0.5,
                   "outcomes": ["resolved"], "exclude_agents": ["site_03"]},
        "limit": 10
    });
    let mut request = vec![2u8];
    request.extend(serde_json::to_vec(&query).expect("JSON"));
    write("node_requests", "query", &request);
    let mut request = vec![3u8];
    request.extend(rmp_serde::to_vec_named(&query).expect("MessagePack"));
    write("node_requests", "query.msgpack", &request);
    let mut request = vec![4u8];
    request.extend(br#"{"agent": "site_01"}"#);
    write("node_requests", "forget", &request);
    let mut request = vec![5u8];
    request.extend(
        serde_json::to_vec(&serde_json::json!({"query": query, "method": "weighted"}))
            .expect("JSON"),
    );
    write("node_requests", "synth", &request);
}
