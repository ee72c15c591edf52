//! A [`ChatModel`] wrapper that records each call in the metrics (provider, outcome,
//! duration, tokens), so every protocol is measured the same way in one place.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use futures_util::Stream;

use super::chat::{
    ChatModel, ChatRequest, ChatResponse, ChatStream, ChatStreamEvent, LlmError, Usage,
};
use crate::meters;

/// The outcome label of a call that answered; a failed one is labelled with its error kind.
const SUCCESS: &str = "success";

/// (prompt, completion) tokens, as the metrics count them.
fn tokens(usage: Option<Usage>) -> Option<(i64, i64)> {
    usage.map(|u| (u.prompt_tokens, u.completion_tokens))
}

pub struct Metered {
    pub inner: Box<dyn ChatModel>,
    /// The endpoint type (`openai`, `anthropic`, …): a bounded label.
    pub provider: String,
}

#[async_trait]
impl ChatModel for Metered {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let result = self.inner.complete(request).await;
        let (outcome, usage) = match &result {
            Ok(response) => (SUCCESS, Some(response.usage)),
            Err(err) => (err.kind.as_str(), None),
        };
        meters::llm_call(&self.provider, outcome, started.elapsed(), tokens(usage));
        result
    }

    async fn stream(&self, request: &ChatRequest) -> Result<ChatStream, LlmError> {
        let started = Instant::now();
        match self.inner.stream(request).await {
            Ok(inner) => Ok(Box::pin(MeteredStream {
                inner,
                call: Some(Call {
                    provider: self.provider.clone(),
                    started,
                    usage: None,
                }),
            })),
            Err(err) => {
                let outcome = err.kind.as_str();
                meters::llm_call(&self.provider, outcome, started.elapsed(), None);
                Err(err)
            }
        }
    }
}

/// A streamed call being measured; recorded once, when the stream ends, fails or is
/// dropped unfinished.
struct Call {
    provider: String,
    started: Instant,
    usage: Option<Usage>,
}

impl Call {
    fn finish(self, outcome: &str) {
        meters::llm_call(
            &self.provider,
            outcome,
            self.started.elapsed(),
            tokens(self.usage),
        );
    }
}

struct MeteredStream {
    inner: ChatStream,
    call: Option<Call>,
}

impl Stream for MeteredStream {
    type Item = Result<ChatStreamEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(Ok(ChatStreamEvent::Usage(usage))) => {
                if let Some(call) = self.call.as_mut() {
                    call.usage = Some(*usage);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                if let Some(call) = self.call.take() {
                    call.finish(err.kind.as_str());
                }
            }
            None => {
                if let Some(call) = self.call.take() {
                    call.finish(SUCCESS);
                }
            }
        }
        Poll::Ready(item)
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            // The caller stopped reading (a cancelled run) before the answer ended.
            call.finish("abandoned");
        }
    }
}
