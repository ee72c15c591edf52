//! One agent's turn: load the agent, then step (build the request, call the model, run the
//! tool, persist the step) until the agent yields, emitting events into a [`TurnSink`].
//!
//! - [`turn`]: the loop and its entry points ([`AgentLoop`]).
//! - [`step`]: what one step stores and whether the loop continues.
//! - [`request`]: the model request (messages, tool definitions).
//! - `exchange`: a turn's options, input checks, result and response messages.
//! - [`events`]: [`TurnEvent`], [`TurnSink`], the run context a turn executes under.
//! - [`deltas`]: token streaming's increments; [`summarizer`], [`context_window`].

pub mod context_window;
pub mod deltas;
pub mod events;
mod exchange;
pub mod request;
mod step;
pub mod summarizer;
mod trace;
mod turn;

pub use events::{CollectingSink, NullSink, RunContext, StreamMode, TurnEvent, TurnSink};
pub use exchange::{TurnOptions, TurnResult, response_messages, validate_inputs};
pub use turn::AgentLoop;
