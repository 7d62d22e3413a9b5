//! The memory router against the whole conformance suite.

use std::sync::Arc;

use qis::router::Router;
use qis::router::memory::MemoryRouter;

async fn make() -> Arc<dyn Router> {
    Arc::new(MemoryRouter::new())
}

qis::conformance_tests!(make());

#[tokio::test]
async fn check_all_on_one_shared_router() {
    // The checks isolate themselves, so they also pass one after another on one router.
    qis::conformance::check_all(make().await).await;
}

#[tokio::test]
async fn stats_count_exactly_on_a_private_router() {
    use qis::conformance::{random_address, sample_packet};
    use qis::packet::now_ms;
    use qis::router::Routed;
    let router = MemoryRouter::new();
    let a = random_address();
    let b = random_address();
    let now = now_ms();
    let mut batch = vec![
        Routed::new(sample_packet("x", "d", a, now)),
        Routed::new(sample_packet("y", "d", b, now)),
    ];
    batch.push(Routed::with_vector(sample_packet("z", "d", b, now), &[1.0, 2.0, 3.0]).unwrap());
    router.deposit(&batch).await.unwrap();
    let stats = router.stats().await.unwrap();
    assert_eq!(
        (
            stats.packets,
            stats.addresses,
            stats.vectors,
            stats.expired,
            stats.dimension
        ),
        (3, 2, 1, 0, Some(3))
    );
    assert_eq!(router.purge_expired().await.unwrap(), 0);
}
