//! The Qdrant router against a real Qdrant server: the whole conformance suite.
//!
//! No registry these machines reach carries a Qdrant server, so these tests run only when
//! `QDRANT_URL` names one (`qdrant://127.0.0.1:6334`, the gRPC port); otherwise they print a
//! notice and pass.
#![cfg(feature = "qdrant")]

use std::sync::Arc;
use std::time::Duration;

use qis::conformance::{check_down_is_quick_and_retryable, engine_url};
use qis::router::Router;

async fn make() -> Option<Arc<dyn Router>> {
    let qdrant_url = base()?.replacen("http://", "qdrant://", 1);
    // The suite uses 16-dimensional vectors; a replication factor of 1 suits a single node.
    let url = format!("{qdrant_url}/conformance?dimension=16");
    Some(qis::router::url::open(&url).await.unwrap())
}

qis::conformance_tests!(maybe make());

#[tokio::test]
async fn a_server_that_is_down_is_a_quick_retryable_error() {
    check_down_is_quick_and_retryable(
        |port| format!("qdrant://127.0.0.1:{port}/down?timeout=2s"),
        "",
        Duration::from_secs(8),
    )
    .await;
}

fn base() -> Option<String> {
    let base = engine_url("QDRANT_URL", "no Qdrant server to test against")?;
    Some(
        base.replacen("qdrant://", "http://", 1)
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// What Qdrant says of the collection of network `net`.
async fn collection(
    client: &qdrant_client::Qdrant,
    net: &str,
) -> qdrant_client::qdrant::CollectionInfo {
    client
        .collection_info(format!("qis_{net}"))
        .await
        .unwrap()
        .result
        .unwrap()
}

fn network(what: &str) -> String {
    format!("{what}{:08x}", rand::random::<u32>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_network_is_a_cosine_collection_with_every_payload_index() {
    let Some(http) = base() else { return };
    let net = network("layout");
    let qdrant_url = http.replacen("http://", "qdrant://", 1);
    let qis::router::url::RouterSpec::Qdrant(config) = qis::router::url::parse_url(&format!(
        "{qdrant_url}/{net}?dimension=8&replication=1&write_consistency=1"
    ))
    .unwrap() else {
        panic!("a qdrant:// URL is a Qdrant spec")
    };
    let router = qis::router::qdrant::QdrantRouter::connect(config)
        .await
        .unwrap();
    assert_eq!(router.status().await.unwrap(), "green");
    let client = qdrant_client::Qdrant::from_url(&http).build().unwrap();
    let info = collection(&client, &net).await;
    let mut indexed: Vec<&str> = info.payload_schema.keys().map(String::as_str).collect();
    indexed.sort();
    assert_eq!(
        indexed,
        [
            "address",
            "agent",
            "confidence",
            "created",
            "domain",
            "expires",
            "outcome",
            "tags"
        ]
    );
    let params = info.config.unwrap().params.unwrap();
    assert_eq!(params.replication_factor, Some(1));
    assert_eq!(params.write_consistency_factor, Some(1));
    // Opening the same network with another dimension is refused, and the collection is kept.
    let err = qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=16"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("8-dimensional") && err.to_string().contains("left unchanged"),
        "{err}"
    );
    assert!(
        qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=8"))
            .await
            .is_ok()
    );
    client
        .delete_collection(format!("qis_{net}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_that_is_not_qis_is_refused_and_left_alone() {
    use qdrant_client::qdrant::{CreateCollectionBuilder, Distance, VectorParamsBuilder};
    let Some(http) = base() else { return };
    let net = network("foreign");
    let client = qdrant_client::Qdrant::from_url(&http).build().unwrap();
    client
        .create_collection(
            CreateCollectionBuilder::new(format!("qis_{net}"))
                .vectors_config(VectorParamsBuilder::new(16, Distance::Dot)),
        )
        .await
        .unwrap();
    let qdrant_url = http.replacen("http://", "qdrant://", 1);
    let err = qis::router::url::open(&format!("{qdrant_url}/{net}?dimension=16"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("is not a qis network"), "{err}");
    let info = collection(&client, &net).await;
    assert!(info.payload_schema.is_empty(), "no index was added");
    assert_eq!(info.points_count, Some(0));
    client
        .delete_collection(format!("qis_{net}"))
        .await
        .unwrap();
}
