//! Server-streaming watches of a vendor resource that has no push API: the
//! resource is read now and then on a backoff, each change is sent, and the
//! stream ends once the state is final, at the deadline, on the first error,
//! or at once when the caller goes away (no read happens after that).

use std::{future::Future, time::Duration};

use tokio::{sync::mpsc, time::Instant as Deadline};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;

use super::CallScope;
use crate::status::FacadeError;

/// How a watch paces its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// How long a watch runs when the caller sets no deadline.
    pub timeout: Duration,
    /// The longest pause between two reads (the pause doubles up to it).
    pub backoff_max: Duration,
}

impl WatchSettings {
    /// The first pause between reads.
    pub const FIRST_PAUSE: Duration = Duration::from_millis(500);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
    /// The vendor asks clients not to poll: a few reads a minute at most
    /// once a capture takes long.
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(8);
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            backoff_max: Self::DEFAULT_BACKOFF_MAX,
        }
    }
}

/// A stream of a watched resource's states.
pub type WatchStream<T> = ReceiverStream<Result<T, Status>>;

/// Starts the watch task and returns its stream. `read` reads the resource
/// once (through the same path as a unary read); `is_final` says when to
/// stop. The call's scope is closed when the task ends.
pub(crate) fn spawn<T, R, Fut>(
    scope: CallScope,
    deadline: Deadline,
    settings: WatchSettings,
    read: R,
    is_final: fn(&T) -> bool,
) -> WatchStream<T>
where
    T: PartialEq + Clone + Send + 'static,
    R: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, FacadeError>> + Send,
{
    // One message in flight: a slow reader slows the reads, never queues them.
    let (sender, receiver) = mpsc::channel(1);
    let task = async move {
        let watched = watch(&sender, deadline, settings, read, is_final);
        tokio::select! {
            ended = watched => match ended {
                Ok(()) => scope.close_ok(),
                Err(error) => {
                    let status = scope.close_with(&error);
                    let _ = sender.send(Err(status)).await;
                }
            },
            () = sender.closed() => scope.close_cancelled(),
        }
    };
    tokio::spawn(task.instrument(tracing::Span::current()));
    ReceiverStream::new(receiver)
}

async fn watch<T, R, Fut>(
    sender: &mpsc::Sender<Result<T, Status>>,
    deadline: Deadline,
    settings: WatchSettings,
    mut read: R,
    is_final: fn(&T) -> bool,
) -> Result<(), FacadeError>
where
    T: PartialEq + Clone,
    R: FnMut() -> Fut,
    Fut: Future<Output = Result<T, FacadeError>>,
{
    let mut last: Option<T> = None;
    let mut pause = WatchSettings::FIRST_PAUSE;
    loop {
        let state = read().await?;
        let done = is_final(&state);
        if last.as_ref() != Some(&state) {
            if sender.send(Ok(state.clone())).await.is_err() {
                return Ok(());
            }
            last = Some(state);
        }
        if done {
            return Ok(());
        }
        let wake = Deadline::now() + pause;
        if wake >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(FacadeError::NotFinalByDeadline);
        }
        tokio::time::sleep_until(wake).await;
        pause = (pause * 2).min(settings.backoff_max);
    }
}
