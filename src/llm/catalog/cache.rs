//! A model listing fetched at most once per time-to-live, shared by concurrent callers.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::llm::ProviderError;

/// A value fetched at most once per time-to-live. Callers that arrive while a fetch is in
/// flight wait for it and receive its result, success or failure; failures are not kept
/// for later callers.
pub(super) struct ListCache<T> {
    state: tokio::sync::Mutex<CacheState<T>>,
    /// Completed fetches; read before waiting to learn whether one finished meanwhile.
    completed: AtomicU64,
}

pub(super) struct CacheState<T> {
    fresh: Option<(Instant, T)>,
    last: Option<Result<T, ProviderError>>,
}

impl<T: Clone> ListCache<T> {
    pub(super) fn new() -> Self {
        ListCache {
            state: tokio::sync::Mutex::new(CacheState {
                fresh: None,
                last: None,
            }),
            completed: AtomicU64::new(0),
        }
    }

    pub(super) async fn get_or_fetch<F, Fut>(
        &self,
        ttl: Duration,
        fetch: F,
    ) -> Result<T, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let seen = self.completed.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        if let Some((at, value)) = &state.fresh
            && at.elapsed() < ttl
        {
            return Ok(value.clone());
        }
        if self.completed.load(Ordering::Acquire) != seen
            && let Some(last) = &state.last
        {
            return last.clone();
        }
        let result = fetch().await;
        if let Ok(value) = &result {
            state.fresh = Some((Instant::now(), value.clone()));
        }
        state.last = Some(result.clone());
        self.completed.fetch_add(1, Ordering::Release);
        result
    }
}
