//! User-defined tools: the sandbox that derives their schemas and runs them.

pub mod sandbox;
