//! Turning text into passages: the chunker, the file types a source accepts, parsing of
//! uploaded files, an agent's line view of a file, and the file → passages job.

pub mod chunker;
pub mod file_types;
pub mod job;
pub mod lines;
pub mod parse;
