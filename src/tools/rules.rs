//! The tool-rule solver: which tools the agent may call next, given its rules and the calls
//! made so far in this request (spec: agent-loop-and-messages §6.4, §6.6).

use serde_json::Value;

use crate::schemas::tool_rule::ToolRule;

pub struct ToolRulesSolver {
    rules: Vec<ToolRule>,
    history: Vec<String>,
}

impl ToolRulesSolver {
    pub fn new(rules: &[ToolRule]) -> Self {
        ToolRulesSolver {
            rules: rules.to_vec(),
            history: Vec::new(),
        }
    }

    pub fn record_call(&mut self, tool_name: &str) {
        self.history.push(tool_name.to_owned());
    }

    pub fn last_call(&self) -> Option<&str> {
        self.history.last().map(String::as_str)
    }

    /// The tools allowed now, out of `candidates` (agent tool names, in agent order).
    /// `last_tool_output` is the `message` of the most recent tool result, used by
    /// conditional rules. Never empty when candidates are not: a rule set that allows
    /// nothing falls back to every candidate.
    pub fn allowed_tools(
        &self,
        candidates: &[String],
        last_tool_output: Option<&str>,
    ) -> Vec<String> {
        let all: Vec<String> = candidates.to_vec();
        let allowed = match self.last_call() {
            None => {
                let init: Vec<String> = self
                    .rules
                    .iter()
                    .filter_map(|r| match r {
                        ToolRule::Init(r) => Some(r.tool_name.clone()),
                        _ => None,
                    })
                    .collect();
                if !init.is_empty() {
                    all.iter().filter(|c| init.contains(c)).cloned().collect()
                } else {
                    let parents_only: Vec<&String> = self
                        .rules
                        .iter()
                        .filter_map(|r| match r {
                            ToolRule::Parent(p) => Some(&p.children),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    all.iter()
                        .filter(|c| !parents_only.contains(c))
                        .cloned()
                        .collect()
                }
            }
            Some(last) => {
                let mut current: Vec<String> = all.clone();
                for rule in &self.rules {
                    let set: Option<Vec<String>> = match rule {
                        ToolRule::Child(r) => (r.tool_name == last).then(|| r.children.clone()),
                        ToolRule::Parent(r) => Some(if r.tool_name == last {
                            r.children.clone()
                        } else {
                            all.iter()
                                .filter(|c| !r.children.contains(c))
                                .cloned()
                                .collect()
                        }),
                        ToolRule::MaxCountPerStep(r) => {
                            let used =
                                self.history.iter().filter(|h| **h == r.tool_name).count() as i64;
                            (used >= r.max_count_limit).then(|| {
                                all.iter().filter(|c| **c != r.tool_name).cloned().collect()
                            })
                        }
                        ToolRule::Conditional(r) if r.tool_name == last => {
                            Some(conditional_children(r, &all, last_tool_output))
                        }
                        _ => None,
                    };
                    if let Some(set) = set {
                        current.retain(|c| set.contains(c));
                    }
                }
                current
            }
        };
        if allowed.is_empty() { all } else { allowed }
    }

    pub fn is_terminal(&self, tool: &str) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r, ToolRule::Terminal(t) if t.tool_name == tool))
    }

    pub fn is_continue(&self, tool: &str) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r, ToolRule::Continue(t) if t.tool_name == tool))
    }

    /// Whether a child-based rule (children, conditional, max count) names this tool.
    pub fn has_children_rule(&self, tool: &str) -> bool {
        self.rules.iter().any(|r| match r {
            ToolRule::Child(c) => c.tool_name == tool,
            ToolRule::Conditional(c) => c.tool_name == tool,
            ToolRule::MaxCountPerStep(c) => c.tool_name == tool,
            _ => false,
        })
    }

    /// Tools that must be called before the turn may end and have not been yet.
    pub fn required_before_exit_pending(&self, attached: &[String]) -> Vec<String> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                ToolRule::RequiredBeforeExit(r) => Some(r.tool_name.clone()),
                _ => None,
            })
            .filter(|name| attached.contains(name) && !self.history.contains(name))
            .collect()
    }

    /// The error text a model sees when it calls a tool it may not call now.
    pub fn violation_message(&self, tool: &str, allowed: &[String]) -> String {
        let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
        let mut msg = format!(
            "[ToolConstraintError] Cannot call {tool}, valid tools include: [{}].",
            quoted.join(", ")
        );
        let last = self.last_call();
        let hints: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.tool_name() == tool || Some(r.tool_name()) == last)
            .filter_map(|r| crate::services::prompts::render_tool_rules(std::slice::from_ref(r)))
            .collect();
        if !hints.is_empty() {
            msg.push_str("\n** Hint: Possible rules that were violated:");
            for hint in hints {
                msg.push_str("\n\t- ");
                msg.push_str(&hint);
            }
        }
        msg
    }
}

/// The tool a conditional rule points to for the last tool's output.
fn conditional_children(
    rule: &crate::schemas::tool_rule::ConditionalToolRule,
    all: &[String],
    output: Option<&str>,
) -> Vec<String> {
    let fallback = || -> Vec<String> {
        if rule.require_output_mapping {
            Vec::new()
        } else if let Some(default) = &rule.default_child {
            vec![default.clone()]
        } else {
            all.to_vec()
        }
    };
    let Some(output) = output else {
        return fallback();
    };
    // The tool's output text may itself be JSON carrying a `message`.
    let value: Value = match serde_json::from_str::<Value>(output) {
        Ok(Value::Object(obj)) => obj.get("message").cloned().unwrap_or(Value::Null),
        Ok(other) => other,
        Err(_) => Value::String(output.to_owned()),
    };
    for (key, child) in &rule.child_output_mapping {
        let Some(child) = child.as_str() else {
            continue;
        };
        if output_matches(key, &value) {
            return vec![child.to_owned()];
        }
    }
    fallback()
}

fn output_matches(key: &str, value: &Value) -> bool {
    match value {
        Value::Bool(b) => key.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => key.parse::<f64>().ok() == n.as_f64(),
        Value::String(s) => {
            if let (Ok(a), Ok(b)) = (key.parse::<f64>(), s.parse::<f64>()) {
                a == b
            } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
                key.eq_ignore_ascii_case(s)
            } else {
                key == s
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::tool_rule::*;
    use serde_json::json;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn init_rules_restrict_the_first_call() {
        let rules = vec![ToolRule::Init(InitToolRule {
            tool_name: "a".into(),
            prompt_template: None,
        })];
        let mut s = ToolRulesSolver::new(&rules);
        let all = names(&["a", "b", "c"]);
        assert_eq!(s.allowed_tools(&all, None), names(&["a"]));
        s.record_call("a");
        assert_eq!(s.allowed_tools(&all, None), all);
    }

    #[test]
    fn child_and_parent_rules() {
        let rules = vec![
            ToolRule::Child(ChildToolRule {
                tool_name: "a".into(),
                prompt_template: None,
                children: names(&["b"]),
            }),
            ToolRule::Parent(ParentToolRule {
                tool_name: "p".into(),
                prompt_template: None,
                children: names(&["c"]),
            }),
        ];
        let mut s = ToolRulesSolver::new(&rules);
        let all = names(&["a", "b", "c", "p"]);
        assert_eq!(
            s.allowed_tools(&all, None),
            names(&["a", "b", "p"]),
            "c needs p first"
        );
        s.record_call("a");
        assert_eq!(s.allowed_tools(&all, None), names(&["b"]));
        s.record_call("p");
        assert_eq!(s.allowed_tools(&all, None), names(&["c"]));
    }

    #[test]
    fn max_count_and_required_before_exit() {
        let rules = vec![
            ToolRule::MaxCountPerStep(MaxCountPerStepToolRule {
                tool_name: "a".into(),
                prompt_template: None,
                max_count_limit: 2,
            }),
            ToolRule::RequiredBeforeExit(RequiredBeforeExitToolRule {
                tool_name: "b".into(),
                prompt_template: None,
            }),
        ];
        let mut s = ToolRulesSolver::new(&rules);
        let all = names(&["a", "b"]);
        s.record_call("a");
        assert_eq!(s.allowed_tools(&all, None), all);
        s.record_call("a");
        assert_eq!(s.allowed_tools(&all, None), names(&["b"]));
        assert_eq!(s.required_before_exit_pending(&all), names(&["b"]));
        s.record_call("b");
        assert!(s.required_before_exit_pending(&all).is_empty());
    }

    #[test]
    fn conditional_rule_maps_outputs() {
        let mut mapping = serde_json::Map::new();
        mapping.insert("true".into(), json!("yes"));
        mapping.insert("3".into(), json!("three"));
        let rules = vec![ToolRule::Conditional(ConditionalToolRule {
            tool_name: "check".into(),
            prompt_template: None,
            default_child: Some("fallback".into()),
            child_output_mapping: mapping,
            require_output_mapping: false,
        })];
        let mut s = ToolRulesSolver::new(&rules);
        let all = names(&["check", "yes", "three", "fallback"]);
        s.record_call("check");
        assert_eq!(s.allowed_tools(&all, Some("True")), names(&["yes"]));
        assert_eq!(s.allowed_tools(&all, Some("3.0")), names(&["three"]));
        assert_eq!(s.allowed_tools(&all, Some("other")), names(&["fallback"]));
    }

    #[test]
    fn violation_message_lists_tools_and_hints() {
        let rules = vec![ToolRule::terminal("send_message")];
        let s = ToolRulesSolver::new(&rules);
        let msg = s.violation_message("send_message", &names(&["a", "b"]));
        assert!(msg.starts_with(
            "[ToolConstraintError] Cannot call send_message, valid tools include: ['a', 'b']."
        ));
        assert!(msg.contains("** Hint"));
    }
}
