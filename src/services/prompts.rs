//! System prompts.
