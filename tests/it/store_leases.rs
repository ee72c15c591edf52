//! Store conformance: agent leases — one holder at a time per agent, expiry, renewal and
//! release.

use std::time::Duration;

use letta_rs::schemas::new_id;
use letta_rs::store::DynStore;

use crate::helpers;
use crate::store_test;

const LONG: Duration = Duration::from_secs(60);

store_test!(
    acquire_contend_renew_release,
    |store: DynStore, _org_id: String| async move {
        let agent = new_id("agent");
        let (a, b) = ("holder-a", "holder-b");

        assert!(
            store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        // Held: another holder cannot take it, the holder may take it again.
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        assert!(
            store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );

        // Only the holder renews.
        assert!(!store.renew_agent_lease(&agent, b, LONG).await.unwrap());
        assert!(store.renew_agent_lease(&agent, a, LONG).await.unwrap());

        // Only the holder releases; a stranger's release changes nothing.
        store.release_agent_lease(&agent, b).await.unwrap();
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent, a).await.unwrap();
        assert!(!store.renew_agent_lease(&agent, a, LONG).await.unwrap());
        // Released twice is harmless.
        store.release_agent_lease(&agent, a).await.unwrap();

        // Free again: the other holder takes it.
        assert!(
            store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent, b).await.unwrap();
        assert!(
            store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent, a).await.unwrap();

        // Renewing a lease never taken fails.
        assert!(
            !store
                .renew_agent_lease(&new_id("agent"), a, LONG)
                .await
                .unwrap()
        );
    }
);

store_test!(
    expired_lease_is_taken_over,
    |store: DynStore, _org_id: String| async move {
        let agent = new_id("agent");
        let (a, b) = ("holder-a", "holder-b");
        let short = Duration::from_millis(300);

        assert!(
            store
                .try_acquire_agent_lease(&agent, a, short)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;

        // Expired but not taken: still the holder's to renew.
        assert!(store.renew_agent_lease(&agent, a, short).await.unwrap());
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;

        // Expired: the other holder takes it over, and the first one has lost it.
        assert!(
            store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        assert!(!store.renew_agent_lease(&agent, a, LONG).await.unwrap());
        assert!(
            !store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        // The loser's release does not free the new holder's lease.
        store.release_agent_lease(&agent, a).await.unwrap();
        assert!(
            !store
                .try_acquire_agent_lease(&agent, a, LONG)
                .await
                .unwrap()
        );
        assert!(store.renew_agent_lease(&agent, b, LONG).await.unwrap());

        // A zero ttl expires at once.
        store.release_agent_lease(&agent, b).await.unwrap();
        assert!(
            store
                .try_acquire_agent_lease(&agent, a, Duration::ZERO)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );

        // An absurd ttl is capped rather than overflowing.
        store.release_agent_lease(&agent, b).await.unwrap();
        assert!(
            store
                .try_acquire_agent_lease(&agent, a, Duration::from_secs(u64::MAX))
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_acquire_agent_lease(&agent, b, LONG)
                .await
                .unwrap()
        );
        assert!(
            store
                .renew_agent_lease(&agent, a, Duration::from_secs(u64::MAX))
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent, a).await.unwrap();
    }
);

store_test!(
    leases_are_per_agent_and_exclusive_under_contention,
    |store: DynStore, _org_id: String| async move {
        let (agent1, agent2) = (new_id("agent"), new_id("agent"));
        assert!(
            store
                .try_acquire_agent_lease(&agent1, "a", LONG)
                .await
                .unwrap()
        );
        assert!(
            store
                .try_acquire_agent_lease(&agent2, "b", LONG)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_acquire_agent_lease(&agent2, "a", LONG)
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent2, "a").await.unwrap();
        assert!(
            !store
                .try_acquire_agent_lease(&agent2, "a", LONG)
                .await
                .unwrap()
        );
        store.release_agent_lease(&agent1, "a").await.unwrap();
        store.release_agent_lease(&agent2, "b").await.unwrap();

        // Many holders racing for a free lease, through two stores (as two processes would):
        // exactly one wins.
        let second = helpers::open_store(if store.backend() == "sqlite" {
            helpers::Backend::Sqlite
        } else {
            helpers::Backend::Postgres
        })
        .await;
        let agent = new_id("agent");
        let mut tasks = Vec::new();
        for n in 0..12 {
            let store = if n % 2 == 0 {
                store.clone()
            } else {
                second.clone()
            };
            let agent = agent.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("racer-{n}");
                let won = store
                    .try_acquire_agent_lease(&agent, &holder, LONG)
                    .await
                    .unwrap();
                (holder, won)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (holder, won) = task.await.unwrap();
            if won {
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert!(
            store
                .renew_agent_lease(&agent, &winners[0], LONG)
                .await
                .unwrap()
        );
        store
            .release_agent_lease(&agent, &winners[0])
            .await
            .unwrap();
    }
);
