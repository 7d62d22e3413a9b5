//! The embedded router against the whole conformance suite, plus what only a store on disk must do.

use std::sync::Arc;

use qis::conformance::{Holding, random_address, sample_packet};
use qis::packet::now_ms;
use qis::router::embedded::{DATABASE_FILE, EmbeddedOptions, EmbeddedRouter};
use qis::router::{Query, Routed, Router};

async fn make() -> Arc<dyn Router> {
    let dir = tempfile::tempdir().unwrap();
    let router = EmbeddedRouter::open(dir.path()).await.unwrap();
    Holding::shared(Arc::new(router), dir)
}

qis::conformance_tests!(make());

/// The same suite with every vector query on the two-pass (int8 codes, then exact) path, and
/// every packet decoded from SQLite on every read.
mod two_pass {
    use super::*;

    async fn make() -> Arc<dyn Router> {
        let dir = tempfile::tempdir().unwrap();
        // And without the packet cache, so both read paths run the suite.
        let options = EmbeddedOptions::default().exact_below(0).cached_packets(0);
        let router = EmbeddedRouter::open_with(dir.path(), options)
            .await
            .unwrap();
        Holding::shared(Arc::new(router), dir)
    }

    qis::conformance_tests!(make());

    /// Vectors with components uniform in [-1, 1): no clusters, the hardest case.
    fn random_vectors(seed: u64, dim: usize) -> impl FnMut() -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move || (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// The ids of the `k` stored vectors nearest `q`, by brute force.
    fn truth(
        stored: &[(qis::packet::PacketId, Vec<f32>)],
        q: &[f32],
        k: usize,
    ) -> Vec<qis::packet::PacketId> {
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut scored: Vec<(f32, qis::packet::PacketId)> = stored
            .iter()
            .map(|(id, v)| {
                let dot: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
                (dot / (norm(v) * norm(q)), *id)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(k).map(|(_, id)| id).collect()
    }

    /// The recall@10 of `router` against brute force, over `queries`.
    async fn recall(
        router: &EmbeddedRouter,
        stored: &[(qis::packet::PacketId, Vec<f32>)],
        queries: &[Vec<f32>],
    ) -> f64 {
        let (mut found, mut total) = (0, 0);
        for q in queries {
            let truth = truth(stored, q, 10);
            let got: Vec<_> = router
                .query(&Query::nearest(q, 10).unwrap())
                .await
                .unwrap()
                .iter()
                .map(|h| h.packet.id())
                .collect();
            total += truth.len();
            found += got.iter().filter(|id| truth.contains(id)).count();
        }
        found as f64 / total as f64
    }

    async fn deposit_all(
        router: &EmbeddedRouter,
        vectors: impl Iterator<Item = Vec<f32>>,
    ) -> Vec<(qis::packet::PacketId, Vec<f32>)> {
        let (address, now) = (random_address(), now_ms());
        let batch: Vec<Routed> = vectors
            .enumerate()
            .map(|(i, v)| {
                Routed::with_vector(sample_packet(&format!("a{i}"), "d", address, now), &v).unwrap()
            })
            .collect();
        router.deposit(&batch).await.unwrap();
        batch
            .iter()
            .map(|r| (r.packet.id(), r.vector.as_deref().unwrap().to_vec()))
            .collect()
    }

    /// On random vectors (the hardest case: no clusters), a whole scan of the codes, its best
    /// candidates scored again on their vectors, finds the exact top 10 nearly always.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_pass_recall_matches_exact_search() {
        let mut random_vector = random_vectors(3, 64);
        let dir = tempfile::tempdir().unwrap();
        // Never partitioned: every query scans all 3,000 codes.
        let options = EmbeddedOptions::default().exact_below(usize::MAX);
        let router = EmbeddedRouter::open_with(dir.path(), options)
            .await
            .unwrap();
        let stored = deposit_all(&router, (0..3000).map(|_| random_vector())).await;
        let queries: Vec<Vec<f32>> = (0..50).map(|_| random_vector()).collect();
        let recall = recall(&router, &stored, &queries).await;
        assert!(recall >= 0.99, "recall@10 {recall}");
    }

    /// Vectors without clusters are not partitioned (the lists nearest a query would miss most of
    /// its neighbours): the store keeps scanning them whole, and its recall stays that of a
    /// whole scan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vectors_without_clusters_stay_searched_whole() {
        let mut random_vector = random_vectors(11, 64);
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().exact_below(500);
        let router = EmbeddedRouter::open_with(dir.path(), options)
            .await
            .unwrap();
        let stored = deposit_all(&router, (0..6000).map(|_| random_vector())).await;
        router.wait_indexed().await.unwrap();
        let index = router.vector_index();
        assert_eq!(
            (index.domains, index.partitioned, index.declined),
            (1, 0, 1)
        );
        let queries: Vec<Vec<f32>> = (0..40).map(|_| random_vector()).collect();
        let recall = recall(&router, &stored, &queries).await;
        assert!(recall >= 0.99, "recall@10 {recall}");
    }

    /// On clustered vectors, as text embeddings are, the partitioned search (the lists nearest
    /// the query, an eighth of the store here) keeps recall@10 above 0.95, after deposits and
    /// after a restart restores the partition.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partitioned_search_keeps_its_recall_on_clustered_vectors() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let dim = 32;
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let mut near = |c: usize, spread: f32| -> Vec<f32> {
            centres[c]
                .iter()
                .map(|x| x + rng.random_range(-spread..spread))
                .collect()
        };
        let vectors: Vec<Vec<f32>> = (0..8000).map(|i| near(i % 40, 0.4)).collect();
        let queries: Vec<Vec<f32>> = (0..60).map(|i| near(i % 40, 0.4)).collect();
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions::default().exact_below(500);
        let router = EmbeddedRouter::open_with(dir.path(), options.clone())
            .await
            .unwrap();
        let mut stored = deposit_all(&router, vectors.into_iter()).await;
        router.wait_indexed().await.unwrap();
        let index = router.vector_index();
        assert_eq!(
            (index.domains, index.partitioned, index.declined),
            (1, 1, 0)
        );
        let before = recall(&router, &stored, &queries).await;
        assert!(before >= 0.95, "recall@10 {before}");
        // A batch deposited into the partition has its codes placed in its lists (on a second
        // thread for a batch this large), and kept there across the restart.
        let more: Vec<Vec<f32>> = (0..1000).map(|i| near(i % 40, 0.4)).collect();
        stored.extend(deposit_all(&router, more.into_iter()).await);
        router.wait_indexed().await.unwrap();
        let index = router.vector_index();
        assert_eq!(index.partitioned, 1);
        let placed = recall(&router, &stored, &queries).await;
        assert!(placed >= 0.95, "recall@10 after a second batch {placed}");
        // Their lists are in the vectors file, under the partition's generation, so that opening
        // does not place them again.
        let file = rusqlite::Connection::open_with_flags(
            dir.path().join(qis::router::embedded::VECTORS_FILE),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let (rows, placed_rows): (i64, i64) = file
            .query_row(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE c.list IS NOT NULL \
                 AND c.generation = (SELECT MAX(generation) FROM partitions)) \
                 FROM (SELECT list, generation FROM codes ORDER BY seq DESC LIMIT 1000) c",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, placed_rows), (1000, 1000));
        drop(file);
        drop(router);
        let router = EmbeddedRouter::open_with(dir.path(), options)
            .await
            .unwrap();
        // Restored as it opens, not partitioned again in the background.
        assert_eq!(router.vector_index(), index);
        let after = recall(&router, &stored, &queries).await;
        assert!(after >= 0.95, "recall@10 after reopening {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_acknowledged_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let router: Arc<dyn Router> = Arc::new(EmbeddedRouter::open(&path).await.unwrap());
    qis::conformance::check_restart(router, |old| async move {
        drop(old);
        Arc::new(EmbeddedRouter::open(&path).await.unwrap()) as Arc<dyn Router>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_and_their_dimension_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (address, now) = (random_address(), now_ms());
    let a = sample_packet("a", "d", address, now);
    {
        let router = EmbeddedRouter::open(dir.path()).await.unwrap();
        router
            .deposit(&[Routed::with_vector(a.clone(), &[1.0, 0.0, 0.0]).unwrap()])
            .await
            .unwrap();
    }
    let router = EmbeddedRouter::open(dir.path()).await.unwrap();
    let hits = router
        .query(&Query::nearest(&[0.9, 0.1, 0.0], 5).unwrap())
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(*hits[0].packet, a);
    let wrong = Routed::with_vector(sample_packet("b", "d", address, now), &[1.0, 0.0]).unwrap();
    assert!(matches!(
        router.deposit(&[wrong]).await,
        Err(qis::Error::Dimension {
            expected: 3,
            got: 2
        })
    ));
    assert_eq!(router.stats().await.unwrap().dimension, Some(3));
}

#[tokio::test]
async fn a_second_opener_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedRouter::open(dir.path()).await.unwrap();
    let p = sample_packet("a", "d", random_address(), now_ms());
    first.deposit(&[Routed::new(p.clone())]).await.unwrap();
    let err = EmbeddedRouter::open(dir.path()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("in use by another process")
            && text.contains(&std::process::id().to_string()),
        "{text}"
    );
    assert_eq!(
        first
            .query(&Query::exact(*p.address()))
            .await
            .unwrap()
            .len(),
        1
    );
    drop(first);
    // Once the first closes, the store opens again, intact.
    let again = EmbeddedRouter::open(dir.path()).await.unwrap();
    assert_eq!(again.stats().await.unwrap().packets, 1);
}

#[tokio::test]
async fn unusable_directories_and_files_are_clear_errors() {
    // A file where the directory should be.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = EmbeddedRouter::open(&file).await.unwrap_err().to_string();
    assert!(
        err.contains("cannot create the data directory") && err.contains("not-a-dir"),
        "{err}"
    );

    // A database file that is not a database: refused, and left as it was.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DATABASE_FILE);
    let garbage = vec![0x5a_u8; 8192];
    std::fs::write(&db, &garbage).unwrap();
    let err = EmbeddedRouter::open(dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a usable SQLite database") || err.contains("not a database"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "a failed open changes nothing"
    );
}

#[tokio::test]
async fn the_background_purge_removes_expired_packets() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        EmbeddedOptions::default().purge_interval(Some(std::time::Duration::from_millis(50)));
    let router = EmbeddedRouter::open_with(dir.path(), options)
        .await
        .unwrap();
    let now = now_ms();
    let brief = qis::packet::Packet::builder("a", "d", random_address())
        .created(now - 950)
        .ttl_secs(1)
        .build()
        .unwrap();
    router.deposit(&[Routed::new(brief)]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while router.stats().await.unwrap().packets > 0 {
        assert!(std::time::Instant::now() < deadline, "the purge never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A store remembers which embedder made its vectors, across restarts, and refuses another one,
/// whoever asks (here a `Node`); the memory router keeps the same rule while it lives.
#[tokio::test]
async fn a_store_refuses_a_second_embedder() {
    use qis::embed::{Embedder, HashedEmbedder};
    use qis::fingerprint::KeysFingerprint;
    use qis::node::{Node, Observation};
    use qis::packet::Outcome;
    use qis::synth::{Frequency, Options};

    let dir = tempfile::tempdir().unwrap();
    let hashed = HashedEmbedder::default();
    {
        let store = EmbeddedRouter::open(dir.path()).await.unwrap();
        store.bind_embedder(hashed.name()).unwrap();
        store.bind_embedder(hashed.name()).unwrap();
    }
    let store: Arc<dyn Router> = Arc::new(EmbeddedRouter::open(dir.path()).await.unwrap());
    let err = store.bind_embedder("minilm-l6-v2").unwrap_err().to_string();
    assert!(
        err.contains(hashed.name()) && err.contains("hashed"),
        "{err}"
    );

    /// An embedder that claims another model's name.
    #[derive(Debug)]
    struct Other(HashedEmbedder);
    impl Embedder for Other {
        fn name(&self) -> &str {
            "another-model"
        }
        fn dimension(&self) -> usize {
            self.0.dimension()
        }
        fn embed_batch(&self, texts: &[&str]) -> qis::Result<Vec<Vec<f32>>> {
            self.0.embed_batch(texts)
        }
    }
    let node = Node::new(
        "a",
        Arc::new(KeysFingerprint::new()),
        store.clone(),
        Arc::new(Frequency(Options::default())),
    )
    .unwrap()
    .with_embedder(Arc::new(Other(HashedEmbedder::default())));
    let context = serde_json::from_str(r#"{"k": 1}"#).unwrap();
    let observation = Observation::new(Outcome::Resolved, 0.9).problem("a pool runs dry");
    let err = node.deposit("d", &context, observation).await.unwrap_err();
    assert!(err.to_string().contains("another-model"), "{err}");
    assert_eq!(store.stats().await.unwrap().packets, 0, "nothing stored");

    let memory = qis::router::memory::MemoryRouter::new();
    memory.bind_embedder("x").unwrap();
    assert!(memory.bind_embedder("y").is_err());
}

/// A full store (here a quota, which SQLite enforces as it does a full disk: `SQLITE_FULL`)
/// refuses a deposit with `Error::StorageFull`, whole, and goes on answering: everything stored
/// before is there, and the refused batch left nothing.
#[tokio::test]
async fn a_full_store_refuses_a_deposit_whole_with_storage_full_and_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let router = EmbeddedRouter::open_with(
        dir.path(),
        EmbeddedOptions::default().max_bytes(Some(512 * 1024)),
    )
    .await
    .unwrap();
    let address = random_address();
    let mut stored = 0u64;
    let refused = loop {
        let batch: Vec<Routed> = (0..100)
            .map(|i| {
                let p = sample_packet(&format!("agent-{i}"), "full", address, now_ms());
                Routed::with_vector(p, &[i as f32 + 1.0; 64]).unwrap()
            })
            .collect();
        match router.deposit(&batch).await {
            Ok(receipts) => stored += receipts.len() as u64,
            Err(e) => break e,
        }
        assert!(stored < 100_000, "the quota never filled");
    };
    assert!(
        matches!(refused, qis::Error::StorageFull { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("storage is full"), "{refused}");
    assert!(stored > 0);
    assert_eq!(
        router.stats().await.unwrap().packets,
        stored,
        "nothing half-stored"
    );
    let hits = router
        .query(&Query::exact(address).limit(10))
        .await
        .unwrap();
    assert_eq!(hits.len(), 10, "it goes on answering");
}

/// A store written by a qis whose schema was version 1 (each vector in its packet's row; the
/// fixture was made by that qis's CLI: five deposits, four with the hashed embedder's vectors,
/// one of them forgotten) opens as version 2: every packet, vector and tombstone kept, the
/// vectors moved into their own file, and the store usable and reopenable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_store_opens_with_everything_it_held() {
    use qis::embed::{Embedder, HashedEmbedder};
    use qis::router::embedded::VECTORS_FILE;

    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let dir = tempfile::tempdir().unwrap();
    for file in [DATABASE_FILE, "EMBEDDER"] {
        std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
    }
    let forgotten: qis::packet::PacketId = "01a23c85-e474-726d-9894-43b1d2ffd09b".parse().unwrap();
    let embedder = HashedEmbedder::default();
    for round in 0..2 {
        let store = EmbeddedRouter::open(dir.path()).await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!(
            (stats.packets, stats.vectors, stats.addresses),
            (4, 3, 2),
            "round {round}"
        );
        assert_eq!(stats.dimension, Some(384));
        assert!(dir.path().join(VECTORS_FILE).exists());
        // Each vector is the one its problem text was embedded to.
        let v = embedder.embed("maize field under drought stress").unwrap();
        let hits = store.query(&Query::nearest(&v, 1).unwrap()).await.unwrap();
        assert_eq!(hits[0].packet.agent(), "carol");
        assert!((hits[0].score - 1.0).abs() < 1e-4, "{}", hits[0].score);
        let tagged = qis::router::Filter {
            tags_any: vec!["adherence".into()],
            ..Default::default()
        };
        let hits = store
            .query(&Query::nearest(&v, 5).unwrap().filter(tagged))
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "tags are kept for the filters");
        assert_eq!(hits[0].packet.agent(), "alice");
        // Export reads every vector back.
        let (page, _) = store.scan(0, 10).await.unwrap();
        assert_eq!(page.iter().filter(|r| r.vector.is_some()).count(), 3);
        // The tombstone still refuses the forgotten packet's id.
        let again = qis::packet::Packet::builder("dave", "clinical", random_address())
            .id(forgotten)
            .build()
            .unwrap();
        let err = store.deposit(&[Routed::new(again)]).await.unwrap_err();
        assert!(matches!(err, qis::Error::Forgotten { .. }), "{err}");
    }
}
