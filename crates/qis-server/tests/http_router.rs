//! The `http` router against the whole conformance suite: each test starts a real node on a
//! loopback port (in process, through `qis_server::run`) and talks to it over HTTP.

mod common;

use std::sync::Arc;

use qis::conformance::Holding;
use qis::router::embedded::EmbeddedRouter;
use qis::router::http::HttpRouter;
use qis::router::memory::MemoryRouter;
use qis::router::{Query, Routed, Router};
use qis_server::ServerConfig;
use qis_server::auth::Auth;

/// What keeps a node alive for as long as the router that talks to it.
struct NodeGuard {
    _running: common::Running,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for NodeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeGuard")
    }
}

/// An open node (the suite deposits as many agents) over the given router.
async fn remote(backend: Arc<dyn Router>, dir: Option<tempfile::TempDir>) -> Arc<dyn Router> {
    let running = common::serve(backend, ServerConfig::new(Auth::Open)).await;
    let router = HttpRouter::connect(&running.url(), None).await.unwrap();
    Holding::shared(
        Arc::new(router),
        NodeGuard {
            _running: running,
            _dir: dir,
        },
    )
}

mod over_memory {
    use super::*;

    async fn make() -> Arc<dyn Router> {
        remote(Arc::new(MemoryRouter::new()), None).await
    }

    qis::conformance_tests!(make());
}

mod over_embedded {
    use super::*;

    async fn make() -> Arc<dyn Router> {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedRouter::open(dir.path()).await.unwrap();
        remote(Arc::new(store), Some(dir)).await
    }

    qis::conformance_tests!(make());

    /// Everything acknowledged over HTTP is there after the node and its store restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn check_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let store = EmbeddedRouter::open(&path).await.unwrap();
        let running = common::serve(Arc::new(store), ServerConfig::new(Auth::Open)).await;
        let router: Arc<dyn Router> =
            Arc::new(HttpRouter::connect(&running.url(), None).await.unwrap());
        qis::conformance::check_restart(router, |old| async move {
            drop(old);
            // `stop` returns once every connection is closed and the store's last handle is
            // gone, so the directory opens again at once.
            running.stop().await;
            let store = EmbeddedRouter::open(&path).await.unwrap();
            remote(Arc::new(store), None).await
        })
        .await;
        drop(dir);
    }
}

/// The checks isolate themselves, so they also pass one after another on one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_all_on_one_shared_node() {
    qis::conformance::check_all(remote(Arc::new(MemoryRouter::new()), None).await).await;
}

/// The capabilities the client reports are the node's router's.
#[tokio::test]
async fn capabilities_come_from_the_node() {
    let r = remote(Arc::new(MemoryRouter::new()), None).await;
    let caps = r.capabilities();
    assert_eq!(caps.name, "http");
    assert!(caps.vector);
    assert!(!caps.durable);
}

/// A node's URL opens like any other router URL, the token read from the variable the URL names.
#[tokio::test]
async fn a_node_url_opens_through_the_router_urls() {
    use qis::packet::{Address, Packet};
    let running = common::serve(
        Arc::new(MemoryRouter::new()),
        ServerConfig::new(common::tokens()),
    )
    .await;
    // SAFETY (of the test): this variable is only read by this test.
    unsafe { std::env::set_var("QIS_TEST_URL_TOKEN_A", common::TOKEN_A) };
    let url = format!(
        "{}/?token_env=QIS_TEST_URL_TOKEN_A&retries=1",
        running.url()
    );
    let router = qis::router::url::open(&url).await.unwrap();
    assert_eq!(router.capabilities().name, "http");
    let address = Address::from_hex("1dd96c30c27fe860").unwrap();
    let packet = Packet::builder("agent-a", "d", address).build().unwrap();
    let receipts = router.deposit(&[Routed::new(packet)]).await.unwrap();
    assert!(receipts[0].stored);
    assert_eq!(router.query(&Query::exact(address)).await.unwrap().len(), 1);

    let unset = format!("{}?token_env=QIS_TEST_URL_TOKEN_UNSET", running.url());
    let err = qis::router::url::open(&unset)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("QIS_TEST_URL_TOKEN_UNSET"), "{err}");
    let wrong = format!("{}?token_env=QIS_TEST_URL_TOKEN_A&retry=1", running.url());
    let err = qis::router::url::open(&wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("known: network, token_env, timeout, retries"),
        "{err}"
    );
}
