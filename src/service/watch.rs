//! Server-streaming watches of a vendor resource: the resource is read now,
//! then again whenever a [`Wake`] says it may have changed (a vendor
//! webhook) or its timer fires (a backoff, the only source for a resource
//! without a push API); each change is sent, and the stream ends once the
//! state is final, at the deadline, on the first error, or at once when the
//! caller goes away (no read happens after that).

use std::{future::Future, time::Duration};

use opentelemetry::context::FutureExt as _;
use tokio::{sync::mpsc, time::Instant as Deadline};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::CallScope;
use crate::status::FacadeError;

/// How a watch paces its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// How long a watch runs when the caller sets no deadline.
    pub timeout: Duration,
    /// The longest pause between two reads (the pause doubles up to it).
    pub backoff_max: Duration,
    /// The pause between two reads of a watch that a webhook wakes: a
    /// fallback for a lost delivery, slow since the vendor asks clients not
    /// to poll.
    pub fallback_poll: Duration,
}

/// How a watch's timer paces its reads: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    pub first: Duration,
    pub max: Duration,
}

impl WatchSettings {
    /// The backoff of a watch with nothing but its timer.
    pub fn backoff(&self) -> Pacing {
        Pacing {
            first: Self::FIRST_PAUSE,
            max: self.backoff_max,
        }
    }

    /// The steady, slow timer of a watch that a webhook wakes.
    pub fn fallback(&self) -> Pacing {
        Pacing {
            first: self.fallback_poll,
            max: self.fallback_poll,
        }
    }
}

/// What wakes a watch before its timer: a notice that the watched resource
/// may have changed.
pub(crate) trait Wake: Send + 'static {
    /// Resolves at the next notice.
    fn changed(&mut self) -> impl Future<Output = ()> + Send;
}

/// No notices: the timer alone paces the reads.
pub(crate) struct TimerOnly;

impl Wake for TimerOnly {
    async fn changed(&mut self) {
        std::future::pending::<()>().await;
    }
}

impl WatchSettings {
    /// The first pause between reads.
    pub const FIRST_PAUSE: Duration = Duration::from_millis(500);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
    /// The vendor asks clients not to poll: a few reads a minute at most
    /// once a capture takes long.
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(8);
    /// Two reads a minute per watch that a webhook wakes.
    pub const DEFAULT_FALLBACK_POLL: Duration = Duration::from_secs(30);
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            backoff_max: Self::DEFAULT_BACKOFF_MAX,
            fallback_poll: Self::DEFAULT_FALLBACK_POLL,
        }
    }
}

/// A stream of a watched resource's states.
pub type WatchStream<T> = ReceiverStream<Result<T, Status>>;

/// Starts the watch task and returns its stream. `read` reads the resource
/// once (through the same path as a unary read); `is_final` says when to
/// stop; `wake` may bring a read forward (subscribe it before the call, so
/// that no notice is lost between the first read and the wait). The call's
/// scope is closed when the task ends.
pub(crate) fn spawn<T, R, Fut, W>(
    scope: CallScope,
    deadline: Deadline,
    pacing: Pacing,
    wake: W,
    read: R,
    is_final: fn(&T) -> bool,
) -> WatchStream<T>
where
    W: Wake,
    T: PartialEq + Clone + Send + 'static,
    R: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, FacadeError>> + Send,
{
    // One message in flight: a slow reader slows the reads, never queues them.
    let (sender, receiver) = mpsc::channel(1);
    let task = async move {
        let watched = watch(&sender, deadline, pacing, wake, read, is_final);
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
    tokio::spawn(task.with_current_context());
    ReceiverStream::new(receiver)
}

async fn watch<T, R, Fut, W: Wake>(
    sender: &mpsc::Sender<Result<T, Status>>,
    deadline: Deadline,
    pacing: Pacing,
    mut wake: W,
    mut read: R,
    is_final: fn(&T) -> bool,
) -> Result<(), FacadeError>
where
    T: PartialEq + Clone,
    R: FnMut() -> Fut,
    Fut: Future<Output = Result<T, FacadeError>>,
{
    let mut last: Option<T> = None;
    let mut pause = pacing.first;
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
        let timer = (Deadline::now() + pause).min(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(timer) => {
                if timer >= deadline {
                    return Err(FacadeError::NotFinalByDeadline);
                }
                pause = (pause * 2).min(pacing.max);
            }
            // A notice: read now. Should that read not show the change yet
            // (the vendor's read lagging its own notice), the next reads come
            // quickly again, slowing back down to the pacing's maximum.
            () = wake.changed() => pause = WatchSettings::FIRST_PAUSE.min(pacing.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// Notices sent by the test.
    struct Notices(mpsc::UnboundedReceiver<()>);

    impl Wake for Notices {
        async fn changed(&mut self) {
            if self.0.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
    }

    const SLOW: Pacing = Pacing {
        first: Duration::from_secs(30),
        max: Duration::from_secs(30),
    };

    type Read = Box<dyn FnMut() -> std::future::Ready<Result<u32, FacadeError>> + Send>;

    /// Reads answering `answers` in turn (the last one repeated), counted.
    fn reads(answers: &'static [u32]) -> (Arc<AtomicUsize>, Read) {
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let read = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(answers[n.min(answers.len() - 1)]))
        };
        (count, Box::new(read))
    }

    /// A running watch: its read count, its states, its notices, its end.
    type Running = (
        Arc<AtomicUsize>,
        mpsc::Receiver<Result<u32, Status>>,
        mpsc::UnboundedSender<()>,
        tokio::task::JoinHandle<Result<(), FacadeError>>,
    );

    fn start(answers: &'static [u32]) -> Running {
        let (sender, states) = mpsc::channel(8);
        let (notify, notices) = mpsc::unbounded_channel();
        let (count, read) = reads(answers);
        let deadline = Deadline::now() + Duration::from_secs(300);
        let task = tokio::spawn(async move {
            watch(&sender, deadline, SLOW, Notices(notices), read, |n| *n == 9).await
        });
        (count, states, notify, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_notice_brings_the_read_forward_and_nothing_else_reads() {
        let (count, mut states, notify, task) = start(&[1, 9]);
        assert_eq!(states.recv().await.unwrap().unwrap(), 1);
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "no read before the timer");
        let noticed = Deadline::now();
        notify.send(()).unwrap();
        assert_eq!(states.recv().await.unwrap().unwrap(), 9);
        assert!(noticed.elapsed() < Duration::from_millis(10));
        assert!(task.await.unwrap().is_ok());
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn without_notices_the_timer_reads_and_a_lagging_read_is_retried_soon() {
        let (count, mut states, notify, task) = start(&[1, 2, 2, 9]);
        let started = Deadline::now();
        assert_eq!(states.recv().await.unwrap().unwrap(), 1);
        assert_eq!(states.recv().await.unwrap().unwrap(), 2);
        assert!(
            started.elapsed() >= Duration::from_secs(30),
            "the slow timer"
        );
        // A notice whose read shows no change yet: the next read comes soon.
        let noticed = Deadline::now();
        notify.send(()).unwrap();
        assert_eq!(states.recv().await.unwrap().unwrap(), 9);
        assert_eq!(count.load(Ordering::SeqCst), 4);
        assert!(noticed.elapsed() <= WatchSettings::FIRST_PAUSE);
        assert!(task.await.unwrap().is_ok());
    }
}
