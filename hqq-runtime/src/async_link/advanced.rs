//! [`AsyncAdvancedLink`]: an [`AdvancedLink`] whose waits are futures.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use crate::advanced::handshake::{
    take_outcome, EncryptionHandshake, HandshakeAction, HandshakeFailure,
};
use crate::advanced::inbox::Inbox;
use crate::advanced::link::{negotiation_outcome, take_negotiate_answer, Answer};
use crate::advanced::task_pump::Attempt;
use crate::advanced::tasks::TaskKey;
use crate::advanced::{
    AcceptError, AcceptNegotiationError, AdvancedLink, CallKey, CloseError, DialError,
    NegotiateError, Negotiated, ProtocolOffer, TransportError,
};
use crate::codec::PacketCodec;
use crate::link::{LinkSendError, StandardLink};
use crate::packet::Packet;
use crate::protocol::{ConnAccept, ConnClose, Features, ProtoNegotiate};

use super::readiness::{PeerGone, Readiness};
use super::watcher::Interest;

/// Features the async link neither asks for nor grants (see
/// [`AsyncAdvancedLink::negotiate`]).
const ASYNC_WITHHELD: Features = Features::QUALITY_OF_SERVICE;

/// An [`AdvancedLink`] (over a [`StandardLink`]) with async operations:
/// negotiation, connections, large and streamed messages, calls and
/// requests, each waiting without blocking its thread (see "How a task
/// waits" below).
///
/// The async methods take `&self`: any number of tasks may call, send and
/// receive on one link at once, and blocking calls through
/// [`get_ref`](Self::get_ref) may run beside them. The link's
/// [`AdvancedConfig::timeout`](crate::advanced::AdvancedConfig::timeout)
/// does not apply to async operations: wrap them in `tokio::time::timeout`
/// (each method's "Cancel safety" section says what dropping it does). A
/// dead peer ends a wait with `PeerGone`.
///
/// Encryption ([`AdvancedConfig::encryption`](crate::advanced::AdvancedConfig::encryption))
/// works as on the blocking link: the negotiation runs the same handshake
/// steps (awaiting where the blocking link blocks), then every message
/// sent is sealed and every one received opened as there, so an async end
/// and a blocking end interoperate. So does FlowControl: a send waits
/// (as a registered waker, without spinning) for its connection's credit
/// before each chunk, and what a task takes gives the peer its credit
/// back. QualityOfService is neither asked for nor granted (see
/// [`negotiate`](Self::negotiate)).
///
/// ```
/// use std::sync::Arc;
/// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink};
/// use hqq_runtime::async_link::AsyncAdvancedLink;
/// use hqq_runtime::link::LinkConfig;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let config = AdvancedConfig::default();
/// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), config)?;
/// let (a, b) = (AsyncAdvancedLink::new(a), Arc::new(AsyncAdvancedLink::new(b)));
/// let server = tokio::spawn(async move {
///     b.accept_negotiation().await?;
///     let request = b.recv_request().await?;
///     b.respond(&request, &request.data).await?;
///     Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// });
/// a.negotiate(config.offer).await?;
/// let response = a.call(1, b"ping").await?;
/// assert_eq!(response.data, b"ping");
/// server.await??;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// # How a task waits
///
/// The blocking link's receive path has one pumper at a time and sleepers
/// on a condition variable (see [`AdvancedLink`]'s docs). A task takes part
/// in the same hand-off: each poll it takes its item from the inbox if it is
/// there; else it registers its waker in the inbox and, if nobody pumps,
/// receives what has arrived (bounded, without waiting) and looks again.
/// When the ring is drained, the link's one *ring watch* (a registration
/// with the process's waiter thread, shared by all the link's tasks) is
/// armed; when the ring becomes ready a *turn* at the pump is wanted, and
/// the next waiting task to run (one is woken only if none is about to
/// run anyway) pumps for everyone, even if it found its own item. So a
/// turn costs the same with a thousand waiting tasks as with one. What a
/// pump routes wakes the tasks it is
/// for: a call's response wakes its caller alone. Threads and tasks can
/// wait on one link at once: a thread that stops pumping gives a task the
/// turn, and a task that pumped signals sleeping threads.
///
/// No task keeps a thread, and none spins for more than the link's
/// [`WaitPolicy::spin`](crate::wait::WaitPolicy::spin).
pub struct AsyncAdvancedLink {
    link: Arc<AdvancedLink>,
    /// The link's ring watch (see "How a task waits" above).
    ring: Mutex<Readiness>,
    /// Wakes one waiting task when the ring watch fires.
    ring_waker: Waker,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncAdvancedLink>();
};

impl std::fmt::Debug for AsyncAdvancedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncAdvancedLink")
            .field("negotiation", &self.link.negotiation_state())
            .field("waiting_tasks", &self.waiting_tasks())
            .finish_non_exhaustive()
    }
}

/// The ring watch's waker: gives one of the link's waiting tasks a turn.
struct RingWake(Weak<AdvancedLink>);

impl Wake for RingWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(link) = self.0.upgrade() {
            link.wake_task_turn();
        }
    }
}

/// A task's registration in the inbox, withdrawn when the wait ends or its
/// future is dropped.
struct TaskGuard<'a> {
    link: &'a AdvancedLink,
    key: Option<TaskKey>,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.link.forget_task(&mut self.key);
    }
}

/// Runs `on_drop` unless disarmed: what a dropped future must undo.
pub(super) struct Undo<F: FnMut()>(Option<F>);

impl<F: FnMut()> Undo<F> {
    pub(super) fn new(on_drop: F) -> Self {
        Undo(Some(on_drop))
    }

    /// The operation finished: nothing to undo.
    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<F: FnMut()> Drop for Undo<F> {
    fn drop(&mut self) {
        if let Some(on_drop) = self.0.as_mut() {
            on_drop();
        }
    }
}

fn lock(readiness: &Mutex<Readiness>) -> MutexGuard<'_, Readiness> {
    // A readiness is consistent whenever its lock is free.
    readiness.lock().unwrap_or_else(PoisonError::into_inner)
}

impl From<AdvancedLink> for AsyncAdvancedLink {
    fn from(link: AdvancedLink) -> Self {
        AsyncAdvancedLink::new(link)
    }
}

impl AsyncAdvancedLink {
    /// Makes `link`'s waits async.
    pub fn new(link: AdvancedLink) -> Self {
        AsyncAdvancedLink::from_arc(Arc::new(link))
    }

    /// Makes the waits of a shared link async (other holders may keep
    /// using it with blocking calls).
    pub fn from_arc(link: Arc<AdvancedLink>) -> Self {
        let ring_waker = Waker::from(Arc::new(RingWake(Arc::downgrade(&link))));
        AsyncAdvancedLink {
            link,
            ring: Mutex::default(),
            ring_waker,
        }
    }

    /// The link, for its blocking and `try_` operations and its accessors
    /// (`listen`, `is_open`, `stats`, `negotiated`, `set_streaming`, ...).
    pub fn get_ref(&self) -> &AdvancedLink {
        &self.link
    }

    /// The shared link.
    pub fn link(&self) -> &Arc<AdvancedLink> {
        &self.link
    }

    /// How many tasks wait in this link's inbox now (for diagnostics and
    /// tests: 0 once every future has completed or been dropped).
    pub fn waiting_tasks(&self) -> usize {
        self.link.task_count()
    }

    pub(super) fn standard(&self) -> &StandardLink {
        self.link.transport()
    }

    /// Arms the ring watch: ready if the ring has packets (someone should
    /// pump), else the waiter thread gives a task a turn once it has.
    fn arm_ring(&self) -> Poll<Result<(), PeerGone>> {
        let mut cx = Context::from_waker(&self.ring_waker);
        lock(&self.ring).poll_ready(&self.link, Interest::Data, &mut cx)
    }

    /// Waits until `take` finds what it wants in the inbox (`call`: the
    /// call it waits for, so that only its response wakes it). `take` runs
    /// under the inbox lock within a poll, so what it takes is returned by
    /// that poll: a dropped future took nothing.
    pub(super) async fn wait_for<R>(
        &self,
        call: Option<CallKey>,
        mut take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> Result<R, TransportError> {
        let mut task = TaskGuard {
            link: &self.link,
            key: None,
        };
        poll_fn(|cx| loop {
            match self
                .link
                .attempt(&mut task.key, cx.waker(), call, &mut take)
            {
                Attempt::Found(found, others_wait) => {
                    // This task pumped last: the others need the ring watched.
                    if others_wait && self.arm_ring().is_ready() {
                        self.link.wake_task_turn();
                    }
                    // A wait ended: the next one spins first again.
                    lock(&self.ring).restart_spin();
                    return Poll::Ready(Ok(found));
                }
                Attempt::Failed(e) => return Poll::Ready(Err(e)),
                Attempt::Busy => return Poll::Pending,
                Attempt::Drained => {
                    let armed = if self.standard().peer_known_gone() {
                        Poll::Ready(Err(PeerGone))
                    } else {
                        self.arm_ring()
                    };
                    match armed {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(PeerGone)) => {
                            self.link.forget_task(&mut task.key);
                            // Every other task sees it too.
                            self.link.wake_all_tasks();
                            return Poll::Ready(Err(TransportError::PeerGone));
                        }
                        // Packets arrived since the drain: pump again (the
                        // ring watch yields after a few rounds).
                        Poll::Ready(Ok(())) => {}
                    }
                }
            }
        })
        .await
    }

    /// Publishes the packet `fill` returns in a slot of the send ring,
    /// waiting while the ring is full. `fill` runs only in the poll that
    /// claimed the slot, which also publishes it.
    pub(super) async fn send_packet_with(
        &self,
        mut fill: impl FnMut(&mut [u8]) -> Packet,
    ) -> Result<(), TransportError> {
        let mut space = Readiness::default();
        loop {
            match self
                .standard()
                .try_send_packet_with(|_, buffer| fill(buffer))
            {
                Err(LinkSendError::WouldBlock) => {
                    space
                        .ready(&self.link, Interest::Space)
                        .await
                        .map_err(|PeerGone| TransportError::PeerGone)?;
                    // Queued notices take the room first.
                    self.link.flush_replies();
                }
                result => return result.map_err(TransportError::from),
            }
        }
    }

    /// Sends a control packet, waiting while the ring is full (after the
    /// queued notices, such as aborts of cancelled sends).
    async fn send_control(&self, packet: Packet) -> Result<(), TransportError> {
        self.link.flush_replies();
        self.send_packet_with(|_| packet).await
    }

    /// Sends `packet` now, or queues it with the replies (sent when the
    /// peer's ring has room) if this future is dropped first.
    async fn send_or_queue(&self, packet: Packet) -> Result<(), TransportError> {
        let mut queue = Undo::new(|| self.link.queue_reply(packet));
        let sent = self.send_control(packet).await;
        queue.disarm();
        sent
    }

    // ---- negotiation ----------------------------------------------------
    //
    // QualityOfService is never asked for nor granted here
    // (`ASYNC_WITHHELD`): the async send path does not wait for a turn
    // yet, so granting it would let its sends jump the priority classes.

    /// Initiates the negotiation with `offer` and waits for the peer's
    /// answer, then runs the encryption handshake if Encryption was
    /// granted. See [`AdvancedLink::negotiate`]. QualityOfService is taken
    /// out of `offer` (the async send path does not honour it yet).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a link negotiates once, and dropping this future
    /// before it completes (while it waits for the answer or at any step of
    /// the handshake) fails the negotiation for good, as a timeout does
    /// (the link then refuses every Advanced operation, and a half-done
    /// handshake is forgotten).
    pub async fn negotiate(&self, mut offer: ProtocolOffer) -> Result<Negotiated, NegotiateError> {
        offer.features = offer.features.difference(ASYNC_WITHHELD);
        if !self.link.start_negotiation() {
            return Err(NegotiateError::AlreadyNegotiated);
        }
        let mut failed = Undo::new(|| self.fail_negotiation());
        let started = Instant::now();
        self.link.expect_ack();
        let outcome = async {
            self.send_control(offer.request().encode()).await?;
            let answer = self.wait_for(None, take_negotiate_answer).await?;
            let negotiated = negotiation_outcome(&offer, &answer, started)?;
            if let Some(handshake) = EncryptionHandshake::initiate(&self.link, &negotiated)? {
                self.drive_handshake(handshake).await?;
            }
            Ok(Negotiated {
                elapsed: started.elapsed(),
                ..negotiated
            })
        }
        .await;
        failed.disarm();
        self.link.finish_negotiation(outcome)
    }

    /// Waits for the peer's ProtoNegotiate and answers it with what this
    /// side speaks, then runs the encryption handshake if it granted
    /// Encryption. See [`AdvancedLink::wait_for_negotiation`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping this future before it completes fails the
    /// negotiation for good, as a timeout does (a peer whose request was
    /// taken then waits for an answer, or for the handshake's next step,
    /// until its own timeout).
    pub async fn accept_negotiation(&self) -> Result<Negotiated, AcceptNegotiationError> {
        if !self.link.start_negotiation() {
            return Err(AcceptNegotiationError::AlreadyNegotiated);
        }
        let mut failed = Undo::new(|| self.fail_negotiation());
        let started = Instant::now();
        let outcome = async {
            let packet = self
                .wait_for(None, |inbox| inbox.negotiate_request.take())
                .await?;
            // The inbox keeps only ProtoNegotiate packets that decode.
            let request = ProtoNegotiate::decode(&packet)
                .map_err(|_| AcceptNegotiationError::Transport(TransportError::Corrupt))?;
            match self.link.answer_request(&request, started, ASYNC_WITHHELD) {
                Answer::Refuse(error, refused) => {
                    self.send_control(error).await?;
                    Err(refused)
                }
                Answer::Plain(ack, negotiated) => {
                    self.send_control(ack).await?;
                    Ok(negotiated)
                }
                Answer::Handshake(handshake, negotiated) => {
                    self.drive_handshake(handshake).await?;
                    Ok(Negotiated {
                        elapsed: started.elapsed(),
                        ..negotiated
                    })
                }
            }
        }
        .await;
        failed.disarm();
        self.link.finish_negotiation(outcome)
    }

    /// A negotiation future was dropped: the negotiation fails for good
    /// and a half-done handshake is forgotten.
    fn fail_negotiation(&self) {
        EncryptionHandshake::abandon(&self.link);
        let _ = self.link.finish_negotiation::<()>(Err(()));
    }

    /// Runs `handshake` to its end, each send and wait an await (the async
    /// counterpart of the blocking link's driver of the same steps).
    async fn drive_handshake(
        &self,
        mut handshake: EncryptionHandshake,
    ) -> Result<(), HandshakeFailure> {
        loop {
            match handshake.next() {
                HandshakeAction::Send(outgoing) => {
                    let sent = self.send_packet_with(|buffer| outgoing.fill(buffer)).await;
                    if let (Err(e), true) = (sent, outgoing.required) {
                        EncryptionHandshake::abandon(&self.link);
                        return Err(e.into());
                    }
                }
                HandshakeAction::AwaitPeer => match self.wait_for(None, take_outcome).await {
                    Ok(outcome) => handshake.received(&self.link, outcome),
                    Err(e) => {
                        EncryptionHandshake::abandon(&self.link);
                        return Err(e.into());
                    }
                },
                HandshakeAction::Done(outcome) => return Ok(outcome?),
            }
        }
    }

    // ---- connections ----------------------------------------------------

    /// Waits for the peer to open a connection (this side must
    /// [`listen`](AdvancedLink::listen)), accepts it and returns its id.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken from the backlog only in the poll
    /// that answers it, or, if the ring is full then, it is closed again
    /// when the future is dropped (the peer is told with a ConnClose, so
    /// its dial fails); no connection is left open that nobody got.
    pub async fn accept(&self) -> Result<u64, AcceptError> {
        self.link.require(None)?;
        let id = self
            .wait_for(None, |inbox| inbox.connections.take_incoming())
            .await?;
        let mut refuse = Undo::new(|| self.refuse(id));
        let accept = ConnAccept { connection: id }.encode();
        let sent = self.send_control(accept).await;
        refuse.disarm();
        if let Err(e) = sent {
            self.link.accept_failed(id);
            return Err(e.into());
        }
        Ok(id)
    }

    /// An accepted connection whose ConnAccept was never sent: closed here,
    /// and the peer's dial told (queued, sent when its ring has room).
    fn refuse(&self, id: u64) {
        self.link.accept_failed(id);
        self.link.queue_reply(close_notice(id));
    }

    /// Opens a connection to the peer (which must listen) and returns its
    /// id. See [`AdvancedLink::dial`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropped before the ConnCreate left, nothing happened;
    /// dropped after, the dial is given up and the peer told with a
    /// ConnClose (queued with the replies), so it does not keep a
    /// connection nobody here knows.
    pub async fn dial(&self) -> Result<u64, DialError> {
        let (id, create) = self.link.start_dial()?;
        let sent = AtomicBool::new(false);
        let mut give_up = Undo::new(|| {
            self.link.cancel_dial(id);
            if sent.load(Ordering::Relaxed) {
                self.link.queue_reply(close_notice(id));
            }
        });
        self.send_control(create).await?;
        sent.store(true, Ordering::Relaxed);
        let outcome = self
            .wait_for(None, |inbox| inbox.connections.take_dial(id))
            .await;
        match outcome {
            Ok(Ok(())) => {
                give_up.disarm();
                Ok(id)
            }
            Ok(Err(failure)) => {
                give_up.disarm();
                Err(failure.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Closes connection `id`: it closes here at once (its pending calls
    /// fail, its waiters wake), then the peer is told, waiting while the
    /// ring is full.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the connection is closed by the first poll; if the
    /// future is dropped before the notice left, the notice is queued with
    /// the replies and sent when the peer's ring has room.
    pub async fn close(&self, id: u64) -> Result<(), CloseError> {
        if let Some(notice) = self.link.close_here(id)? {
            self.send_or_queue(notice).await?;
        }
        Ok(())
    }
}

/// The ConnClose that tells the peer connection `id` is closed.
fn close_notice(id: u64) -> Packet {
    ConnClose {
        connection: id,
        reason: 0,
    }
    .encode()
}
