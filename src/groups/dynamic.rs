//! `dynamic`: each round the manager is shown the conversation and names the next speaker;
//! that participant speaks (hearing what it missed, as in round robin). The chat ends when
//! a speaker says the `termination_token`, or after `max_turns` rounds (default: one per
//! participant). A manager answer naming no participant falls back to the next participant
//! in order after the previous speaker (the first one on the first round).

use std::collections::HashMap;

use async_trait::async_trait;

use super::{GroupManager, GroupRun, Member, Tally};
use crate::agent::TurnResult;
use crate::schemas::letta_message::StopReasonType;
use crate::schemas::message::{MessageContent, MessageCreate, MessageCreateRole};
use crate::services::ServiceResult;

pub(super) struct Dynamic;

/// The speaker the manager's answer names: the last of `options` whose name appears in it
/// (case-insensitive), as the original picks.
pub(crate) fn named_speaker<'a>(answer: &str, options: &[&'a Member]) -> Option<&'a Member> {
    let answer = answer.to_lowercase();
    options
        .iter()
        .rev()
        .find(|m| !m.name.is_empty() && answer.contains(&m.name.to_lowercase()))
        .copied()
}

fn line(name: Option<&str>, content: &MessageContent) -> String {
    format!("{}: {}", name.unwrap_or("user"), content.to_text())
}

#[async_trait]
impl GroupManager for Dynamic {
    async fn run(&self, g: &GroupRun<'_>) -> ServiceResult<TurnResult> {
        let members = g.members().await?;
        let manager = g.manager_named().await?;
        let token = g
            .group
            .termination_token
            .clone()
            .unwrap_or_else(|| "DONE!".to_owned());
        let rounds = g.group.max_turns.unwrap_or(members.len() as i64).max(1) as usize;
        let mut tally = Tally::new(g.opts.max_steps);
        let mut history = g.inputs.clone();
        let mut transcript: Vec<String> = g
            .inputs
            .iter()
            .map(|m| line(m.name.as_deref(), &m.content))
            .collect();
        let mut shown_to_manager = 0;
        let mut heard: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<usize> = None;
        let mut stop = StopReasonType::EndTurn;
        for _ in 0..rounds {
            if g.cancelled() {
                stop = StopReasonType::Cancelled;
                break;
            }
            let options: Vec<&Member> = members
                .iter()
                .enumerate()
                .filter(|(i, _)| members.len() == 1 || Some(*i) != previous)
                .map(|(_, m)| m)
                .collect();
            let names: Vec<&str> = options.iter().map(|m| m.name.as_str()).collect();
            let ask = MessageCreate {
                role: MessageCreateRole::User,
                content: MessageContent::Text(format!(
                    "Pick the agent best placed to reply to the latest message of the group chat, \
                     among: {}. Do not reply to the chat yourself: answer with the name of the \
                     agent only.\n\nChat history:\n{}",
                    names.join(", "),
                    transcript[shown_to_manager..].join("\n")
                )),
                name: None,
                otid: None,
                sender_id: Some(manager.id.clone()),
                batch_item_id: None,
                group_id: Some(g.group.id.clone()),
            };
            shown_to_manager = transcript.len();
            let choice = g.member_turn(&manager, vec![ask], &tally).await?;
            if let Some(reason) = tally.add(&choice) {
                stop = reason;
                break;
            }
            let answer = g.said(&choice)?.into_iter().next().unwrap_or_default();
            let speaker = match named_speaker(&answer, &options) {
                Some(m) => m,
                None => options
                    .iter()
                    .copied()
                    .find(|m| {
                        let at = members.iter().position(|x| x.id == m.id).unwrap_or(0);
                        previous.is_none_or(|p| at == (p + 1) % members.len())
                    })
                    .unwrap_or(options[0]),
            };
            previous = members.iter().position(|m| m.id == speaker.id);
            let from = heard.get(&speaker.id).copied().unwrap_or(0);
            let turn = g
                .member_turn(speaker, history[from..].to_vec(), &tally)
                .await?;
            stop = turn.stop_reason;
            let ended = tally.add(&turn);
            let said = g.said(&turn)?;
            let relayed = g.relay(speaker, &said);
            transcript.extend(relayed.iter().map(|m| line(m.name.as_deref(), &m.content)));
            history.extend(relayed);
            heard.insert(speaker.id.clone(), history.len());
            if let Some(reason) = ended {
                stop = reason;
                break;
            }
            if said.iter().any(|text| text.contains(&token)) {
                break;
            }
        }
        let last = previous.map(|p| members[p].id.clone());
        for member in &members {
            if last.as_deref() == Some(member.id.as_str()) {
                continue;
            }
            let from = heard.get(&member.id).copied().unwrap_or(0);
            g.catch_up(member, &history[from..]).await?;
        }
        Ok(tally.finish(stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str) -> Member {
        Member {
            id: format!("agent-{name}"),
            name: name.to_owned(),
        }
    }

    #[test]
    fn the_last_named_option_speaks() {
        let (a, b) = (m("Alice"), m("bob"));
        let options = [&a, &b];
        assert_eq!(
            named_speaker("BOB should go", &options).map(|m| &m.id),
            Some(&b.id)
        );
        assert_eq!(
            named_speaker("alice or bob", &options).map(|m| &m.id),
            Some(&b.id)
        );
        assert_eq!(named_speaker("alice", &options).map(|m| &m.id), Some(&a.id));
        assert!(named_speaker("nobody", &options).is_none());
    }
}
