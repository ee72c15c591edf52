//! The sink a run's turn emits into: each event becomes an SSE frame on the run's log,
//! filtered by the message types the client asked for. The run's last frames (stop reason,
//! usage, `[DONE]`, or the error frame) are written here too, so frames are made in one
//! place.

use crate::agent::{TurnEvent, TurnResult, TurnSink};
use crate::runs::{RunHandle, frames};
use crate::schemas::letta_message::LettaStopReason;
use crate::services::ServiceResult;

pub struct RunSink {
    handle: RunHandle,
    /// `include_return_message_types`: only these message types reach the client.
    types: Option<Vec<String>>,
}

impl RunSink {
    pub fn new(handle: RunHandle, types: Option<Vec<String>>) -> Self {
        RunSink { handle, types }
    }

    /// The frames that end the stream: the stop reason, usage and `[DONE]`, or the error
    /// frame.
    pub fn end(&self, result: &ServiceResult<TurnResult>) {
        match result {
            Ok(turn) => {
                self.emit(TurnEvent::Stop(turn.stop_reason));
                self.emit(TurnEvent::Usage(turn.usage.clone()));
                self.handle.publish(frames::DONE.to_owned());
            }
            Err(err) => self.handle.publish(frames::error(&err.frame_error())),
        }
    }

    /// Ends the stream with the bare error frame (the task died; no error to name).
    pub fn fail(&self) {
        self.handle.publish(frames::ERROR.to_owned());
    }
}

impl TurnSink for RunSink {
    fn emit(&self, event: TurnEvent) {
        let frame = match event {
            TurnEvent::Message(message) => {
                if let Some(types) = &self.types
                    && !types.iter().any(|t| t == message.message_type())
                {
                    return;
                }
                frames::data(&message)
            }
            TurnEvent::Stop(reason) => frames::data(&LettaStopReason::new(reason)),
            TurnEvent::Usage(usage) => frames::data(&usage),
        };
        self.handle.publish(frame);
    }
}
