//! The node's connections on a real socket: a header-read timeout, a connection cap, and a
//! shutdown that returns only once every connection is closed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qis::router::Router;
use qis::router::embedded::EmbeddedRouter;
use qis::router::memory::MemoryRouter;
use qis_server::ServerConfig;
use qis_server::auth::Auth;
use qis_server::config::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(limits: Limits) -> ServerConfig {
    ServerConfig::new(Auth::Open).limits(limits)
}

/// Reads until the peer closes; returns what was read and how long it took.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + within).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((got, start.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: qis\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn slow_and_silent_connections_are_closed_after_the_header_timeout() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        config(Limits::default().header_timeout(Duration::from_millis(300))),
    )
    .await;
    let opened = Instant::now();
    // Sends nothing at all.
    let mut silent = TcpStream::connect(node.addr).await.unwrap();
    // Sends half a request line and stops (slowloris).
    let mut slow = TcpStream::connect(node.addr).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    for stream in [&mut silent, &mut slow] {
        read_to_close(stream, Duration::from_secs(10))
            .await
            .expect("the node closes the connection");
        let took = opened.elapsed();
        assert!(
            took >= Duration::from_millis(250),
            "closed too early: {took:?}"
        );
    }
    // A prompt client is served as usual.
    let mut prompt = TcpStream::connect(node.addr).await.unwrap();
    prompt.write_all(HEALTHZ).await.unwrap();
    let (answer, _) = read_to_close(&mut prompt, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_one() {
    let node = common::serve(
        Arc::new(MemoryRouter::new()),
        config(
            Limits::default()
                .max_connections(2)
                .header_timeout(Duration::from_secs(30)),
        ),
    )
    .await;
    let mut holders = vec![
        TcpStream::connect(node.addr).await.unwrap(),
        TcpStream::connect(node.addr).await.unwrap(),
    ];
    // Both holders are accepted (a request on one is answered), and both stay open.
    holders[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: qis\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = holders[0].read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // A third connection completes the TCP handshake (the kernel's backlog) but is not served
    // while the cap is reached.
    let mut third = TcpStream::connect(node.addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_to_close(&mut third, Duration::from_millis(500))
            .await
            .is_none(),
        "served past the cap"
    );
    // One holder leaves: the third is served.
    drop(holders.pop());
    let (answer, _) = read_to_close(&mut third, Duration::from_secs(10))
        .await
        .expect("served once a connection is free");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_returns_once_the_store_is_released() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = EmbeddedRouter::open(dir.path()).await.unwrap();
        let node = common::serve(Arc::new(store), config(Limits::default())).await;
        // A keep-alive connection that stays open, and a request answered on it.
        let mut idle = TcpStream::connect(node.addr).await.unwrap();
        idle.write_all(b"GET /v1/stats HTTP/1.1\r\nhost: qis\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        node.stop().await;
        // The directory's lock is free at once: no retry needed.
        let reopened = EmbeddedRouter::open(dir.path()).await.unwrap();
        assert_eq!(reopened.stats().await.unwrap().packets, 0);
        drop(reopened);
        // The node closed the idle connection as it stopped.
        assert!(
            read_to_close(&mut idle, Duration::from_secs(5))
                .await
                .is_some()
        );
    }
}
