//! Tools as the loop runs them: parsing the model's call ([`calls`]), the tool-rule solver
//! ([`rules`]), and execution dispatched by tool type ([`registry`], [`executor`]); each kind
//! of tool lives in a file of its own ([`core`] for Letta's built-in memory and message tools,
//! [`voice`], [`builtin`], and [`custom`] for user-defined Python, which runs out of process
//! through [`crate::sandbox`]).

pub mod builtin;
pub mod calls;
pub mod core;
pub mod custom;
pub mod executor;
pub mod files;
pub mod mcp;
pub mod registry;
pub mod rules;
pub mod voice;
