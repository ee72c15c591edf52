//! Turning text into passages: the chunker now, file parsing and the file → passages job
//! when sources land.

pub mod chunker;
