//! Tool rules constrain which tool an agent may call when; they are discriminated by `type`.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum ToolRule {
    #[serde(rename = "constrain_child_tools")]
    Child(ChildToolRule),
    #[serde(rename = "run_first")]
    Init(InitToolRule),
    #[serde(rename = "exit_loop")]
    Terminal(TerminalToolRule),
    #[serde(rename = "conditional")]
    Conditional(ConditionalToolRule),
    #[serde(rename = "continue_loop")]
    Continue(ContinueToolRule),
    #[serde(rename = "required_before_exit")]
    RequiredBeforeExit(RequiredBeforeExitToolRule),
    #[serde(rename = "max_count_per_step")]
    MaxCountPerStep(MaxCountPerStepToolRule),
    #[serde(rename = "parent_last_tool")]
    Parent(ParentToolRule),
}

macro_rules! simple_rule {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
        pub struct $name {
            pub tool_name: String,
            #[serde(default)]
            pub prompt_template: Option<String>,
        }
    };
}

simple_rule!(InitToolRule);
simple_rule!(TerminalToolRule);
simple_rule!(ContinueToolRule);
simple_rule!(RequiredBeforeExitToolRule);

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct ChildToolRule {
    pub tool_name: String,
    #[serde(default)]
    pub prompt_template: Option<String>,
    pub children: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct ParentToolRule {
    pub tool_name: String,
    #[serde(default)]
    pub prompt_template: Option<String>,
    pub children: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct ConditionalToolRule {
    pub tool_name: String,
    #[serde(default)]
    pub prompt_template: Option<String>,
    #[serde(default)]
    pub default_child: Option<String>,
    #[schema(value_type = Object)]
    pub child_output_mapping: Map<String, Value>,
    #[serde(default)]
    pub require_output_mapping: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
pub struct MaxCountPerStepToolRule {
    pub tool_name: String,
    #[serde(default)]
    pub prompt_template: Option<String>,
    pub max_count_limit: i64,
}

impl ToolRule {
    pub fn type_name(&self) -> &'static str {
        match self {
            ToolRule::Child(_) => "constrain_child_tools",
            ToolRule::Init(_) => "run_first",
            ToolRule::Terminal(_) => "exit_loop",
            ToolRule::Conditional(_) => "conditional",
            ToolRule::Continue(_) => "continue_loop",
            ToolRule::RequiredBeforeExit(_) => "required_before_exit",
            ToolRule::MaxCountPerStep(_) => "max_count_per_step",
            ToolRule::Parent(_) => "parent_last_tool",
        }
    }

    pub fn tool_name(&self) -> &str {
        match self {
            ToolRule::Child(r) => &r.tool_name,
            ToolRule::Init(r) => &r.tool_name,
            ToolRule::Terminal(r) => &r.tool_name,
            ToolRule::Conditional(r) => &r.tool_name,
            ToolRule::Continue(r) => &r.tool_name,
            ToolRule::RequiredBeforeExit(r) => &r.tool_name,
            ToolRule::MaxCountPerStep(r) => &r.tool_name,
            ToolRule::Parent(r) => &r.tool_name,
        }
    }

    fn prompt_template_mut(&mut self) -> &mut Option<String> {
        match self {
            ToolRule::Child(r) => &mut r.prompt_template,
            ToolRule::Init(r) => &mut r.prompt_template,
            ToolRule::Terminal(r) => &mut r.prompt_template,
            ToolRule::Conditional(r) => &mut r.prompt_template,
            ToolRule::Continue(r) => &mut r.prompt_template,
            ToolRule::RequiredBeforeExit(r) => &mut r.prompt_template,
            ToolRule::MaxCountPerStep(r) => &mut r.prompt_template,
            ToolRule::Parent(r) => &mut r.prompt_template,
        }
    }

    pub fn prompt_template(&self) -> Option<&str> {
        match self {
            ToolRule::Child(r) => r.prompt_template.as_deref(),
            ToolRule::Init(r) => r.prompt_template.as_deref(),
            ToolRule::Terminal(r) => r.prompt_template.as_deref(),
            ToolRule::Conditional(r) => r.prompt_template.as_deref(),
            ToolRule::Continue(r) => r.prompt_template.as_deref(),
            ToolRule::RequiredBeforeExit(r) => r.prompt_template.as_deref(),
            ToolRule::MaxCountPerStep(r) => r.prompt_template.as_deref(),
            ToolRule::Parent(r) => r.prompt_template.as_deref(),
        }
    }

    /// The template a rule of this type renders with when none is given.
    pub fn default_prompt_template(&self) -> Option<&'static str> {
        Some(match self {
            ToolRule::Terminal(_) => {
                "<tool_rule>\n{{ tool_name }} ends your response (yields control) when called\n</tool_rule>"
            }
            ToolRule::Continue(_) => {
                "<tool_rule>\n{{ tool_name }} requires continuing your response when called\n</tool_rule>"
            }
            ToolRule::Child(_) => {
                "<tool_rule>\nAfter using {{ tool_name }}, you must use one of these tools: {{ children | join(', ') }}\n</tool_rule>"
            }
            ToolRule::Parent(_) => {
                "<tool_rule>\n{{ children | join(', ') }} can only be used after {{ tool_name }}\n</tool_rule>"
            }
            ToolRule::Conditional(_) => {
                "<tool_rule>\n{{ tool_name }} will determine which tool to use next based on its output\n</tool_rule>"
            }
            ToolRule::MaxCountPerStep(_) => {
                "<tool_rule>\n{{ tool_name }}: max {{ max_count_limit }} use(s) per response\n</tool_rule>"
            }
            ToolRule::RequiredBeforeExit(_) => {
                "<tool_rule>{{ tool_name }} must be called before ending the conversation</tool_rule>"
            }
            ToolRule::Init(_) => return None,
        })
    }

    /// Fills a missing `prompt_template` with the type's default, as stored rules carry it.
    pub fn with_default_template(mut self) -> Self {
        let default = self.default_prompt_template();
        let slot = self.prompt_template_mut();
        if slot.is_none() {
            *slot = default.map(str::to_owned);
        }
        self
    }

    pub fn terminal(tool_name: &str) -> Self {
        ToolRule::Terminal(TerminalToolRule {
            tool_name: tool_name.to_owned(),
            prompt_template: None,
        })
        .with_default_template()
    }

    pub fn continue_loop(tool_name: &str) -> Self {
        ToolRule::Continue(ContinueToolRule {
            tool_name: tool_name.to_owned(),
            prompt_template: None,
        })
        .with_default_template()
    }
}

/// Rules serialize as `tool_name, type, prompt_template, <type-specific fields>`, the
/// original's key order.
impl Serialize for ToolRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("tool_name", self.tool_name())?;
        map.serialize_entry("type", self.type_name())?;
        map.serialize_entry("prompt_template", &self.prompt_template())?;
        match self {
            ToolRule::Child(r) => map.serialize_entry("children", &r.children)?,
            ToolRule::Parent(r) => map.serialize_entry("children", &r.children)?,
            ToolRule::Conditional(r) => {
                map.serialize_entry("default_child", &r.default_child)?;
                map.serialize_entry("child_output_mapping", &r.child_output_mapping)?;
                map.serialize_entry("require_output_mapping", &r.require_output_mapping)?;
            }
            ToolRule::MaxCountPerStep(r) => {
                map.serialize_entry("max_count_limit", &r.max_count_limit)?
            }
            ToolRule::Init(_)
            | ToolRule::Terminal(_)
            | ToolRule::Continue(_)
            | ToolRule::RequiredBeforeExit(_) => {}
        }
        map.end()
    }
}
