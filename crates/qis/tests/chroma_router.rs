//! The Chroma router against a real Chroma server: the whole conformance suite and its faults.
//!
//! `scripts/with-engines` (run by `scripts/test`) starts `chroma run` and sets `QIS_CHROMA_URL`.
//! Without it these tests print a notice and pass.
#![cfg(feature = "chroma")]

use std::sync::Arc;
use std::time::Duration;

use qis::conformance::{
    check_down_is_quick_and_retryable, engine_url, random_address, sample_packet,
};
use qis::packet::now_ms;
use qis::router::{Routed, Router};
use rand::Rng;

fn url(network: &str) -> Option<String> {
    let base = engine_url("QIS_CHROMA_URL", "scripts/with-engines starts chroma run")?;
    Some(format!("{base}/{network}"))
}

async fn make() -> Option<Arc<dyn Router>> {
    let url = url("conformance")?;
    Some(qis::router::url::open(&url).await.unwrap())
}

qis::conformance_tests!(maybe make());

#[tokio::test]
async fn a_server_that_is_down_is_a_quick_retryable_error() {
    check_down_is_quick_and_retryable(
        |port| format!("chroma://127.0.0.1:{port}/down?timeout=2s"),
        "cannot reach",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_that_is_not_qis_is_refused_and_left_alone() {
    let Some(base) = std::env::var("QIS_CHROMA_URL").ok() else {
        eprintln!("skipped: QIS_CHROMA_URL is not set");
        return;
    };
    let network = format!("foreign{:08x}", rand::rng().random::<u32>());
    let http = base.replacen("chroma://", "http://", 1);
    let collections =
        format!("{http}/api/v2/tenants/default_tenant/databases/default_database/collections");
    // A collection someone else made under the name qis would use.
    let status = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(format!(
            r#"{{"name": "qis_{network}", "metadata": {{"owner": "someone else"}}}}"#
        ))
        .arg(&collections)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: curl could not create the foreign collection");
        return;
    }
    let err = qis::router::url::open(&format!("{base}/{network}"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("is not a qis"), "{err}");
    let out = std::process::Command::new("curl")
        .args(["-sf", &format!("{collections}/qis_{network}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("someone else"), "left unchanged: {text}");

    // A network whose vectors have another dimension: refused before anything is written.
    let router = qis::router::url::open(&url("dims-check").unwrap())
        .await
        .unwrap();
    let (a, now) = (random_address(), now_ms());
    let v4 = Routed::with_vector(sample_packet("a", "d", a, now), &[1.0; 4]).unwrap();
    match router.deposit(&[v4]).await {
        Ok(_) | Err(qis::Error::Dimension { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    let held = router.stats().await.unwrap().dimension.unwrap();
    let other = Routed::with_vector(sample_packet("b", "d", a, now), &vec![1.0; held + 1]).unwrap();
    let plain = Routed::new(sample_packet("c", "d", a, now));
    let err = router.deposit(&[plain, other]).await.unwrap_err();
    assert!(matches!(err, qis::Error::Dimension { .. }), "{err:?}");
    let hits = router.query(&qis::router::Query::exact(a)).await.unwrap();
    assert!(
        hits.iter().all(|h| h.packet.agent() == "a"),
        "nothing of the refused batch"
    );
}
