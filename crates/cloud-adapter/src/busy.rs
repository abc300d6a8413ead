//! How long the cloud keeps a load balancer busy after a change, learnt from this client's
//! own waits, so the wait before the next change polls when the load balancer is likely
//! ready instead of on a blind exponential schedule: less idle time between the steps of a
//! deployment (occm-style controllers spend most of a 10-pool deployment waiting) and fewer
//! readiness `GET`s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What put a load balancer into its busy state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Created: `CREATING` (about a minute on VNGCloud).
    Create,
    /// Any other change: `UPDATING` (seconds).
    Update,
}

/// Weight of a new sample in the running estimate.
const ALPHA: f64 = 0.3;
/// A load balancer found ready at the first poll was ready some time before it: the sample
/// is shrunk by this factor, so an estimate that is too long comes down.
const EARLY: f64 = 0.9;

/// Pending changes of this client and the learnt busy time of each kind of change.
#[derive(Debug, Default)]
pub(crate) struct BusyTimes {
    pending: HashMap<String, (Instant, Change)>,
    create: Option<Duration>,
    update: Option<Duration>,
}

impl BusyTimes {
    /// Records an accepted change of `lb_id` made now (a create is not turned into an
    /// update by a later change before it was seen ready: the create still dominates).
    pub(crate) fn changed(&mut self, lb_id: &str, change: Change) {
        let entry = self
            .pending
            .entry(lb_id.to_owned())
            .or_insert((Instant::now(), change));
        if entry.1 == Change::Update {
            *entry = (Instant::now(), change);
        }
    }

    /// Forgets `lb_id` (seen ready, or deleted).
    pub(crate) fn forget(&mut self, lb_id: &str) {
        self.pending.remove(lb_id);
    }

    /// The pending change of `lb_id`, if this client made one it has not seen ready since.
    pub(crate) fn pending(&self, lb_id: &str) -> Option<(Instant, Change)> {
        self.pending.get(lb_id).copied()
    }

    /// The learnt busy time of `change`, once one wait has been measured.
    pub(crate) fn estimate(&self, change: Change) -> Option<Duration> {
        match change {
            Change::Create => self.create,
            Change::Update => self.update,
        }
    }

    /// Learns from a wait: the load balancer was seen ready `elapsed` after the change, at
    /// the first poll (`first_poll`) or after `last_gap` of polling since the previous poll.
    pub(crate) fn learn(
        &mut self,
        change: Change,
        elapsed: Duration,
        first_poll: bool,
        last_gap: Duration,
    ) {
        // Ready some time in the last gap: take its middle (or a little less than the time
        // of a first-poll success, which may have come late).
        let sample = if first_poll {
            elapsed.mul_f64(EARLY)
        } else {
            elapsed.saturating_sub(last_gap / 2)
        };
        let slot = match change {
            Change::Create => &mut self.create,
            Change::Update => &mut self.update,
        };
        *slot = Some(match *slot {
            None => sample,
            Some(old) => old.mul_f64(1.0 - ALPHA) + sample.mul_f64(ALPHA),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_estimate_starts_at_the_first_sample_and_follows_later_ones() {
        let mut b = BusyTimes::default();
        assert_eq!(b.estimate(Change::Update), None);
        b.learn(Change::Update, 1000 * MS, false, 200 * MS);
        assert_eq!(b.estimate(Change::Update), Some(900 * MS));
        assert_eq!(b.estimate(Change::Create), None, "kinds are learnt apart");
        // Found ready at the first poll, again and again: the estimate comes down (3 % a
        // wait: a little each time, as the first poll may just have been late).
        for _ in 0..30 {
            let e = b.estimate(Change::Update).unwrap();
            b.learn(Change::Update, e, true, Duration::ZERO);
        }
        assert!(b.estimate(Change::Update).unwrap() < 450 * MS);
        // Longer waits pull it up again.
        for _ in 0..30 {
            b.learn(Change::Update, 600 * MS, false, 100 * MS);
        }
        let e = b.estimate(Change::Update).unwrap();
        assert!(e > 500 * MS && e <= 550 * MS, "{e:?}");
    }

    #[test]
    fn a_create_stays_pending_as_a_create_until_seen_ready() {
        let mut b = BusyTimes::default();
        b.changed("lb", Change::Create);
        b.changed("lb", Change::Update);
        assert_eq!(b.pending("lb").map(|p| p.1), Some(Change::Create));
        b.forget("lb");
        assert_eq!(b.pending("lb"), None);
        b.changed("lb", Change::Update);
        assert_eq!(b.pending("lb").map(|p| p.1), Some(Change::Update));
    }
}
