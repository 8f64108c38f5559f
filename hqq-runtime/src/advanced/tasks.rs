//! Tasks waiting in the inbox: what the condition variable is for threads,
//! for async waits (see `crate::async_link`'s Advanced link).
//!
//! A task that found nothing in the inbox registers its [`Waker`] here,
//! under the inbox lock, before it looks at the pump; so a delivery or a
//! pump hand-off after its look always finds it registered. It is woken:
//!
//! * when its call completes, if it waits for a call (only that task);
//! * when anything else is delivered, if it waits for something other than
//!   a call (every such task looks for its item, as threads do);
//! * for a *turn*, when the pump needs someone to receive: a thread gave
//!   the pump back, or the ring became ready. One task is enough; if it
//!   goes away before it ran, its turn passes to another.
//!
//! A registration lasts for its task's whole wait and is removed when the
//! wait ends or its future is dropped. Runtime-agnostic: only
//! `std::task::Waker`.

// Only async links register tasks; without them the table stays empty.
#![cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]

use std::task::Waker;

use crate::advanced::calls::CallKey;
use crate::advanced::idmap::IdMap;

/// Names one registration; stale once the registration is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    index: usize,
    generation: u64,
}

#[derive(Debug)]
struct Waiting {
    waker: Waker,
    /// The call it waits for (`None`: something else).
    call: Option<CallKey>,
    /// Woken and not yet run again (no need to wake it twice).
    woken: bool,
    /// Woken to take a turn at the pump.
    turn: bool,
}

/// The registered tasks of one inbox.
#[derive(Debug, Default)]
pub(crate) struct TaskWaiters {
    slots: Vec<Option<(u64, Waiting)>>,
    free: Vec<usize>,
    next_generation: u64,
    len: usize,
    /// Registered tasks that wait for something other than a call (so a
    /// delivery wakes nobody, and scans nothing, when there are none).
    others: usize,
    calls: IdMap<CallKey, TaskKey>,
}

impl TaskWaiters {
    /// Whether no task waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many tasks wait.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn get_mut(&mut self, key: TaskKey) -> Option<&mut Waiting> {
        match self.slots.get_mut(key.index) {
            Some(Some((generation, waiting))) if *generation == key.generation => Some(waiting),
            _ => None,
        }
    }

    /// Registers (or refreshes, as the task runs again) the wait `key` of a
    /// task waiting for `call` (or for anything else), woken through `waker`.
    pub(crate) fn register(
        &mut self,
        key: &mut Option<TaskKey>,
        waker: &Waker,
        call: Option<CallKey>,
    ) {
        if let Some(waiting) = key.and_then(|k| self.get_mut(k)) {
            if !waiting.waker.will_wake(waker) {
                waiting.waker.clone_from(waker);
            }
            waiting.woken = false;
            waiting.turn = false;
            return;
        }
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let waiting = Waiting {
            waker: waker.clone(),
            call,
            woken: false,
            turn: false,
        };
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some((generation, waiting));
        }
        let new = TaskKey { index, generation };
        match call {
            Some(call) => {
                self.calls.insert(call, new);
            }
            None => self.others += 1,
        }
        self.len += 1;
        *key = Some(new);
    }

    /// Removes the registration `key` names. If the task had been woken for
    /// a turn it did not take, the turn passes to another task.
    pub(crate) fn remove(&mut self, key: &mut Option<TaskKey>) {
        let Some(k) = key.take() else { return };
        let Some(slot) = self.slots.get_mut(k.index) else {
            return;
        };
        if !matches!(slot, Some((generation, _)) if *generation == k.generation) {
            return;
        }
        let Some((_, waiting)) = slot.take() else {
            return;
        };
        self.free.push(k.index);
        self.len -= 1;
        match waiting.call {
            Some(call) => {
                self.calls.remove(&call);
            }
            None => self.others -= 1,
        }
        if waiting.turn {
            self.wake_turn();
        }
    }

    fn wake(waiting: &mut Waiting) {
        if !waiting.woken {
            waiting.woken = true;
            waiting.waker.wake_by_ref();
        }
    }

    /// Wakes the task waiting for `call`, if any.
    pub(crate) fn wake_call(&mut self, call: CallKey) {
        if let Some(key) = self.calls.get(&call).copied() {
            if let Some(waiting) = self.get_mut(key) {
                Self::wake(waiting);
            }
        }
    }

    /// Wakes every task that waits for something other than a call.
    pub(crate) fn wake_others(&mut self) {
        if self.others == 0 {
            return;
        }
        for (_, waiting) in self.slots.iter_mut().flatten() {
            if waiting.call.is_none() {
                Self::wake(waiting);
            }
        }
    }

    /// Wakes every task (a connection closed, the peer is gone).
    pub(crate) fn wake_all(&mut self) {
        for (_, waiting) in self.slots.iter_mut().flatten() {
            Self::wake(waiting);
        }
    }

    /// Wakes one task to take a turn at the pump (one not woken yet if
    /// there is one: a woken task runs anyway).
    pub(crate) fn wake_turn(&mut self) {
        let mut chosen = None;
        for (_, waiting) in self.slots.iter_mut().flatten() {
            if !waiting.woken {
                chosen = Some(waiting);
                break;
            }
            chosen.get_or_insert(waiting);
        }
        if let Some(waiting) = chosen {
            waiting.turn = true;
            Self::wake(waiting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(Ordering::Relaxed)
    }

    #[test]
    fn calls_are_woken_alone_and_others_together() {
        let mut tasks = TaskWaiters::default();
        let call = CallKey {
            connection: 0,
            message: 7,
        };
        let ((a, wa), (b, wb), (c, wc)) = (waker(), waker(), waker());
        let (mut ka, mut kb, mut kc) = (None, None, None);
        tasks.register(&mut ka, &wa, Some(call));
        tasks.register(&mut kb, &wb, None);
        tasks.register(&mut kc, &wc, None);
        tasks.wake_call(call);
        assert_eq!((woken(&a), woken(&b), woken(&c)), (1, 0, 0));
        tasks.wake_others();
        tasks.wake_others();
        assert_eq!(
            (woken(&a), woken(&b), woken(&c)),
            (1, 1, 1),
            "woken once until it runs"
        );
        tasks.register(&mut kb, &wb, None);
        tasks.wake_all();
        assert_eq!((woken(&a), woken(&b), woken(&c)), (1, 2, 1));
        for key in [&mut ka, &mut kb, &mut kc] {
            tasks.remove(key);
        }
        assert!(tasks.is_empty() && tasks.calls.is_empty() && tasks.others == 0);
    }

    #[test]
    fn a_turn_not_taken_passes_on() {
        let mut tasks = TaskWaiters::default();
        let ((a, wa), (b, wb)) = (waker(), waker());
        let (mut ka, mut kb) = (None, None);
        tasks.register(&mut ka, &wa, None);
        tasks.register(&mut kb, &wb, None);
        tasks.wake_turn();
        assert_eq!((woken(&a), woken(&b)), (1, 0));
        // The woken task goes away before it ran: the other gets the turn.
        tasks.remove(&mut ka);
        assert_eq!(woken(&b), 1);
        // A task that ran took its turn: removing it wakes nobody.
        tasks.register(&mut kb, &wb, None);
        tasks.remove(&mut kb);
        assert_eq!(tasks.len(), 0);
        tasks.remove(&mut kb);
    }
}
