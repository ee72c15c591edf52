//! Message batches, run side: a batch's requests run server-side as runs of their own
//! (over whatever provider each agent uses), one agent's requests in order, at most
//! `LETTA_BATCH_CONCURRENCY` agents at once in this process. The original hands batches to a
//! provider's batch API instead.
//!
//! Restarts: the items are runs recorded with this replica, so a stopped process's unfinished
//! items are failed by the run recovery (at start-up, or by the stale-run sweep); waiting
//! items are kept alive by the batch's heartbeat meanwhile. The batch's own status is settled
//! from its items whenever it is read, so it never stays `running` over ended items.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::callbacks::deliver_callback;
use super::execute::{RunTask, execute, record_end};
use super::{Dispatcher, RequestKind};
use crate::agent::{StreamMode, TurnOptions, validate_inputs};
use crate::schemas::batch::{BatchJob, CreateBatch};
use crate::schemas::common::now;
use crate::schemas::letta_message::LettaRequest;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::{JobStatus, JobType, LettaRequestConfig, Run};
use crate::services::batches::BatchService;
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;

/// The process-wide bound on batch requests running at once (sized by the first batch).
fn permits(size: usize) -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| Arc::new(Semaphore::new(size.max(1))))
        .clone()
}

/// Cancellation of the batches executing in this process.
fn registry() -> &'static Mutex<HashMap<String, CancellationToken>> {
    static BATCHES: OnceLock<Mutex<HashMap<String, CancellationToken>>> = OnceLock::new();
    BATCHES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn register(batch_id: &str) -> CancellationToken {
    let token = CancellationToken::new();
    if let Ok(mut map) = registry().lock() {
        map.insert(batch_id.to_owned(), token.clone());
    }
    token
}

fn unregister(batch_id: &str) {
    if let Ok(mut map) = registry().lock() {
        map.remove(batch_id);
    }
}

fn signal(batch_id: &str) {
    if let Ok(map) = registry().lock()
        && let Some(token) = map.get(batch_id)
    {
        token.cancel();
    }
}

/// One request of the batch, ready to run.
struct Item {
    run: Run,
    request: LettaRequest,
}

/// `POST /v1/messages/batches`: checks every request (size limit, known agents, valid
/// inputs) before writing anything, records the batch and its runs in one transaction, and
/// starts it.
pub async fn create_batch(
    state: &AppState,
    actor: &Actor,
    req: CreateBatch,
) -> ServiceResult<BatchJob> {
    let max = state.config.batch_max_items;
    if req.requests.is_empty() {
        return Err(ServiceError::value_error(
            &["body", "requests"],
            "a batch needs at least one request",
            json!([]),
        ));
    }
    if req.requests.len() > max {
        return Err(ServiceError::BadRequest(format!(
            "A batch may hold at most {max} requests (LETTA_BATCH_MAX_ITEMS); this one has {}",
            req.requests.len()
        )));
    }
    if let Some(url) = &req.callback_url {
        let valid = reqwest::Url::parse(url)
            .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
        if !valid {
            return Err(ServiceError::value_error(
                &["body", "callback_url"],
                "callback_url must be an absolute http or https URL",
                json!(url),
            ));
        }
    }
    for (i, request) in req.requests.iter().enumerate() {
        validate_inputs(&request.messages).map_err(|err| match err {
            ServiceError::Validation {
                mut loc,
                msg,
                input,
            } => {
                // `body.messages…` of the request → `body.requests.<i>.messages…`.
                loc.splice(1..1, [json!("requests"), json!(i)]);
                ServiceError::Validation { loc, msg, input }
            }
            other => other,
        })?;
    }
    let agent_ids: HashSet<&str> = req.requests.iter().map(|r| r.agent_id.as_str()).collect();
    let mut missing = Vec::new();
    for agent_id in &agent_ids {
        if state
            .store
            .get_agent(&actor.organization_id, agent_id)
            .await?
            .is_none()
        {
            missing.push(*agent_id);
        }
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(ServiceError::NotFound(format!(
            "Agents not found: {}",
            missing.join(", ")
        )));
    }

    let ts = now();
    let batch = Run {
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        created_at: Some(ts),
        updated_at: Some(ts),
        status: JobStatus::Running,
        completed_at: None,
        metadata: Some(Map::from_iter([(
            "job_type".to_owned(),
            json!("batch_messages"),
        )])),
        job_type: JobType::Batch,
        callback_url: req.callback_url.clone(),
        callback_sent_at: None,
        callback_status_code: None,
        callback_error: None,
        id: new_id("job"),
        user_id: Some(actor.user_id.clone()),
        request_config: None,
        agent_id: None,
        organization_id: actor.organization_id.clone(),
    };
    let items: Vec<Item> = req
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // Distinct creation times keep the items in request order.
            let created = ts + chrono::Duration::microseconds(i as i64 + 1);
            let request = r.to_request();
            let opts = TurnOptions::from(&request);
            let run = Run {
                metadata: Some(Map::from_iter([
                    ("job_type".to_owned(), json!("batch_message")),
                    ("agent_id".to_owned(), json!(r.agent_id)),
                    ("batch_id".to_owned(), json!(batch.id)),
                ])),
                job_type: JobType::Run,
                status: JobStatus::Created,
                callback_url: None,
                id: new_id("run"),
                request_config: Some(LettaRequestConfig {
                    use_assistant_message: opts.use_assistant_message,
                    assistant_message_tool_name: opts.assistant_message_tool_name.clone(),
                    assistant_message_tool_kwarg: opts.assistant_message_tool_kwarg.clone(),
                    include_return_message_types: opts.include_return_message_types.clone(),
                }),
                agent_id: Some(r.agent_id.clone()),
                created_at: Some(created),
                updated_at: Some(created),
                ..batch.clone()
            };
            Item { run, request }
        })
        .collect();
    let runs: Vec<Run> = items.iter().map(|i| i.run.clone()).collect();
    state
        .store
        .create_batch(&batch, &runs, &state.replica)
        .await?;
    let token = register(&batch.id);
    tokio::spawn(drive(
        state.clone(),
        actor.clone(),
        batch.clone(),
        items,
        token,
    ));
    BatchService::new(state.store.as_ref()).settle(batch).await
}

/// Runs the batch: each agent's requests in order, agents side by side within the permits;
/// keeps waiting items alive; records the end and sends the callback.
async fn drive(
    state: AppState,
    actor: Actor,
    batch: Run,
    items: Vec<Item>,
    token: CancellationToken,
) {
    let mut by_agent: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for item in items {
        let agent = item.run.agent_id.clone().unwrap_or_default();
        by_agent.entry(agent).or_default().push(item);
    }
    let heartbeat = {
        let store = state.store.clone();
        let batch_id = batch.id.clone();
        let every = state.config.run_stale_after() / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(err) = store.touch_batch_items(&batch_id).await {
                    tracing::warn!(%batch_id, error = %err, "could not keep the batch's items alive");
                }
            }
        })
    };
    let semaphore = permits(state.config.batch_concurrency);
    let mut lanes = tokio::task::JoinSet::new();
    for (_, queue) in by_agent {
        let state = state.clone();
        let actor = actor.clone();
        let token = token.clone();
        let semaphore = semaphore.clone();
        lanes.spawn(async move {
            let Ok(_permit) = semaphore.acquire_owned().await else {
                return;
            };
            for item in queue {
                if token.is_cancelled() {
                    return;
                }
                run_item(&state, &actor, item).await;
            }
        });
    }
    while lanes.join_next().await.is_some() {}
    heartbeat.abort();
    unregister(&batch.id);
    match BatchService::new(state.store.as_ref()).settle(batch).await {
        Ok(done) if done.status.is_terminal() => {
            if done.callback_url.is_some()
                && let Ok(Some(run)) = state.store.get_run_any(&done.id).await
            {
                deliver_callback(&state, &run).await;
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not record the batch's end"),
    }
}

/// Runs one request unless it was cancelled (or ended) while waiting. A request to an agent
/// goes where the agent routes send it ([`Dispatcher::agent_target`]): a request to a
/// supervisor's or dynamic group's manager runs the group, recorded on this item's run.
async fn run_item(state: &AppState, actor: &Actor, item: Item) {
    let Item { mut run, request } = item;
    match state.store.get_run_any(&run.id).await {
        Ok(Some(stored)) if stored.status == JobStatus::Created => {}
        Ok(_) => return,
        Err(err) => {
            tracing::warn!(run_id = %run.id, error = %err, "batch item skipped: cannot read it");
            return;
        }
    }
    let opts = TurnOptions::from(&request);
    let agent_id = run.agent_id.clone().unwrap_or_default();
    let group = match Dispatcher::new(state).agent_target(actor, &agent_id).await {
        Ok(target) => target.group,
        Err(err) => {
            // The group it manages cannot run (emptied meanwhile): the item fails.
            record_end(state, &mut run, &Err(err), &opts, RequestKind::Async).await;
            return;
        }
    };
    if let (Some(group), Some(metadata)) = (&group, run.metadata.as_mut()) {
        metadata.insert("group_id".into(), json!(group.id));
    }
    let handle = state.runs.start(&run.id);
    // Errors are recorded on the item's run by `execute`.
    let _ = execute(RunTask {
        state: state.clone(),
        actor: actor.clone(),
        agent_id,
        inputs: request.messages,
        opts,
        run,
        handle,
        kind: RequestKind::Async,
        mode: StreamMode::Off,
        group,
        chain: super::execute::CallChain::default(),
    })
    .await;
}

/// `PATCH /v1/messages/batches/{id}/cancel`: the batch ends as cancelled; its waiting items
/// never start and its running ones are cancelled.
pub async fn cancel_batch(
    state: &AppState,
    actor: &Actor,
    batch_id: &str,
) -> ServiceResult<BatchJob> {
    let batches = BatchService::new(state.store.as_ref());
    let mut batch = batches.row(actor, batch_id).await?;
    if !batch.status.is_terminal() {
        let ts = now();
        batch.status = JobStatus::Cancelled;
        batch.completed_at = Some(ts);
        batch.updated_at = Some(ts);
        state.store.update_run(&batch).await?;
    }
    signal(batch_id);
    state.store.cancel_waiting_batch_items(batch_id).await?;
    for item in state.store.batch_items(batch_id).await? {
        if item.status == JobStatus::Running
            && let Err(err) = crate::services::runs::RunService::new(&state.store, &state.runs)
                .cancel(actor, &item.id)
                .await
        {
            tracing::debug!(run_id = %item.id, error = %err, "batch item not cancelled");
        }
    }
    batches.retrieve(actor, batch_id).await
}
