//! Runs left behind by a stopped process: this replica's leftovers released at start-up,
//! other replicas' abandoned runs failed by the timeout rule, and this process's own runs
//! cancelled at shutdown.

use std::time::Duration;

use crate::schemas::common::now;
use crate::schemas::run::JobStatus;
use crate::state::AppState;
use crate::store::{Leftovers, Released};

/// Error recorded on runs whose process stopped before they ended.
pub(super) const ABANDONED: &str = "The server executing this run stopped before it finished";

/// At start-up, before serving: releases at once what an earlier process of this replica left
/// (its agent leases, and its unfinished runs, marked failed). When this process is the only
/// replica (`alone`: no Redis to share runs through), everything unfinished is an orphan.
/// Other replicas' leftovers keep the timeout rule ([`recover_unfinished_runs`]).
pub async fn release_leftovers_at_start(state: &AppState, alone: bool) {
    let of = if alone {
        Leftovers::All
    } else {
        Leftovers::OlderIncarnations(&state.replica)
    };
    match state.store.release_leftovers(of, ABANDONED).await {
        Ok(Released { leases: 0, runs: 0 }) => {}
        Ok(released) => tracing::warn!(
            replica = %state.replica.name,
            leases = released.leases,
            runs = released.runs,
            "released the agent leases and failed the runs a stopped process of this replica left"
        ),
        Err(err) => {
            tracing::error!(error = %err, "could not release a stopped process's leftovers")
        }
    }
    // Files a stopped process was ingesting: their job died with it.
    match state.store.fail_unfinished_files(of, FILE_ABANDONED).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            replica = %state.replica.name,
            files = n,
            "marked the files a stopped process was ingesting as failed"
        ),
        Err(err) => {
            tracing::error!(error = %err, "could not fail a stopped process's file ingestions")
        }
    }
}

/// Error recorded on files whose ingesting process stopped before it finished.
pub const FILE_ABANDONED: &str =
    "The server processing this file stopped before it finished; upload the file again";

/// Marks runs and file ingestions abandoned by a crashed process as failed, now and
/// periodically (a replica that stays up also cleans up after one that crashed and never
/// came back).
pub async fn recover_unfinished_runs(state: &AppState) {
    sweep_stale_runs(state).await;
    sweep_stale_files(state).await;
    let state = state.clone();
    let every = state.config.run_stale_after() / 2;
    let hub = std::sync::Arc::downgrade(&state.runs);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every.max(Duration::from_millis(500))).await;
            if hub.upgrade().is_none() {
                return;
            }
            sweep_stale_runs(&state).await;
            sweep_stale_files(&state).await;
        }
    });
}

/// How long ago a run or an ingestion must have last shown it is alive to count as abandoned.
fn stale_before(state: &AppState) -> crate::schemas::Timestamp {
    let stale = chrono::Duration::from_std(state.config.run_stale_after())
        .unwrap_or_else(|_| chrono::Duration::seconds(60));
    now() - stale
}

async fn sweep_stale_runs(state: &AppState) {
    match state
        .store
        .fail_unfinished_runs(stale_before(state), ABANDONED)
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(runs = n, "marked runs of a stopped process as failed");
            crate::meters::runs_finished(JobStatus::Failed.as_str(), n);
        }
        Err(err) => tracing::error!(error = %err, "could not recover unfinished runs"),
    }
}

/// Files whose ingestion stopped showing it is alive (the job touches the file every third
/// of the timeout): their process died, on whichever replica.
async fn sweep_stale_files(state: &AppState) {
    match state
        .store
        .fail_stale_files(stale_before(state), FILE_ABANDONED)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            files = n,
            "marked files a stopped process was ingesting as failed"
        ),
        Err(err) => tracing::error!(error = %err, "could not fail abandoned file ingestions"),
    }
}

/// At shutdown: cancels the runs still executing here and gives them a moment to record
/// their end.
pub async fn stop_local_runs(state: &AppState) {
    let n = state.runs.cancel_all_local();
    if n == 0 {
        return;
    }
    tracing::info!(runs = n, "cancelling runs in flight for shutdown");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state.runs.running_here() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Message requests
