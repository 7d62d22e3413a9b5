//! Live subscriptions over a real socket, and graceful shutdown with a stream open.

mod common;

use std::sync::Arc;
use std::time::Duration;

use qis::conformance::{random_address, sample_packet};
use qis::packet::now_ms;
use qis::router::http::HttpRouter;
use qis::router::memory::MemoryRouter;
use qis::router::{Routed, Router};
use qis_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_packets_at_its_address_as_they_arrive_and_shutdown_ends_the_stream() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let (watched, other) = (random_address(), random_address());
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("{}/v1/addresses/{watched}/events", node.url()))
        .bearer_auth(common::TOKEN_B)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let depositor = HttpRouter::connect(&node.url(), Some(common::TOKEN_A.into()))
        .await
        .unwrap();
    let here = sample_packet("agent-a", "d", watched, now_ms());
    let elsewhere = sample_packet("agent-a", "d", other, now_ms());
    depositor
        .deposit(&[Routed::new(elsewhere.clone()), Routed::new(here.clone())])
        .await
        .unwrap();

    let mut seen = String::new();
    while !seen.contains(&format!("id: {}", here.id())) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream is open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: packet"), "{seen}");
    assert!(
        seen.contains(&format!("\"id\":\"{}\"", here.id())),
        "{seen}"
    );
    assert!(
        !seen.contains(&elsewhere.id().to_string()),
        "only the watched address: {seen}"
    );

    // Graceful shutdown ends the open stream and the server returns.
    tokio::time::timeout(Duration::from_secs(5), node.stop())
        .await
        .expect("shutdown finishes with a stream open");
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

#[tokio::test]
async fn subscribing_needs_a_token_and_a_valid_address() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{}/v1/addresses/{}/events",
            node.url(),
            random_address()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!(
            "{}/v1/addresses/nothex/events?access_token={}",
            node.url(),
            common::TOKEN_A
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], "invalid_field");
}
