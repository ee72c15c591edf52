//! Groups of agents at run time: each manager type decides which agents speak and on what.

pub mod sleeptime;
