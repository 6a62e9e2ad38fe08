//! The scanner: one reader of the stream's newest events per node, so that a push wakes only the spoolers whose
//! projections read one of its events.
//!
//! On every wake-up (a push, a notification from another node, the timer) the scanner reads the events after
//! the point it has seen, without type filters, and for each projection either wakes its spooler (an event it
//! reads arrived) or records that its view already reflects everything up to the new point (nothing it reads
//! arrived). Spoolers whose view reflects everything the scanner has seen skip their own read.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tracing::{debug, warn};
use warden_eventstore::{Cursor, Eventstore, StreamScan};

use crate::{node::Node, spooler::Slot};

/// Most events the scanner reads at once.
const SCAN_LIMIT: u32 = 512;

/// While a scan finds committed events that the stream does not show yet, scan again after these delays (the
/// last one repeating until none is left): on PostgreSQL an event becomes readable only once every older
/// transaction has ended, which may be a moment after its push returned, and nothing announces that moment.
/// A scan that finds none waits for the next push or notification: the pushes it has not seen yet had not
/// committed when it read, and each one wakes the scanner after its commit.
const RECHECKS: [Duration; 4] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_secs(1),
];

/// Under a steady stream of pushes the scanner reads at most once per this interval, so the events of the
/// pushes in between are read with one statement and reach each spooler as one batch (one view transaction,
/// which on SQLite holds the single writer once rather than for every push). The first wake-up after a quiet
/// moment is read at once, and a reader waiting for a view ([`crate::Spoolers::ensure_caught_up`]) has its
/// spooler read the stream itself, not wait for the scanner.
const GATHER: Duration = Duration::from_millis(2);

/// Scans once: reads what is new since `seen`, wakes or advances each slot, and returns the new `seen` and
/// whether committed events wait behind the horizon ([`warden_eventstore::StreamScan::pending`]).
async fn scan(
    node: &Node,
    slots: &[Arc<Slot>],
    mut seen: Cursor,
) -> Result<(Cursor, bool), crate::Error> {
    loop {
        // The read has no type filter, so it returns every final event after `seen` (up to the limit): when
        // it is not full, its last event is the head, and every event up to it is final.
        let StreamScan { events, pending } = node.store.scan_stream(seen, SCAN_LIMIT).await?;
        let full = u32::try_from(events.len()).unwrap_or(u32::MAX) >= SCAN_LIMIT;
        let to = events.last().map_or(seen, |last| last.cursor().max(seen));
        node.set_head(to);
        if !events.is_empty() {
            for observe in &node.observers.all() {
                observe(&events);
            }
        }
        for slot in slots {
            let ours: Vec<_> = events.iter().filter(|e| slot.reads(e)).cloned().collect();
            if ours.is_empty() {
                slot.raise_applied_over(seen, to, slot.epoch());
            } else if slot.held.load(Ordering::SeqCst) {
                slot.deliver(seen, to, ours);
                slot.wake.notify_one();
            }
        }
        seen = to;
        node.set_seen(seen);
        if !full {
            return Ok((seen, pending));
        }
    }
}

/// Runs the scanner until `shutdown`.
pub(crate) async fn run(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut seen = loop {
        match node.store.head().await {
            Ok(head) => break head,
            Err(err) => {
                warn!(error = %err, "scanner cannot read the stream head; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    };
    node.set_head(seen);
    node.set_seen(seen);
    let mut pushes = node.store.subscribe();
    // Rechecks done since the last scan that read something or found nothing pending.
    let mut rechecks = 0;
    let mut last_scan: Option<Instant> = None;
    loop {
        let wait = if node.pending.load(Ordering::SeqCst) {
            rechecks += 1;
            RECHECKS[(rechecks - 1).min(RECHECKS.len() - 1)]
        } else {
            node.config.poll_interval
        };
        tokio::select! {
            // A push through this node's store.
            changed = pushes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = node.scan_wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        if let Some(since) = last_scan.map(|at| at.elapsed())
            && since < GATHER
        {
            tokio::time::sleep(GATHER - since).await;
        }
        last_scan = Some(Instant::now());
        let slots = node.registry.all();
        match scan(&node, &slots, seen).await {
            Ok((next, pending)) => {
                if next != seen || !pending {
                    rechecks = 0;
                }
                seen = next;
                node.pending.store(pending, Ordering::SeqCst);
            }
            Err(err) => {
                debug!(error = %err, "scan failed; the spoolers read on their own meanwhile");
                for slot in &slots {
                    slot.force_read.store(true, Ordering::SeqCst);
                    slot.wake.notify_one();
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}
