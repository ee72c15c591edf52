//! Group turns: one request to a group runs its members' turns, organised by the group's
//! manager type (spec groups-memory-tools §2.4). Between dispatch (which made the request a
//! run) and the agent loop (which runs each member's turn under that run).
//!
//! - [`round_robin`]: members speak in order, each hearing what it has not heard yet.
//! - [`supervisor`]: the manager broadcasts to the workers through a tool and answers.
//! - [`dynamic`]: the manager names the next speaker each round.
//! - [`sleeptime`]: the main agent's normal turn; what its sleeptime agents then read.
//!
//! Every member turn shares the run: its id (steps and the cancel record), its cancellation
//! signal and its sink, through a [`TaggingSink`] that names the speaker. Lock order: a
//! group turn holds at most the manager's turn lock (supervisor) while it waits for a
//! member's, never the reverse, and every member's lock is waited for at most
//! `group_member_wait` — a busy member is reported busy, never waited on forever.

mod dynamic;
mod round_robin;
pub mod sleeptime;
mod supervisor;

use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::{AgentLoop, RunContext, TurnEvent, TurnOptions, TurnResult, TurnSink};
use crate::schemas::group::{Group, ManagerType};
use crate::schemas::letta_message::{LettaMessage, LettaUsageStatistics, StopReasonType};
use crate::schemas::message::{Message, MessageContent, MessageCreate, MessageRole, text_part};
use crate::schemas::org::Actor;
use crate::services::messages::{ConvertOptions, convert};
use crate::services::{ServiceError, ServiceResult};
use crate::state::AppState;

/// One request to a group, while it runs.
pub struct GroupRun<'a> {
    pub state: &'a AppState,
    pub actor: &'a Actor,
    pub group: &'a Group,
    /// The request's messages, tagged with the group's id.
    pub inputs: Vec<MessageCreate>,
    pub opts: &'a TurnOptions,
    /// The run the request is: every member turn runs under it.
    pub run: &'a RunContext,
}

/// How a type of group runs a request.
#[async_trait]
pub trait GroupManager: Send + Sync {
    async fn run(&self, g: &GroupRun<'_>) -> ServiceResult<TurnResult>;
}

/// A participant (or manager) as a group turn needs it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub name: String,
}

/// Checks that a request can be sent to the group (before any run is recorded): a type
/// that can run, with someone to run. Answers the agent that drives it (the manager, else
/// the first participant): the run is recorded as that agent's.
pub fn driver_of(group: &Group) -> ServiceResult<String> {
    if matches!(
        group.manager_type,
        ManagerType::VoiceSleeptime | ManagerType::Swarm
    ) {
        return Err(ServiceError::BadRequest(format!(
            "Type {} is not supported: groups of this type cannot be sent messages here",
            group.manager_type.as_str()
        )));
    }
    if group.agent_ids.is_empty() && group.manager_type != ManagerType::Sleeptime {
        return Err(ServiceError::BadRequest(
            "Empty group: group must have at least one agent".into(),
        ));
    }
    group
        .manager_agent_id
        .clone()
        .or_else(|| group.agent_ids.first().cloned())
        .ok_or_else(|| ServiceError::BadRequest("The group has no agent to run".into()))
}

/// Runs one request to the group under `run`.
pub async fn run_group(
    state: &AppState,
    actor: &Actor,
    group: &Group,
    inputs: &[MessageCreate],
    opts: &TurnOptions,
    run: &RunContext,
) -> ServiceResult<TurnResult> {
    driver_of(group)?;
    let inputs: Vec<MessageCreate> = inputs
        .iter()
        .cloned()
        .map(|mut m| {
            m.group_id = Some(group.id.clone());
            m
        })
        .collect();
    let g = GroupRun {
        state,
        actor,
        group,
        inputs,
        opts,
        run,
    };
    let manager: &dyn GroupManager = match group.manager_type {
        ManagerType::RoundRobin => &round_robin::RoundRobin,
        ManagerType::Supervisor => &supervisor::Supervisor,
        ManagerType::Dynamic => &dynamic::Dynamic,
        ManagerType::Sleeptime => &MainAgentTurn,
        ManagerType::VoiceSleeptime | ManagerType::Swarm => {
            return Err(ServiceError::Internal("checked by driver_of".into()));
        }
    };
    manager.run(&g).await
}

/// `sleeptime`: the main agent (the manager) answers with its normal turn.
struct MainAgentTurn;

#[async_trait]
impl GroupManager for MainAgentTurn {
    async fn run(&self, g: &GroupRun<'_>) -> ServiceResult<TurnResult> {
        let main = g.manager()?;
        let mut tally = Tally::new(g.opts.max_steps);
        let turn = g.member_turn(&main, g.inputs.clone(), &tally).await?;
        tally.add(&turn);
        // The background part ([`sleeptime::after_main_turn`]) runs once this turn has
        // ended: the dispatcher, which owns runs, starts the sleeptime agents' runs then and
        // adds their ids to the usage (src/dispatch/sleeptime.rs).
        Ok(tally.finish(turn.stop_reason))
    }
}

impl GroupRun<'_> {
    /// The group's participants, in speaking order (deleted agents are gone already).
    pub(crate) async fn members(&self) -> ServiceResult<Vec<Member>> {
        let mut members = Vec::with_capacity(self.group.agent_ids.len());
        for id in &self.group.agent_ids {
            if let Some(row) = self
                .state
                .store
                .get_agent(&self.actor.organization_id, id)
                .await?
            {
                members.push(Member {
                    id: row.id,
                    name: row.name,
                });
            }
        }
        if members.is_empty() {
            return Err(ServiceError::BadRequest(
                "Empty group: group must have at least one agent".into(),
            ));
        }
        Ok(members)
    }

    /// The group's manager agent (404 if it was deleted meanwhile).
    pub(crate) fn manager(&self) -> ServiceResult<Member> {
        self.group
            .manager_agent_id
            .clone()
            .map(|id| Member {
                id,
                name: String::new(),
            })
            .ok_or_else(|| {
                ServiceError::BadRequest(format!("Group {} has no manager agent", self.group.id))
            })
    }

    /// The manager with its name.
    pub(crate) async fn manager_named(&self) -> ServiceResult<Member> {
        let manager = self.manager()?;
        let row = self
            .state
            .store
            .get_agent(&self.actor.organization_id, &manager.id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("Agent not found with id='{}'", manager.id))
            })?;
        Ok(Member {
            id: row.id,
            name: row.name,
        })
    }

    /// The context a member's turn runs under: this run, tagged with the group and the
    /// speaker, with a bounded wait for the member's lock.
    pub(crate) fn member_context(&self, speaker: &Member) -> RunContext {
        let mut ctx = RunContext::new(
            self.run.run_id.clone(),
            self.run.cancel.clone(),
            self.run.mode,
            Arc::new(TaggingSink {
                inner: self.run.sink.clone(),
                name: speaker.name.clone(),
            }),
            self.run.caller.clone(),
        );
        ctx.group_id = Some(self.group.id.clone());
        ctx.lock_wait = Some(self.state.config.group_member_wait());
        ctx
    }

    /// Runs one member's turn with what is left of the step budget.
    pub(crate) async fn member_turn(
        &self,
        speaker: &Member,
        inputs: Vec<MessageCreate>,
        tally: &Tally,
    ) -> ServiceResult<TurnResult> {
        let ctx = self.member_context(speaker);
        self.turn_in(speaker, inputs, tally, &ctx).await
    }

    pub(crate) async fn turn_in(
        &self,
        speaker: &Member,
        inputs: Vec<MessageCreate>,
        tally: &Tally,
        ctx: &RunContext,
    ) -> ServiceResult<TurnResult> {
        let mut opts = self.opts.clone();
        opts.max_steps = tally.steps_left;
        AgentLoop::new(self.state)
            .run_turn(self.actor, &speaker.id, &inputs, &opts, Some(ctx))
            .await
    }

    /// What a member said in its turn: the text of each of its assistant messages.
    pub(crate) fn said(&self, turn: &TurnResult) -> ServiceResult<Vec<String>> {
        said(&turn.created, self.opts)
    }

    /// A member's words as the next speakers receive them: system messages naming it.
    pub(crate) fn relay(&self, speaker: &Member, said: &[String]) -> Vec<MessageCreate> {
        said.iter()
            .map(|text| MessageCreate {
                role: crate::schemas::message::MessageCreateRole::System,
                content: MessageContent::Text(text.clone()),
                name: Some(speaker.name.clone()),
                otid: None,
                sender_id: Some(speaker.id.clone()),
                batch_item_id: None,
                group_id: Some(self.group.id.clone()),
            })
            .collect()
    }

    /// Stores what a member missed after it last spoke, in its history only (not in its
    /// context): the group's conversation stays complete on every member.
    pub(crate) async fn catch_up(
        &self,
        member: &Member,
        missed: &[MessageCreate],
    ) -> ServiceResult<()> {
        if missed.is_empty() {
            return Ok(());
        }
        let ts = crate::schemas::common::now();
        let rows: Vec<Message> = missed
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut row = Message::new(
                    &self.actor.organization_id,
                    &member.id,
                    &self.actor.user_id,
                    match m.role {
                        crate::schemas::message::MessageCreateRole::User => MessageRole::User,
                        _ => MessageRole::System,
                    },
                    match &m.content {
                        MessageContent::Text(t) => vec![text_part(t.clone())],
                        MessageContent::Parts(parts) => parts.clone(),
                    },
                    None,
                    ts + chrono::Duration::microseconds(i as i64),
                );
                row.name = m.name.clone();
                row.otid = m.otid.clone();
                row.sender_id = m.sender_id.clone();
                row.group_id = Some(self.group.id.clone());
                row
            })
            .collect();
        Ok(self.state.store.insert_messages(&rows).await?)
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.run.cancel.is_cancelled()
    }
}

/// The assistant messages' texts among `created`.
pub(crate) fn said(created: &[Message], opts: &TurnOptions) -> ServiceResult<Vec<String>> {
    let shown = convert(
        created,
        ConvertOptions {
            use_assistant_message: true,
            tool_name: &opts.assistant_message_tool_name,
            tool_kwarg: &opts.assistant_message_tool_kwarg,
        },
    )?;
    Ok(shown
        .into_iter()
        .filter_map(|m| match m {
            LettaMessage::Assistant(a) => Some(match a.content {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// What a group turn has done so far: the messages its members produced (inputs left
/// out), usage summed over them, and the steps left of the request's `max_steps`.
pub(crate) struct Tally {
    pub created: Vec<Message>,
    pub usage: LettaUsageStatistics,
    pub steps_left: i64,
}

impl Tally {
    pub fn new(max_steps: i64) -> Self {
        Tally {
            created: Vec::new(),
            usage: LettaUsageStatistics::default(),
            steps_left: max_steps.max(0),
        }
    }

    /// Adds a member's turn; `Some` stop reason when the group turn must end after it
    /// (cancelled, or the step budget spent).
    pub fn add(&mut self, turn: &TurnResult) -> Option<StopReasonType> {
        self.created.extend(
            turn.created
                .iter()
                .filter(|m| !matches!(m.role, MessageRole::User | MessageRole::System))
                .cloned(),
        );
        self.add_usage(&turn.usage);
        match turn.stop_reason {
            StopReasonType::Cancelled => Some(StopReasonType::Cancelled),
            StopReasonType::MaxSteps => Some(StopReasonType::MaxSteps),
            _ if self.steps_left <= 0 => Some(StopReasonType::MaxSteps),
            _ => None,
        }
    }

    pub fn add_usage(&mut self, usage: &LettaUsageStatistics) {
        self.usage.prompt_tokens += usage.prompt_tokens;
        self.usage.completion_tokens += usage.completion_tokens;
        self.usage.total_tokens += usage.total_tokens;
        self.usage.step_count += usage.step_count;
        self.steps_left -= usage.step_count;
    }

    pub fn finish(self, stop_reason: StopReasonType) -> TurnResult {
        TurnResult {
            created: self.created,
            stop_reason,
            usage: self.usage,
        }
    }
}

/// Forwards a member's events to the run's sink, naming the speaker on each message (a
/// tool's result keeps the tool's name); the inputs it was handed (earlier speakers'
/// words, as system messages) are not shown again, and the run's usage is the group's.
pub struct TaggingSink {
    inner: Arc<dyn TurnSink>,
    name: String,
}

impl TurnSink for TaggingSink {
    fn emit(&self, event: TurnEvent) {
        let event = match event {
            TurnEvent::Message(message) => {
                let mut message = message;
                let name = Some(self.name.clone());
                match &mut message {
                    LettaMessage::System(_) | LettaMessage::User(_) => return,
                    LettaMessage::ToolReturn(_) => {}
                    LettaMessage::Reasoning(m) => m.name = name,
                    LettaMessage::HiddenReasoning(m) => m.name = name,
                    LettaMessage::ToolCall(m) => m.name = name,
                    LettaMessage::Assistant(m) => m.name = name,
                }
                TurnEvent::Message(message)
            }
            TurnEvent::Usage(_) => return,
            other => other,
        };
        self.inner.emit(event);
    }
}
