//! Store conformance: archival-memory passages and similarity search, on the three vector
//! paths — SQLite (exact scan), Postgres without pgvector (exact scan) and Postgres with
//! pgvector (HNSW indexes; the server `scripts/pgvector.sh` starts).

use std::sync::Arc;

use letta_rs::schemas::message::MessageRole;
use letta_rs::schemas::new_id;
use letta_rs::schemas::passage::Passage;
use letta_rs::store::postgres::PgStore;
use letta_rs::store::{DynStore, PassageFilter, ScoredPassage, StoreError};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::helpers::{self, Backend};
use crate::store_fixtures::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Sqlite,
    Postgres,
    PgVector,
}

/// A fresh organization on one of the three stores.
pub struct Ctx {
    pub path: Path,
    pub store: DynStore,
    /// The same store as its concrete type on the Postgres paths.
    pub pg: Option<Arc<PgStore>>,
    pub org_id: String,
}

impl Ctx {
    pub async fn new(path: Path) -> Ctx {
        let (store, pg): (DynStore, Option<Arc<PgStore>>) = match path {
            Path::Sqlite => (helpers::open_store(Backend::Sqlite).await, None),
            Path::Postgres => (helpers::open_store(Backend::Postgres).await, None),
            Path::PgVector => {
                let pg = helpers::open_pgvector_store().await;
                (pg.clone(), Some(pg))
            }
        };
        let (org, _) = helpers::new_org_and_user(&store).await;
        Ctx {
            path,
            store,
            pg,
            org_id: org.id,
        }
    }
}

/// Runs a test body on each vector path: `passage_test!(name, |ctx: Ctx| async move { … });`.
macro_rules! passage_test {
    ($name:ident, $body:expr) => {
        async fn $name(ctx: Ctx) {
            ($body)(ctx).await;
        }

        mod $name {
            use super::{Ctx, Path};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Ctx::new(Path::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Ctx::new(Path::Postgres).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pgvector() {
                super::$name(Ctx::new(Path::PgVector).await).await;
            }
        }
    };
}

fn passage(org: &str, agent: &str, text: &str, embedding: Option<Vec<f32>>, secs: i64) -> Passage {
    Passage {
        created_by_id: Some("user-creator".to_owned()),
        last_updated_by_id: None,
        created_at: ts(secs),
        updated_at: Some(ts(secs)),
        is_deleted: false,
        organization_id: Some(org.to_owned()),
        agent_id: Some(agent.to_owned()),
        source_id: None,
        file_id: None,
        file_name: None,
        metadata: Some(serde_json::Map::new()),
        id: new_id("passage"),
        text: text.to_owned(),
        embedding,
        embedding_config: Some(embedding_config()),
    }
}

fn ids(passages: &[Passage]) -> Vec<String> {
    passages.iter().map(|p| p.id.clone()).collect()
}

fn scored_ids(found: &[ScoredPassage]) -> Vec<String> {
    found.iter().map(|s| s.passage.id.clone()).collect()
}

async fn list(ctx: &Ctx, agent: &str, filter: PassageFilter) -> Vec<String> {
    ids(&ctx
        .store
        .list_passages(&ctx.org_id, agent, &filter)
        .await
        .unwrap())
}

async fn search(ctx: &Ctx, agent: &str, query: &[f32], offset: i64, limit: i64) -> Vec<String> {
    scored_ids(
        &ctx.store
            .search_passages(&ctx.org_id, agent, query, offset, limit)
            .await
            .unwrap(),
    )
}

/// A unit vector along axis `i` of `dim`, tilted towards axis `j` by `tilt`.
fn axis(dim: usize, i: usize, j: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i] = 1.0;
    v[j] += tilt;
    v
}

/// `n` random unit vectors of `dim` dimensions from a fixed seed.
fn random_unit_vectors(seed: u64, n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| rng.r#gen::<f32>() * 2.0 - 1.0).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Cosine distance computed independently of the stores, in f64.
fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (na * nb)
}

passage_test!(insert_and_get_round_trip, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let mut full = passage(
        &ctx.org_id,
        &agent.id,
        "The cat sat on the mat",
        Some(vec![0.25, -1.5, 3.0e-8, 7.0]),
        1,
    );
    full.metadata = Some(json!({"tag": "pets", "n": 2}).as_object().unwrap().clone());
    full.source_id = Some("source-1".to_owned());
    full.file_id = Some("file-1".to_owned());
    full.file_name = Some("notes.txt".to_owned());
    full.last_updated_by_id = Some("user-editor".to_owned());
    let mut bare = passage(&ctx.org_id, &agent.id, "no vector here", None, 2);
    bare.metadata = None;
    bare.embedding_config = None;
    bare.updated_at = None;
    bare.created_by_id = None;
    let mut empty = passage(&ctx.org_id, &agent.id, "empty vector", Some(Vec::new()), 3);
    empty.is_deleted = true;
    ctx.store
        .insert_passages(&[full.clone(), bare.clone(), empty.clone()])
        .await
        .unwrap();
    ctx.store.insert_passages(&[]).await.unwrap();

    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &full.id).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &bare.id).await.unwrap(),
        Some(bare.clone())
    );
    // An empty embedding is stored as none.
    let mut expected_empty = empty.clone();
    expected_empty.embedding = None;
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &empty.id).await.unwrap(),
        Some(expected_empty)
    );
    assert_eq!(
        ctx.store
            .get_passage(&ctx.org_id, "passage-missing")
            .await
            .unwrap(),
        None
    );
    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 3);
});

passage_test!(insert_is_all_or_nothing, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let first = passage(
        &ctx.org_id,
        &agent.id,
        "first",
        Some(vec![1.0, 0.0, 0.0]),
        1,
    );
    ctx.store
        .insert_passages(std::slice::from_ref(&first))
        .await
        .unwrap();

    // A duplicate id at the end of a batch: nothing of the batch is written.
    let a = passage(&ctx.org_id, &agent.id, "a", Some(vec![0.0, 1.0, 0.0]), 2);
    let b = passage(&ctx.org_id, &agent.id, "b", Some(vec![0.0, 0.0, 1.0]), 3);
    let mut dup = passage(&ctx.org_id, &agent.id, "dup", Some(vec![1.0, 1.0, 0.0]), 4);
    dup.id = first.id.clone();
    let err = ctx
        .store
        .insert_passages(&[a.clone(), b.clone(), dup])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "{err:?}");

    // A batch larger than one INSERT statement whose last row is bad.
    let mut many: Vec<Passage> = (0..450)
        .map(|n| {
            passage(
                &ctx.org_id,
                &agent.id,
                &format!("bulk {n}"),
                Some(vec![1.0, n as f32, 0.0]),
                10 + n,
            )
        })
        .collect();
    many.last_mut().unwrap().id = first.id.clone();
    assert!(matches!(
        ctx.store.insert_passages(&many).await,
        Err(StoreError::Unique(_))
    ));

    // Rejected before writing: a non-finite value, no owner, an unknown agent.
    let bad_value = passage(
        &ctx.org_id,
        &agent.id,
        "nan",
        Some(vec![f32::NAN, 1.0, 0.0]),
        5,
    );
    let err = ctx
        .store
        .insert_passages(&[a.clone(), bad_value])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    let mut no_agent = passage(&ctx.org_id, &agent.id, "orphan", None, 5);
    no_agent.agent_id = None;
    let err = ctx
        .store
        .insert_passages(&[a.clone(), no_agent])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    let unknown_agent = passage(&ctx.org_id, "agent-missing", "lost", None, 5);
    let err = ctx
        .store
        .insert_passages(&[a.clone(), unknown_agent])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignKey(_)), "{err:?}");

    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 1);
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &a.id).await.unwrap(),
        None
    );
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &b.id).await.unwrap(),
        None
    );
    assert_eq!(
        ctx.store
            .get_passage(&ctx.org_id, &first.id)
            .await
            .unwrap()
            .unwrap()
            .text,
        "first"
    );

    // The whole large batch goes in when it is valid.
    many.last_mut().unwrap().id = new_id("passage");
    ctx.store.insert_passages(&many).await.unwrap();
    assert_eq!(
        ctx.store.count_agent_passages(&agent.id).await.unwrap(),
        451
    );
});

passage_test!(list_filters_cursors_and_order, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let other = make_agent(&ctx.store, &ctx.org_id, "other", 1).await;
    let texts = [
        "Alpha one",
        "beta TWO",
        "gamma one",
        "delta 100%",
        "EPSILON one",
    ];
    let mut rows: Vec<Passage> = texts
        .iter()
        .enumerate()
        .map(|(n, t)| passage(&ctx.org_id, &agent.id, t, None, n as i64 + 1))
        .collect();
    // Two rows at the same instant: ordered by id.
    let mut tie_a = passage(&ctx.org_id, &agent.id, "tie one", None, 3);
    let mut tie_b = passage(&ctx.org_id, &agent.id, "tie two", None, 3);
    tie_a.id = format!("passage-00000000-tie-a-{}", &rows[0].id[8..16]);
    tie_b.id = format!("passage-00000000-tie-b-{}", &rows[0].id[8..16]);
    rows.push(tie_b.clone());
    rows.push(tie_a.clone());
    ctx.store.insert_passages(&rows).await.unwrap();
    ctx.store
        .insert_passages(&[passage(&ctx.org_id, &other.id, "Alpha elsewhere", None, 2)])
        .await
        .unwrap();

    // (created_at, id) order: 1, 2, 3 (gamma, tie-a, tie-b by id), 4, 5.
    let mut at3 = vec![rows[2].id.clone(), tie_a.id.clone(), tie_b.id.clone()];
    at3.sort();
    let mut asc = vec![rows[0].id.clone(), rows[1].id.clone()];
    asc.extend(at3);
    asc.push(rows[3].id.clone());
    asc.push(rows[4].id.clone());
    let desc: Vec<String> = asc.iter().rev().cloned().collect();

    let f = |after: Option<&str>, before: Option<&str>, limit: Option<i64>, ascending: bool| {
        PassageFilter {
            after: after.map(str::to_owned),
            before: before.map(str::to_owned),
            limit,
            text_contains: None,
            ascending,
        }
    };
    assert_eq!(list(&ctx, &agent.id, f(None, None, None, true)).await, asc);
    assert_eq!(
        list(&ctx, &agent.id, f(None, None, None, false)).await,
        desc
    );
    assert_eq!(
        list(&ctx, &agent.id, f(None, None, Some(2), true)).await,
        asc[..2]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(None, None, Some(2), false)).await,
        desc[..2]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(None, None, Some(0), true)).await,
        Vec::<String>::new()
    );
    // Cursors are positions in (created_at, id) order whatever the direction.
    assert_eq!(
        list(&ctx, &agent.id, f(Some(&asc[2]), None, None, true)).await,
        asc[3..]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(Some(&asc[2]), None, None, false)).await,
        desc[..4]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(None, Some(&asc[3]), None, true)).await,
        asc[..3]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(None, Some(&asc[3]), Some(2), false)).await,
        vec![asc[2].clone(), asc[1].clone()]
    );
    assert_eq!(
        list(&ctx, &agent.id, f(Some(&asc[0]), Some(&asc[4]), None, true)).await,
        asc[1..4]
    );
    // Unknown cursors, and cursors of another agent, yield nothing.
    assert!(
        list(
            &ctx,
            &agent.id,
            f(Some("passage-missing"), None, None, true)
        )
        .await
        .is_empty()
    );
    assert!(
        list(
            &ctx,
            &agent.id,
            f(None, Some("passage-missing"), None, false)
        )
        .await
        .is_empty()
    );
    let foreign = list(&ctx, &other.id, f(None, None, None, true)).await;
    assert_eq!(foreign.len(), 1);
    assert!(
        list(&ctx, &agent.id, f(Some(&foreign[0]), None, None, true))
            .await
            .is_empty()
    );

    // Case-insensitive substring; `%` and `_` are literal.
    let text = |t: &str, ascending: bool| PassageFilter {
        text_contains: Some(t.to_owned()),
        ascending,
        ..PassageFilter::default()
    };
    // The rows of `order` that are among `wanted`, in that order.
    let only = |order: &[String], wanted: &[&String]| -> Vec<String> {
        order
            .iter()
            .filter(|id| wanted.contains(id))
            .cloned()
            .collect()
    };
    let ones = [&rows[0].id, &rows[2].id, &tie_a.id, &rows[4].id];
    assert_eq!(
        list(&ctx, &agent.id, text("ONE", true)).await,
        only(&asc, &ones)
    );
    assert_eq!(
        list(&ctx, &agent.id, text("one", false)).await,
        only(&desc, &ones)
    );
    assert_eq!(
        list(&ctx, &agent.id, text("two", false)).await,
        only(&desc, &[&rows[1].id, &tie_b.id])
    );
    assert_eq!(
        list(&ctx, &agent.id, text("100%", true)).await,
        vec![rows[3].id.clone()]
    );
    assert!(list(&ctx, &agent.id, text("1_0", true)).await.is_empty());
    assert!(list(&ctx, &agent.id, text("%", true)).await.len() == 1);
    assert!(
        list(&ctx, &agent.id, text("elsewhere", true))
            .await
            .is_empty()
    );
    let combined = PassageFilter {
        after: Some(asc[0].clone()),
        limit: Some(1),
        text_contains: Some("one".to_owned()),
        ascending: true,
        ..PassageFilter::default()
    };
    assert_eq!(
        list(&ctx, &agent.id, combined).await,
        vec![rows[2].id.clone().min(tie_a.id.clone())]
    );
    // Unknown agent: nothing.
    assert!(
        list(&ctx, "agent-missing", f(None, None, None, true))
            .await
            .is_empty()
    );
});

passage_test!(search_ranks_nearest_first, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let other = make_agent(&ctx.store, &ctx.org_id, "other", 1).await;
    let dim = 6;
    // Increasing angle from axis 0.
    let near = passage(
        &ctx.org_id,
        &agent.id,
        "near",
        Some(axis(dim, 0, 1, 0.1)),
        1,
    );
    let mid = passage(&ctx.org_id, &agent.id, "mid", Some(axis(dim, 0, 1, 1.0)), 2);
    let far = passage(&ctx.org_id, &agent.id, "far", Some(axis(dim, 1, 0, 0.2)), 3);
    let opposite = passage(
        &ctx.org_id,
        &agent.id,
        "opposite",
        Some(axis(dim, 0, 0, -2.0)),
        4,
    );
    // Same direction as `near`, twice as long (exactly: a power of two): the same distance,
    // so (created_at, id) decides.
    let near_twin = passage(
        &ctx.org_id,
        &agent.id,
        "near twin",
        Some(axis(dim, 0, 1, 0.1).iter().map(|v| v * 2.0).collect()),
        0,
    );
    let zero = passage(&ctx.org_id, &agent.id, "zero", Some(vec![0.0; dim]), 5);
    let no_vector = passage(&ctx.org_id, &agent.id, "no vector", None, 6);
    let other_dim = passage(
        &ctx.org_id,
        &agent.id,
        "other dim",
        Some(axis(dim + 2, 0, 1, 0.0)),
        7,
    );
    let other_agent = passage(
        &ctx.org_id,
        &other.id,
        "other agent",
        Some(axis(dim, 0, 1, 0.0)),
        8,
    );
    ctx.store
        .insert_passages(&[
            near.clone(),
            mid.clone(),
            far.clone(),
            opposite.clone(),
            near_twin.clone(),
            zero.clone(),
            no_vector,
            other_dim.clone(),
            other_agent,
        ])
        .await
        .unwrap();

    let query = axis(dim, 0, 0, 0.0);
    let found = ctx
        .store
        .search_passages(&ctx.org_id, &agent.id, &query, 0, 10)
        .await
        .unwrap();
    let expected = vec![
        near_twin.id.clone(),
        near.id.clone(),
        mid.id.clone(),
        far.id.clone(),
        opposite.id.clone(),
        zero.id.clone(),
    ];
    assert_eq!(scored_ids(&found), expected);
    for s in &found[..5] {
        let want = cosine_distance(s.passage.embedding.as_ref().unwrap(), &query);
        assert!(
            (f64::from(s.distance) - want).abs() < 1e-5,
            "{} vs {want}",
            s.distance
        );
    }
    assert!(found[4].distance > 1.99, "opposite: {}", found[4].distance);
    // A zero-length vector has no direction: NaN, ranked last.
    assert!(found[5].distance.is_nan());
    assert_eq!(found[0].passage, near_twin);

    // Paging.
    assert_eq!(search(&ctx, &agent.id, &query, 0, 2).await, expected[..2]);
    assert_eq!(search(&ctx, &agent.id, &query, 2, 2).await, expected[2..4]);
    assert_eq!(search(&ctx, &agent.id, &query, 4, 10).await, expected[4..]);
    assert!(search(&ctx, &agent.id, &query, 6, 10).await.is_empty());
    assert!(search(&ctx, &agent.id, &query, 0, 0).await.is_empty());
    assert_eq!(search(&ctx, &agent.id, &query, -3, 1).await, expected[..1]);
    // Only rows of the query's dimension.
    assert_eq!(
        search(&ctx, &agent.id, &axis(dim + 2, 0, 0, 0.0), 0, 10).await,
        vec![other_dim.id.clone()]
    );
    assert!(
        search(&ctx, &agent.id, &axis(dim + 1, 0, 0, 0.0), 0, 10)
            .await
            .is_empty()
    );
    assert!(search(&ctx, &agent.id, &[], 0, 10).await.is_empty());
    assert!(
        search(&ctx, "agent-missing", &query, 0, 10)
            .await
            .is_empty()
    );
    // A query that cannot be a vector is refused.
    let err = ctx
        .store
        .search_passages(&ctx.org_id, &agent.id, &[f32::INFINITY; 6], 0, 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
});

passage_test!(search_large_dimensions, |ctx: Ctx| async move {
    // 3072 (OpenAI's large model: a halfvec index with pgvector) and 4096 (no HNSW index).
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    for dim in [3072usize, 4096] {
        let rows: Vec<Passage> = (0..4)
            .map(|n| {
                passage(
                    &ctx.org_id,
                    &agent.id,
                    &format!("{dim}-{n}"),
                    Some(axis(dim, 0, n + 1, n as f32 * 0.5)),
                    n as i64,
                )
            })
            .collect();
        ctx.store.insert_passages(&rows).await.unwrap();
        let found = ctx
            .store
            .search_passages(&ctx.org_id, &agent.id, &axis(dim, 0, 0, 0.0), 0, 3)
            .await
            .unwrap();
        assert_eq!(scored_ids(&found), ids(&rows[..3]), "dim {dim}");
        assert_eq!(found[1].passage.embedding.as_ref().map(Vec::len), Some(dim));
        assert!(found[0].distance.abs() < 1e-6);
    }
});

/// The same archive and queries give the same ranking on every path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_agrees_across_stores() {
    let dim = 24;
    let n = 60;
    let vectors = random_unit_vectors(7, n, dim);
    let queries = random_unit_vectors(8, 5, dim);
    let ids: Vec<String> = (0..n).map(|_| new_id("passage")).collect();
    // Per path, per query: the ranked (id, distance) list.
    type Ranked = Vec<(String, f32)>;
    let mut rankings: Vec<(Path, Vec<Ranked>)> = Vec::new();
    for path in [Path::Sqlite, Path::Postgres, Path::PgVector] {
        let ctx = Ctx::new(path).await;
        let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
        let rows: Vec<Passage> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut p = passage(
                    &ctx.org_id,
                    &agent.id,
                    &format!("row {i}"),
                    Some(v.clone()),
                    i as i64 % 7,
                );
                p.id = ids[i].clone();
                p
            })
            .collect();
        ctx.store.insert_passages(&rows).await.unwrap();
        let mut per_query = Vec::new();
        for q in &queries {
            let all = ctx
                .store
                .search_passages(&ctx.org_id, &agent.id, q, 0, n as i64)
                .await
                .unwrap();
            assert_eq!(all.len(), n, "{path:?}");
            // Pages agree with the full ranking.
            let page = ctx
                .store
                .search_passages(&ctx.org_id, &agent.id, q, 10, 5)
                .await
                .unwrap();
            assert_eq!(scored_ids(&page), scored_ids(&all[10..15]), "{path:?}");
            per_query.push(
                all.into_iter()
                    .map(|s| (s.passage.id, s.distance))
                    .collect(),
            );
        }
        rankings.push((path, per_query));
    }
    // The reference ranking, computed here.
    for (qi, q) in queries.iter().enumerate() {
        let mut want: Vec<(f64, &String)> = vectors
            .iter()
            .zip(&ids)
            .map(|(v, id)| (cosine_distance(v, q), id))
            .collect();
        want.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let want_ids: Vec<&String> = want.iter().map(|(_, id)| *id).collect();
        for (path, per_query) in &rankings {
            let got: Vec<&String> = per_query[qi].iter().map(|(id, _)| id).collect();
            assert_eq!(got, want_ids, "{path:?}, query {qi}");
            for ((_, d), (w, _)) in per_query[qi].iter().zip(&want) {
                assert!((f64::from(*d) - w).abs() < 1e-5, "{path:?}: {d} vs {w}");
            }
        }
    }
}

passage_test!(update_rewrites_and_reembeds, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let dim = 5;
    let a = passage(
        &ctx.org_id,
        &agent.id,
        "apples",
        Some(axis(dim, 0, 1, 0.0)),
        1,
    );
    let b = passage(
        &ctx.org_id,
        &agent.id,
        "bananas",
        Some(axis(dim, 1, 0, 0.0)),
        2,
    );
    ctx.store
        .insert_passages(&[a.clone(), b.clone()])
        .await
        .unwrap();
    let query = axis(dim, 2, 2, 0.0);
    assert_eq!(search(&ctx, &agent.id, &query, 0, 1).await.len(), 1);

    let mut changed = a.clone();
    changed.text = "cherries".to_owned();
    changed.embedding = Some(axis(dim, 2, 0, 0.05));
    changed.metadata = Some(json!({"fruit": true}).as_object().unwrap().clone());
    changed.embedding_config = None;
    changed.file_name = Some("fruit.txt".to_owned());
    changed.is_deleted = true;
    changed.updated_at = Some(ts(50));
    changed.last_updated_by_id = Some("user-editor".to_owned());
    // Fields the update does not write.
    changed.created_at = ts(40);
    changed.created_by_id = Some("someone-else".to_owned());
    assert!(ctx.store.update_passage(&changed).await.unwrap());
    let stored = ctx
        .store
        .get_passage(&ctx.org_id, &a.id)
        .await
        .unwrap()
        .unwrap();
    let mut expected = changed.clone();
    expected.created_at = a.created_at;
    expected.created_by_id = a.created_by_id.clone();
    assert_eq!(stored, expected);
    let found = ctx
        .store
        .search_passages(&ctx.org_id, &agent.id, &query, 0, 2)
        .await
        .unwrap();
    assert_eq!(scored_ids(&found), vec![a.id.clone(), b.id.clone()]);
    assert_eq!(found[0].passage.text, "cherries");

    // A new dimension: found by queries of that dimension only.
    let mut wider = changed.clone();
    wider.embedding = Some(axis(dim + 3, 1, 0, 0.0));
    assert!(ctx.store.update_passage(&wider).await.unwrap());
    assert_eq!(
        search(&ctx, &agent.id, &query, 0, 5).await,
        vec![b.id.clone()]
    );
    assert_eq!(
        search(&ctx, &agent.id, &axis(dim + 3, 1, 1, 0.0), 0, 5).await,
        vec![a.id.clone()]
    );
    // Dropping the embedding removes it from search.
    let mut bare = wider.clone();
    bare.embedding = None;
    assert!(ctx.store.update_passage(&bare).await.unwrap());
    assert!(
        search(&ctx, &agent.id, &axis(dim + 3, 1, 1, 0.0), 0, 5)
            .await
            .is_empty()
    );
    assert_eq!(
        ctx.store
            .get_passage(&ctx.org_id, &a.id)
            .await
            .unwrap()
            .unwrap()
            .embedding,
        None
    );

    // Unknown id, another organization, a bad vector: false or refused, and nothing changes.
    let mut missing = b.clone();
    missing.id = "passage-missing".to_owned();
    assert!(!ctx.store.update_passage(&missing).await.unwrap());
    let mut foreign = b.clone();
    foreign.organization_id = Some("org-elsewhere".to_owned());
    foreign.text = "hijacked".to_owned();
    assert!(!ctx.store.update_passage(&foreign).await.unwrap());
    let mut bad = b.clone();
    bad.embedding = Some(vec![f32::NAN; dim]);
    assert!(matches!(
        ctx.store.update_passage(&bad).await,
        Err(StoreError::Rejected(_))
    ));
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &b.id).await.unwrap(),
        Some(b.clone())
    );
});

passage_test!(delete_returns_the_row, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let a = passage(&ctx.org_id, &agent.id, "keep", Some(vec![1.0, 0.0]), 1);
    let b = passage(&ctx.org_id, &agent.id, "drop", Some(vec![0.0, 1.0]), 2);
    ctx.store
        .insert_passages(&[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        ctx.store
            .delete_passage("org-elsewhere", &b.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ctx.store.delete_passage(&ctx.org_id, &b.id).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        ctx.store.delete_passage(&ctx.org_id, &b.id).await.unwrap(),
        None
    );
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &b.id).await.unwrap(),
        None
    );
    assert_eq!(
        search(&ctx, &agent.id, &[0.0, 1.0], 0, 5).await,
        vec![a.id.clone()]
    );
    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 1);
});

passage_test!(counts_and_storage_bytes, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "archivist", 0).await;
    let other = make_agent(&ctx.store, &ctx.org_id, "other", 1).await;
    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 0);
    assert_eq!(
        ctx.store.passages_storage_bytes(&ctx.org_id).await.unwrap(),
        0
    );
    // "héllo" is 6 bytes of UTF-8 (5 characters).
    let rows = [
        passage(&ctx.org_id, &agent.id, "héllo", Some(vec![1.0; 8]), 1),
        passage(&ctx.org_id, &agent.id, "abc", None, 2),
        passage(&ctx.org_id, &other.id, "z", Some(vec![1.0; 3]), 3),
    ];
    ctx.store.insert_passages(&rows).await.unwrap();
    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 2);
    assert_eq!(ctx.store.count_agent_passages(&other.id).await.unwrap(), 1);
    assert_eq!(
        ctx.store
            .count_agent_passages("agent-missing")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        ctx.store.passages_storage_bytes(&ctx.org_id).await.unwrap(),
        (6 + 32) + 3 + (1 + 12)
    );
});

passage_test!(agent_deletion_cascades, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "doomed", 0).await;
    let survivor = make_agent(&ctx.store, &ctx.org_id, "survivor", 1).await;
    let gone = passage(&ctx.org_id, &agent.id, "gone", Some(vec![1.0, 0.0, 0.0]), 1);
    let kept = passage(
        &ctx.org_id,
        &survivor.id,
        "kept",
        Some(vec![1.0, 0.0, 0.0]),
        1,
    );
    ctx.store
        .insert_passages(&[gone.clone(), kept.clone()])
        .await
        .unwrap();
    assert!(
        ctx.store
            .delete_agent(&ctx.org_id, &agent.id)
            .await
            .unwrap()
    );
    assert_eq!(ctx.store.count_agent_passages(&agent.id).await.unwrap(), 0);
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &gone.id).await.unwrap(),
        None
    );
    assert!(
        search(&ctx, &agent.id, &[1.0, 0.0, 0.0], 0, 5)
            .await
            .is_empty()
    );
    assert_eq!(
        ctx.store.get_passage(&ctx.org_id, &kept.id).await.unwrap(),
        Some(kept)
    );
    // And the organization's deletion takes the rest.
    assert!(ctx.store.delete_org(&ctx.org_id).await.unwrap());
    assert_eq!(
        ctx.store.count_agent_passages(&survivor.id).await.unwrap(),
        0
    );
});

passage_test!(organizations_are_isolated, |ctx: Ctx| async move {
    let agent = make_agent(&ctx.store, &ctx.org_id, "mine", 0).await;
    let (other_org, _) = helpers::new_org_and_user(&ctx.store).await;
    let theirs = make_agent(&ctx.store, &other_org.id, "theirs", 0).await;
    let mine = passage(
        &ctx.org_id,
        &agent.id,
        "shared words",
        Some(vec![1.0, 0.0, 0.0]),
        1,
    );
    let secret = passage(
        &other_org.id,
        &theirs.id,
        "shared words",
        Some(vec![1.0, 0.0, 0.0]),
        1,
    );
    ctx.store
        .insert_passages(&[mine.clone(), secret.clone()])
        .await
        .unwrap();

    assert_eq!(
        ctx.store
            .get_passage(&ctx.org_id, &secret.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        list(&ctx, &theirs.id, PassageFilter::default())
            .await
            .is_empty()
    );
    assert!(
        search(&ctx, &theirs.id, &[1.0, 0.0, 0.0], 0, 5)
            .await
            .is_empty()
    );
    assert_eq!(
        list(&ctx, &agent.id, PassageFilter::default()).await,
        vec![mine.id.clone()]
    );
    assert_eq!(
        search(&ctx, &agent.id, &[1.0, 0.0, 0.0], 0, 5).await,
        vec![mine.id.clone()]
    );
    assert_eq!(
        ctx.store
            .delete_passage(&ctx.org_id, &secret.id)
            .await
            .unwrap(),
        None
    );
    let mut overwrite = secret.clone();
    overwrite.organization_id = Some(ctx.org_id.clone());
    overwrite.text = "mine now".to_owned();
    assert!(!ctx.store.update_passage(&overwrite).await.unwrap());
    assert_eq!(
        ctx.store.passages_storage_bytes(&ctx.org_id).await.unwrap(),
        12 + 12
    );
    assert_eq!(
        ctx.store
            .get_passage(&other_org.id, &secret.id)
            .await
            .unwrap(),
        Some(secret)
    );
});

passage_test!(vector_path_matches_the_server, |ctx: Ctx| async move {
    match ctx.path {
        Path::Sqlite => assert!(!ctx.store.vector_index()),
        Path::Postgres => {
            // The exact path exactly when the server cannot offer pgvector.
            let pool = sqlx::PgPool::connect(&helpers::postgres_url())
                .await
                .unwrap();
            let available: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(ctx.store.vector_index(), available);
        }
        Path::PgVector => assert!(ctx.store.vector_index()),
    }
});

/// With pgvector, each dimension in use gets its HNSW index, and a search over a large
/// agent runs through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_search_uses_the_hnsw_index() {
    let ctx = Ctx::new(Path::PgVector).await;
    let pg = ctx.pg.clone().unwrap();
    let agent = make_agent(&ctx.store, &ctx.org_id, "big", 0).await;
    // An unusual dimension so no other test shares its index.
    let dim = 37;
    let vectors = random_unit_vectors(11, 3000, dim);
    let rows: Vec<Passage> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            passage(
                &ctx.org_id,
                &agent.id,
                &format!("row {i}"),
                Some(v.clone()),
                i as i64,
            )
        })
        .collect();
    ctx.store.insert_passages(&rows).await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'agent_passages_hnsw_37'",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(
        indexes[0].contains("hnsw") && indexes[0].contains("vector_cosine_ops"),
        "{}",
        indexes[0]
    );
    sqlx::query("ANALYZE agent_passages")
        .execute(pg.pool())
        .await
        .unwrap();

    let query = &random_unit_vectors(12, 1, dim)[0];
    let plan = pg
        .explain_passage_search(&ctx.org_id, &agent.id, query, 10)
        .await
        .unwrap();
    assert!(plan.contains("agent_passages_hnsw_37"), "{plan}");
    // The indexed search finds (nearly all of) the exact nearest rows.
    let found = ctx
        .store
        .search_passages(&ctx.org_id, &agent.id, query, 0, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 10);
    let mut exact: Vec<(f64, &String)> = vectors
        .iter()
        .zip(&rows)
        .map(|(v, p)| (cosine_distance(v, query), &p.id))
        .collect();
    exact.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let top: Vec<&String> = exact[..10].iter().map(|(_, id)| *id).collect();
    let hits = found
        .iter()
        .filter(|s| top.contains(&&s.passage.id))
        .count();
    assert!(hits >= 9, "recall {hits}/10");
    assert!(found.windows(2).all(|w| w[0].distance <= w[1].distance));

    // A small agent in the same table still gets all its rows, nearest first.
    let small = make_agent(&ctx.store, &ctx.org_id, "small", 1).await;
    let mine: Vec<Passage> = vectors[..3]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            passage(
                &ctx.org_id,
                &small.id,
                &format!("small {i}"),
                Some(v.clone()),
                i as i64,
            )
        })
        .collect();
    ctx.store.insert_passages(&mine).await.unwrap();
    let got = search(&ctx, &small.id, query, 0, 10).await;
    let mut want: Vec<(f64, String)> = mine
        .iter()
        .map(|p| {
            (
                cosine_distance(p.embedding.as_ref().unwrap(), query),
                p.id.clone(),
            )
        })
        .collect();
    want.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    assert_eq!(got, want.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
}

/// conversation_search's `search_text LIKE '%…%'` can use a trigram index on Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_message_search_has_a_trigram_index() {
    for path in [Path::Postgres, Path::PgVector] {
        let ctx = Ctx::new(path).await;
        let pool = match &ctx.pg {
            Some(pg) => pg.pool().clone(),
            None => sqlx::PgPool::connect(&helpers::postgres_url())
                .await
                .unwrap(),
        };
        let def: Option<String> = sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_search_text_trgm'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        let def = def.unwrap_or_else(|| panic!("{path:?}: no trigram index on messages"));
        assert!(def.contains("gin_trgm_ops"), "{def}");

        // The same form as the store's query; with sequential scans priced out the planner
        // must be able to answer it from the index.
        let agent = make_agent(&ctx.store, &ctx.org_id, "talker", 0).await;
        ctx.store
            .insert_messages(&[message(
                &ctx.org_id,
                &agent.id,
                MessageRole::User,
                "a needle in the haystack",
            )])
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        // Full scans (sequential, or a walk of the ordering index with a filter) priced out.
        for off in ["enable_seqscan", "enable_indexscan"] {
            sqlx::query(&format!("SET LOCAL {off} = off"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN SELECT * FROM messages WHERE search_text LIKE $1 ESCAPE '\\' ORDER BY sequence_id",
        )
        .bind("%needle%")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("messages_search_text_trgm"),
            "{path:?}: {plan}"
        );
        let hits = ctx
            .store
            .search_agent_messages(&agent.id, "NEEDLE", &[], 0, 5)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
    }
}

/// Embeddings written while a database had no pgvector (bytes) move into the vector column
/// when the store next connects with pgvector, and are searchable there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_takes_over_embeddings_written_without_it() {
    let url = helpers::fresh_pgvector_database().await;
    let first = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let store: DynStore = first.clone();
    let (org, _) = helpers::new_org_and_user(&store).await;
    let agent = make_agent(&store, &org.id, "veteran", 0).await;
    // The database as a server without pgvector left it: no vector column, byte embeddings.
    sqlx::query("ALTER TABLE agent_passages DROP COLUMN embedding_vec")
        .execute(first.pool())
        .await
        .unwrap();
    let old = passage(
        &org.id,
        &agent.id,
        "remembered",
        Some(vec![0.5, -0.25, 2.0]),
        1,
    );
    let bytes: Vec<u8> = old
        .embedding
        .as_ref()
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    sqlx::query(
        "INSERT INTO agent_passages (id, organization_id, agent_id, text, embedding, embedding_dim, \
         embedding_config, metadata, is_deleted, created_by_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 3, $6, '{}', FALSE, $7, $8, $8)",
    )
    .bind(&old.id)
    .bind(&org.id)
    .bind(&agent.id)
    .bind(&old.text)
    .bind(bytes)
    .bind(serde_json::to_string(&old.embedding_config).unwrap())
    .bind(&old.created_by_id)
    .bind(old.created_at)
    .execute(first.pool())
    .await
    .unwrap();
    first.pool().close().await;
    drop(store);

    let second = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let store: DynStore = second.clone();
    assert!(store.vector_index());
    let moved: (Option<Vec<u8>>, bool) = sqlx::query_as(
        "SELECT embedding, embedding_vec IS NOT NULL FROM agent_passages WHERE id = $1",
    )
    .bind(&old.id)
    .fetch_one(second.pool())
    .await
    .unwrap();
    assert_eq!(moved, (None, true));
    assert_eq!(
        store.get_passage(&org.id, &old.id).await.unwrap(),
        Some(old.clone())
    );
    let found = store
        .search_passages(&org.id, &agent.id, &[1.0, -0.5, 4.0], 0, 5)
        .await
        .unwrap();
    assert_eq!(scored_ids(&found), vec![old.id.clone()]);
    assert!(found[0].distance.abs() < 1e-6);
    let index: Option<String> = sqlx::query_scalar(
        "SELECT indexname FROM pg_indexes WHERE indexname = 'agent_passages_hnsw_3'",
    )
    .fetch_optional(second.pool())
    .await
    .unwrap();
    assert!(index.is_some());
}
