//! System prompts: the base instructions per agent type (our own text), and compilation of
//! an agent's full system prompt from its base prompt, memory blocks, tool rules and
//! metadata, in the structure the original uses (spec: agent-loop-and-messages §3).

use chrono::Utc;
use chrono_tz::Tz;

use crate::schemas::Timestamp;
use crate::schemas::agent::AgentType;
use crate::schemas::block::Block;
use crate::schemas::common::char_len;
use crate::schemas::tool_rule::ToolRule;

const CHAT_PROMPT: &str = "<base_instructions>
You are a persistent conversational agent with a memory that outlives any single conversation.
You speak with a user through the send_message tool: it is the only way your words reach them.
Everything else you produce is private reasoning; keep it short and use it to plan.

How you work:
- You act in steps. Each step you may call one tool. When a tool needs a follow-up step,
  set request_heartbeat to true and you will get control back after the tool result.
- You do not run continuously: you wake when the user writes, when a tool result arrives, or
  when the system sends you an event. Make each step count.

Your memory:
- Core memory is always in front of you, shown below as labelled blocks (for example
  `persona` for who you are and `human` for what you know about the user). Keep it accurate
  and current with the memory tools; it is limited in size, so store what matters most.
- Recall memory is the full history of your conversation. Older messages may leave your
  context, but you can search them with conversation_search.
- Archival memory is a large store for facts and notes that do not fit in core memory.
  Write to it with archival_memory_insert and search it with archival_memory_search.

Stay in character as described by your persona. Never say you are an AI language model or
that you cannot remember things: you can, using the tools above.
</base_instructions>";

const SLEEPTIME_PROMPT: &str = "<base_instructions>
You are a background memory agent. You do not talk to the user. You read the conversation
of the agent you support and keep its memory blocks well organised, correct and concise.

Use the memory editing tools to add new facts, fix outdated ones and remove duplicates.
Edit precisely: change only what needs to change. When the memory is in good shape, call
memory_finish_edits to end your turn.
</base_instructions>";

const REACT_PROMPT: &str = "<base_instructions>
You are an agent that solves tasks by reasoning and acting. Think about what the task needs,
call the tools available to you, read their results, and repeat until you can give a final
answer. Prefer a small number of well-chosen tool calls over many speculative ones.
</base_instructions>";

const WORKFLOW_PROMPT: &str = "<base_instructions>
You are an agent that executes a defined workflow. Follow the tool rules you are given, call
the tools in the order the workflow requires, and stop when the workflow is complete.
</base_instructions>";

const VOICE_CHAT_PROMPT: &str = "<base_instructions>
You are a voice assistant. Your replies are spoken aloud, so keep them short, natural and
easy to follow by ear: no lists, markup or long numbers. Use your memory to stay consistent
with what you know about the user, and search your memory when the user refers to the past.
</base_instructions>";

const VOICE_SLEEPTIME_PROMPT: &str = "<base_instructions>
You are a background memory agent for a voice assistant. Read the recent conversation,
store the passages worth remembering, and rewrite the user memory block so it reflects
what is now known about the user. Finish by calling finish_rethinking_memory.
</base_instructions>";

/// The base system prompt an agent of this type gets when none is given; `None` for types
/// that must be created with an explicit prompt.
pub fn base_system_prompt(agent_type: AgentType) -> Option<&'static str> {
    Some(match agent_type {
        AgentType::MemgptAgent | AgentType::MemgptV2Agent => CHAT_PROMPT,
        AgentType::SleeptimeAgent => SLEEPTIME_PROMPT,
        AgentType::ReactAgent => REACT_PROMPT,
        AgentType::WorkflowAgent => WORKFLOW_PROMPT,
        AgentType::VoiceConvoAgent => VOICE_CHAT_PROMPT,
        AgentType::VoiceSleeptimeAgent => VOICE_SLEEPTIME_PROMPT,
        AgentType::SplitThreadAgent => return None,
    })
}

const MEMORY_HEADER: &str = "These are the memory blocks currently loaded into your core memory:";
const TOOL_RULES_HEADER: &str =
    "Follow these rules when choosing tools. One response may contain several tool calls.";

/// How memory is rendered for an agent type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemoryStyle {
    Plain,
    LineNumbered,
    DirectoriesOnly,
}

fn memory_style(agent_type: AgentType) -> MemoryStyle {
    match agent_type {
        AgentType::MemgptV2Agent | AgentType::SleeptimeAgent => MemoryStyle::LineNumbered,
        AgentType::ReactAgent | AgentType::WorkflowAgent => MemoryStyle::DirectoriesOnly,
        _ => MemoryStyle::Plain,
    }
}

/// The Jinja template `Memory.prompt_template` reports: the rendering [`render_memory`]
/// performs, written as a template for clients that render memory themselves.
pub fn memory_prompt_template(agent_type: AgentType) -> &'static str {
    match memory_style(agent_type) {
        MemoryStyle::Plain => concat!(
            "<memory_blocks>\nThese are the memory blocks currently loaded into your core memory:\n\n",
            "{% for block in blocks %}<{{ block.label }}>\n<description>\n{{ block.description }}\n</description>\n",
            "<metadata>{% if block.read_only %}\n- read_only=true{% endif %}\n- chars_current={{ block.value|length }}\n",
            "- chars_limit={{ block.limit }}\n</metadata>\n<value>\n{{ block.value }}\n</value>\n</{{ block.label }}>\n",
            "{% if not loop.last %}\n{% endif %}{% endfor %}\n</memory_blocks>"
        ),
        MemoryStyle::LineNumbered => concat!(
            "<memory_blocks>\nThese are the memory blocks currently loaded into your core memory:\n\n",
            "{% for block in blocks %}<{{ block.label }}>\n<description>\n{{ block.description }}\n</description>\n",
            "<metadata>{% if block.read_only %}\n- read_only=true{% endif %}\n- chars_current={{ block.value|length }}\n",
            "- chars_limit={{ block.limit }}\n</metadata>\n<value>\n",
            "# Line numbers are shown to help you edit; never include them in memory edits.\n",
            "{% for line in block.value.split('\\n') %}Line {{ loop.index }}: {{ line }}\n{% endfor %}",
            "</value>\n</{{ block.label }}>\n{% if not loop.last %}\n{% endif %}{% endfor %}\n</memory_blocks>"
        ),
        MemoryStyle::DirectoriesOnly => "",
    }
}

/// Most characters of a file shown in an agent's context (the original's limit).
pub const FILE_BLOCK_CHAR_LIMIT: usize = 50_000;

/// Appended to a file's view cut at [`FILE_BLOCK_CHAR_LIMIT`].
const FILE_TRUNCATED_NOTE: &str =
    "...[TRUNCATED]\n# NOTE: This block is truncated, use functions to view the full content.";

/// A source attached to an agent and the agent's files of it, for the `<directories>`
/// section of the system prompt.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub name: String,
    pub description: Option<String>,
    pub instructions: Option<String>,
    /// `(file name, visible content)`: the content is empty while the file is closed.
    pub files: Vec<(String, String)>,
}

/// A file's view as its block shows it: cut to [`FILE_BLOCK_CHAR_LIMIT`] characters with a
/// note when longer.
pub fn file_block_value(visible: &str) -> String {
    if char_len(visible) <= FILE_BLOCK_CHAR_LIMIT {
        return visible.to_owned();
    }
    let keep = FILE_BLOCK_CHAR_LIMIT - char_len(FILE_TRUNCATED_NOTE);
    let mut out: String = visible.chars().take(keep).collect();
    out.push_str(FILE_TRUNCATED_NOTE);
    out
}

/// The `<directories>` section: one directory per source with its files, open files with
/// their visible content. Empty when the agent has no sources.
pub fn render_directories(directories: &[Directory]) -> String {
    if directories.is_empty() {
        return String::new();
    }
    let mut out = String::from("<directories>\n");
    for dir in directories {
        out.push_str(&format!("<directory name=\"{}\">\n", dir.name));
        if let Some(d) = dir.description.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(&format!("<description>{d}</description>\n"));
        }
        if let Some(i) = dir.instructions.as_deref().filter(|i| !i.is_empty()) {
            out.push_str(&format!("<instructions>{i}</instructions>\n"));
        }
        for (name, value) in &dir.files {
            let value = file_block_value(value);
            let status = if value.is_empty() { "closed" } else { "open" };
            out.push_str(&format!(
                "<file status=\"{status}\" name=\"{name}\">\n<metadata>\n- read_only=true\n\
                 - chars_current={}\n- chars_limit={FILE_BLOCK_CHAR_LIMIT}\n</metadata>\n",
                char_len(&value)
            ));
            if !value.is_empty() {
                out.push_str(&format!("<value>\n{value}\n</value>\n"));
            }
            out.push_str("</file>\n");
        }
        out.push_str("</directory>\n");
    }
    out.push_str("</directories>");
    out
}

/// Renders the memory section (`M`): blocks, then tool rules when given, then the
/// directories of the agent's sources.
pub fn render_memory(
    agent_type: AgentType,
    blocks: &[Block],
    tool_rules: Option<&[ToolRule]>,
    directories: &[Directory],
) -> String {
    let style = memory_style(agent_type);
    if style == MemoryStyle::DirectoriesOnly {
        return render_directories(directories);
    }
    let mut out = String::new();
    out.push_str("<memory_blocks>\n");
    out.push_str(MEMORY_HEADER);
    out.push_str("\n\n");
    for (i, block) in blocks.iter().enumerate() {
        let label = block.label();
        out.push_str(&format!("<{label}>\n<description>\n"));
        out.push_str(block.description.as_deref().unwrap_or("None"));
        out.push_str("\n</description>\n<metadata>");
        if block.read_only {
            out.push_str("\n- read_only=true");
        }
        out.push_str(&format!(
            "\n- chars_current={}\n- chars_limit={}\n</metadata>\n<value>\n",
            char_len(&block.value),
            block.limit
        ));
        match style {
            MemoryStyle::LineNumbered => {
                out.push_str(
                    "# Line numbers are shown to help you edit; never include them in memory edits.\n",
                );
                for (n, line) in block.value.split('\n').enumerate() {
                    out.push_str(&format!("Line {}: {line}\n", n + 1));
                }
            }
            _ => {
                out.push_str(&block.value);
                out.push('\n');
            }
        }
        out.push_str(&format!("</value>\n</{label}>\n"));
        if i + 1 < blocks.len() {
            out.push('\n');
        }
    }
    out.push_str("\n</memory_blocks>");
    out.push_str("\n\n");
    if let Some(rules) = tool_rules
        && let Some(section) = render_tool_rules(rules)
    {
        out.push_str("<tool_usage_rules>\n");
        out.push_str(TOOL_RULES_HEADER);
        out.push_str("\n\n");
        out.push_str(&section);
        out.push_str("\n</tool_usage_rules>");
    }
    out.push_str("\n\n");
    out.push_str(&render_directories(directories));
    out
}

/// Order in which rule kinds are rendered.
fn rule_rank(rule: &ToolRule) -> u8 {
    match rule {
        ToolRule::Init(_) => 0,
        ToolRule::Continue(_) => 1,
        ToolRule::Child(_) | ToolRule::Conditional(_) | ToolRule::MaxCountPerStep(_) => 2,
        ToolRule::Parent(_) => 3,
        ToolRule::Terminal(_) => 4,
        ToolRule::RequiredBeforeExit(_) => 5,
    }
}

/// Renders each rule's template; `None` when no rule renders.
pub fn render_tool_rules(rules: &[ToolRule]) -> Option<String> {
    let mut ordered: Vec<&ToolRule> = rules
        .iter()
        .filter(|r| !matches!(r, ToolRule::RequiredBeforeExit(_)))
        .collect();
    ordered.sort_by_key(|r| rule_rank(r));
    let rendered: Vec<String> = ordered
        .into_iter()
        .filter_map(|rule| {
            let template = rule.prompt_template().or(rule.default_prompt_template())?;
            Some(render_rule_template(template, rule))
        })
        .collect();
    if rendered.is_empty() {
        None
    } else {
        Some(rendered.join("\n"))
    }
}

/// Fills the variables rule templates use: `{{ tool_name }}`, `{{ children | join(', ') }}`,
/// `{{ children }}`, `{{ max_count_limit }}`.
fn render_rule_template(template: &str, rule: &ToolRule) -> String {
    let children: Option<&[String]> = match rule {
        ToolRule::Child(r) => Some(&r.children),
        ToolRule::Parent(r) => Some(&r.children),
        _ => None,
    };
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let expr = rest[start + 2..start + end].trim();
        let (var, filter) = match expr.split_once('|') {
            Some((v, f)) => (v.trim(), Some(f.trim())),
            None => (expr, None),
        };
        let value = match var {
            "tool_name" => rule.tool_name().to_owned(),
            "children" => {
                let items = children.unwrap_or_default();
                match filter {
                    Some(f) if f.starts_with("join") => {
                        let sep = f.split(['\'', '"']).nth(1).unwrap_or(", ");
                        items.join(sep)
                    }
                    _ => format!("{items:?}"),
                }
            }
            "max_count_limit" => match rule {
                ToolRule::MaxCountPerStep(r) => r.max_count_limit.to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        out.push_str(&value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// An instant as the agent sees it: `2025-07-01 03:04:05 PM UTC+0000` in its timezone.
pub fn format_agent_time(ts: Timestamp, timezone: Option<&str>) -> String {
    let tz: Tz = timezone.and_then(|t| t.parse().ok()).unwrap_or(Tz::UTC);
    ts.with_timezone(&tz)
        .format("%Y-%m-%d %I:%M:%S %p %Z%z")
        .to_string()
}

/// Whether a timezone name is one we can render.
pub fn is_valid_timezone(name: &str) -> bool {
    name.parse::<Tz>().is_ok()
}

/// The memory metadata section (`META`).
pub fn render_metadata(
    timezone: Option<&str>,
    memory_edited_at: Timestamp,
    previous_message_count: i64,
    archival_memory_size: i64,
) -> String {
    format!(
        "<memory_metadata>\n- The current time is: {}\n- Memory blocks were last modified: {}\n- {} previous messages between you and the user are stored in recall memory (use tools to access them)\n- {} total memories you created are stored in archival memory (use tools to access them)\n</memory_metadata>",
        format_agent_time(Utc::now(), timezone),
        format_agent_time(memory_edited_at, timezone),
        previous_message_count,
        archival_memory_size,
    )
}

/// Everything the compiled system prompt depends on.
pub struct PromptInputs<'a> {
    pub base: &'a str,
    pub agent_type: AgentType,
    pub blocks: &'a [Block],
    /// `None` leaves the tool-rules section out (as at creation).
    pub tool_rules: Option<&'a [ToolRule]>,
    pub timezone: Option<&'a str>,
    pub memory_edited_at: Timestamp,
    pub previous_message_count: i64,
    pub archival_memory_size: i64,
    /// The agent's sources and files (`<directories>`).
    pub directories: &'a [Directory],
}

/// `base + "\n\n" + M + "\n\n" + META`, or `M + "\n\n" + META` in place of a
/// `{CORE_MEMORY}` placeholder in the base prompt.
pub fn compile_system_prompt(inputs: &PromptInputs<'_>) -> String {
    let memory = render_memory(
        inputs.agent_type,
        inputs.blocks,
        inputs.tool_rules,
        inputs.directories,
    );
    let meta = render_metadata(
        inputs.timezone,
        inputs.memory_edited_at,
        inputs.previous_message_count,
        inputs.archival_memory_size,
    );
    let section = format!("{memory}\n\n{meta}");
    if inputs.base.contains("{CORE_MEMORY}") {
        inputs.base.replace("{CORE_MEMORY}", &section)
    } else {
        format!("{}\n\n{section}", inputs.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::tool_rule::{ChildToolRule, ToolRule};

    fn block(label: &str, value: &str) -> Block {
        Block {
            value: value.to_owned(),
            limit: 5000,
            name: None,
            is_template: false,
            preserve_on_migration: Some(false),
            label: Some(label.to_owned()),
            read_only: false,
            description: Some("desc".to_owned()),
            metadata: None,
            id: "block-1".to_owned(),
            organization_id: None,
            created_by_id: None,
            last_updated_by_id: None,
        }
    }

    #[test]
    fn memory_without_rules_has_six_newlines_before_metadata() {
        let blocks = [block("human", "Name: Bob")];
        let prompt = compile_system_prompt(&PromptInputs {
            base: "BASE",
            agent_type: AgentType::MemgptAgent,
            blocks: &blocks,
            tool_rules: None,
            timezone: None,
            memory_edited_at: Utc::now(),
            previous_message_count: 0,
            archival_memory_size: 0,
            directories: &[],
        });
        assert!(prompt.starts_with("BASE\n\n<memory_blocks>\n"));
        assert!(prompt.contains("<human>\n<description>\ndesc\n</description>\n<metadata>\n- chars_current=9\n- chars_limit=5000\n</metadata>\n<value>\nName: Bob\n</value>\n</human>\n\n</memory_blocks>\n\n\n\n\n\n<memory_metadata>"));
        assert!(prompt.contains("- 0 previous messages"));
    }

    #[test]
    fn tool_rules_render_in_kind_order() {
        let rules = vec![
            ToolRule::terminal("send_message"),
            ToolRule::Child(ChildToolRule {
                tool_name: "a".into(),
                prompt_template: None,
                children: vec!["b".into(), "c".into()],
            }),
            ToolRule::continue_loop("conversation_search"),
        ];
        let rendered = render_tool_rules(&rules).unwrap();
        let cont = rendered.find("conversation_search requires").unwrap();
        let child = rendered
            .find("After using a, you must use one of these tools: b, c")
            .unwrap();
        let term = rendered.find("send_message ends your response").unwrap();
        assert!(cont < child && child < term, "{rendered}");
    }

    #[test]
    fn line_numbered_values_for_v2_agents() {
        let blocks = [block("persona", "one\ntwo")];
        let m = render_memory(AgentType::MemgptV2Agent, &blocks, None, &[]);
        assert!(m.contains("Line 1: one\nLine 2: two\n</value>"));
    }

    #[test]
    fn agent_time_uses_the_agent_timezone() {
        let ts = chrono::DateTime::parse_from_rfc3339("2025-07-01T15:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_agent_time(ts, None),
            "2025-07-01 03:04:05 PM UTC+0000"
        );
        assert_eq!(
            format_agent_time(ts, Some("America/New_York")),
            "2025-07-01 11:04:05 AM EDT-0400"
        );
    }
}
