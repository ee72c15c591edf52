//! `round_robin`: the participants speak in order for `max_turns` turns (default: one
//! each). Each speaker receives what it has not heard yet — the user's input, then the
//! earlier speakers' words as system messages naming them — and never its own words. After
//! the round every member's history gets what it missed since it last spoke.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{GroupManager, GroupRun, Tally};
use crate::agent::TurnResult;
use crate::schemas::letta_message::StopReasonType;
use crate::services::ServiceResult;

pub(super) struct RoundRobin;

#[async_trait]
impl GroupManager for RoundRobin {
    async fn run(&self, g: &GroupRun<'_>) -> ServiceResult<TurnResult> {
        let members = g.members().await?;
        let turns = g.group.max_turns.unwrap_or(members.len() as i64).max(1) as usize;
        let mut tally = Tally::new(g.opts.max_steps);
        let mut history = g.inputs.clone();
        let mut heard: HashMap<String, usize> = HashMap::new();
        let mut stop = StopReasonType::EndTurn;
        let mut last_speaker = None;
        for i in 0..turns {
            if g.cancelled() {
                stop = StopReasonType::Cancelled;
                break;
            }
            let speaker = &members[i % members.len()];
            let from = heard.get(&speaker.id).copied().unwrap_or(0);
            let turn = g
                .member_turn(speaker, history[from..].to_vec(), &tally)
                .await?;
            stop = turn.stop_reason;
            let ended = tally.add(&turn);
            let said = g.said(&turn)?;
            history.extend(g.relay(speaker, &said));
            heard.insert(speaker.id.clone(), history.len());
            last_speaker = Some(speaker.id.clone());
            if let Some(reason) = ended {
                stop = reason;
                break;
            }
        }
        for member in &members {
            if last_speaker.as_deref() == Some(member.id.as_str()) {
                continue;
            }
            let from = heard.get(&member.id).copied().unwrap_or(0);
            // A member that never spoke has not seen the input either; one that did not get
            // a turn because the round was cut short gets it too.
            g.catch_up(member, &history[from..]).await?;
        }
        Ok(tally.finish(stop))
    }
}
