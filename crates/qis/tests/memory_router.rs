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

/// Repeated unfiltered queries share one snapshot; it never hides a change: a new deposit, a
/// packet that expires, a limit past the snapshot, a filter.
#[tokio::test]
async fn shared_answers_follow_every_change() {
    use qis::conformance::{random_address, sample_packet};
    use qis::packet::{Packet, now_ms};
    use qis::router::memory::SNAPSHOT_HITS;
    use qis::router::{Filter, Query, Routed};
    let router = MemoryRouter::new();
    let a = random_address();
    let now = now_ms();
    let ids = |hits: &[qis::router::Hit]| hits.iter().map(|h| h.packet.id()).collect::<Vec<_>>();
    let batch: Vec<Routed> = (0..(SNAPSHOT_HITS as u64 + 10))
        .map(|i| Routed::new(sample_packet(&format!("a{i}"), "d", a, now - 10_000 + i)))
        .collect();
    router.deposit(&batch).await.unwrap();
    let newest_first: Vec<_> = batch.iter().rev().map(|r| r.packet.id()).collect();
    for _ in 0..3 {
        let hits = router.query(&Query::exact(a).limit(50)).await.unwrap();
        assert_eq!(ids(&hits), newest_first[..50]);
    }
    // Past the snapshot's size: the whole list, in order.
    let all = router.query(&Query::exact(a).limit(1000)).await.unwrap();
    assert_eq!(ids(&all), newest_first);

    // A new packet shows at once.
    let fresh = sample_packet("b", "d", a, now);
    router.deposit(&[Routed::new(fresh.clone())]).await.unwrap();
    for _ in 0..3 {
        let hits = router.query(&Query::exact(a).limit(5)).await.unwrap();
        assert_eq!(hits[0].packet.id(), fresh.id());
    }

    // A packet in the snapshot that expires is gone once it has.
    let short: Packet = Packet::builder("c", "d", a).ttl_secs(1).build().unwrap();
    router.deposit(&[Routed::new(short.clone())]).await.unwrap();
    for _ in 0..3 {
        let hits = router.query(&Query::exact(a).limit(5)).await.unwrap();
        assert_eq!(hits[0].packet.id(), short.id());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let hits = router.query(&Query::exact(a).limit(5)).await.unwrap();
    assert_eq!(
        hits[0].packet.id(),
        fresh.id(),
        "the expired packet is gone"
    );

    // A filter by domain alone shares the snapshot when every packet there is of that domain,
    // and answers nothing for another domain.
    let in_domain = |domain: &str| {
        let query = Query::exact(a)
            .filter(Filter {
                domain: Some(domain.into()),
                ..Filter::default()
            })
            .limit(5);
        let router = &router;
        async move { router.query(&query).await }
    };
    for _ in 0..3 {
        assert_eq!(in_domain("d").await.unwrap()[0].packet.id(), fresh.id());
        assert!(in_domain("elsewhere").await.unwrap().is_empty());
    }
    // Shared, not copied: two answers are the same memory (unfiltered and by domain alike).
    let (x, y) = (in_domain("d").await.unwrap(), in_domain("d").await.unwrap());
    assert!(std::ptr::eq(x.as_ptr(), y.as_ptr()));
    let unfiltered = router.query(&Query::exact(a).limit(5)).await.unwrap();
    assert!(std::ptr::eq(x.as_ptr(), unfiltered.as_ptr()));
    // Mixed domains at one address: a domain filter keeps only its own.
    let stranger = sample_packet("s", "elsewhere", a, now_ms());
    router
        .deposit(&[Routed::new(stranger.clone())])
        .await
        .unwrap();
    for _ in 0..3 {
        let hits = in_domain("d").await.unwrap();
        assert!(hits.iter().all(|h| h.packet.domain() == "d"));
        let unfiltered = router.query(&Query::exact(a).limit(5)).await.unwrap();
        assert_eq!(unfiltered[0].packet.id(), stranger.id());
    }

    // Other filters never use the snapshot.
    let only_b = Filter {
        exclude_agents: vec!["b".into()],
        ..Filter::default()
    };
    let hits = router
        .query(&Query::exact(a).filter(only_b).limit(3))
        .await
        .unwrap();
    assert!(hits.iter().all(|h| h.packet.agent() != "b"));
}
