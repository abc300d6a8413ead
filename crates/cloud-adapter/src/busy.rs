//! How long the cloud keeps a load balancer busy after a change, learnt from this client's
//! own waits, so the wait before the next change polls when the load balancer is likely
//! ready instead of on a blind exponential schedule: less idle time between the steps of a
//! deployment (occm-style controllers spend most of a 10-pool deployment waiting) and fewer
//! readiness `GET`s.
//!
//! Each load balancer has its own estimate: one that stays `UPDATING` for minutes does not
//! delay the changes of the others. A load balancer this client has not waited for yet
//! starts from the median of the latest waits of every load balancer, which one slow
//! outlier cannot move. An estimate that proves too long (the first poll already finds the
//! load balancer ready) is cut by 10 %, and by more each time in a row that it proves too
//! long again, so a load balancer that was slow once is back to its real time within a few
//! changes, while an estimate close to the real time only moves a little.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What put a load balancer into its busy state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Created: `CREATING` (about a minute on VNGCloud).
    Create,
    /// Any other change: `UPDATING` (seconds).
    Update,
}

/// Weight of a new measured sample in a load balancer's running estimate.
const ALPHA: f64 = 0.5;
/// A load balancer found ready at the first poll was ready some time before it: its
/// estimate is cut to this share of the time waited, squared for each such wait in a row
/// (0.9, 0.81, 0.66, 0.43, ...: probing down toward the real time).
const EARLY: f64 = 0.9;
/// The streak of too-long waits stops deepening the cut here.
const MAX_STREAK: u32 = 4;
/// How many of the latest samples (of every load balancer) the starting estimate of a load
/// balancer without history is the median of.
const RECENT: usize = 15;

/// Learnt busy times of one kind of change.
#[derive(Debug, Default)]
struct Learnt {
    /// Estimate per load balancer id, with how many waits in a row found it too long.
    per_lb: HashMap<String, (Duration, u32)>,
    /// The latest samples over all load balancers, oldest first.
    recent: VecDeque<Duration>,
}

impl Learnt {
    fn estimate(&self, lb_id: &str) -> Option<Duration> {
        self.per_lb
            .get(lb_id)
            .map(|&(estimate, _)| estimate)
            .or_else(|| median(&self.recent))
    }

    fn learn(&mut self, lb_id: &str, sample: Duration, first_poll: bool) {
        let next = match (self.per_lb.get(lb_id).copied(), first_poll) {
            // Too long: ready before the poll. Cut a share of the time actually waited,
            // a deeper one for each too-long wait in a row.
            (Some((old, streak)), true) => {
                let cut = EARLY.powi(1 << streak.min(MAX_STREAK));
                (old.min(sample).mul_f64(cut), streak + 1)
            }
            (None, true) => (sample.mul_f64(EARLY), 1),
            (Some((old, _)), false) => (old.mul_f64(1.0 - ALPHA) + sample.mul_f64(ALPHA), 0),
            (None, false) => (sample, 0),
        };
        self.per_lb.insert(lb_id.to_owned(), next);
        let next = next.0;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(next);
    }
}

/// The median (the upper one of an even count) of `samples`.
fn median(samples: &VecDeque<Duration>) -> Option<Duration> {
    let mut sorted: Vec<Duration> = samples.iter().copied().collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// Pending changes of this client and the learnt busy time of each load balancer and kind
/// of change.
#[derive(Debug, Default)]
pub(crate) struct BusyTimes {
    pending: HashMap<String, (Instant, Change)>,
    create: Learnt,
    update: Learnt,
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

    /// Forgets the pending change of `lb_id` (seen ready).
    pub(crate) fn forget(&mut self, lb_id: &str) {
        self.pending.remove(lb_id);
    }

    /// Forgets everything about `lb_id` (deleted): its pending change and its estimates.
    pub(crate) fn forget_all(&mut self, lb_id: &str) {
        self.pending.remove(lb_id);
        self.create.per_lb.remove(lb_id);
        self.update.per_lb.remove(lb_id);
    }

    /// The pending change of `lb_id`, if this client made one it has not seen ready since.
    pub(crate) fn pending(&self, lb_id: &str) -> Option<(Instant, Change)> {
        self.pending.get(lb_id).copied()
    }

    fn learnt(&self, change: Change) -> &Learnt {
        match change {
            Change::Create => &self.create,
            Change::Update => &self.update,
        }
    }

    /// The expected busy time of `change` on `lb_id`: its own estimate, else the median of
    /// the latest waits; `None` before any wait of that kind was measured.
    pub(crate) fn estimate(&self, lb_id: &str, change: Change) -> Option<Duration> {
        self.learnt(change).estimate(lb_id)
    }

    /// Learns from a wait: `lb_id` was seen ready `elapsed` after the change, at the first
    /// poll (`first_poll`) or after `last_gap` of polling since the previous poll.
    pub(crate) fn learn(
        &mut self,
        lb_id: &str,
        change: Change,
        elapsed: Duration,
        first_poll: bool,
        last_gap: Duration,
    ) {
        // Ready some time in the last gap: take its middle. Ready at the first poll: only
        // an upper bound is known.
        let sample = if first_poll {
            elapsed
        } else {
            elapsed.saturating_sub(last_gap / 2)
        };
        let learnt = match change {
            Change::Create => &mut self.create,
            Change::Update => &mut self.update,
        };
        learnt.learn(lb_id, sample, first_poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_estimate_starts_at_the_first_sample_and_follows_later_ones() {
        let mut b = BusyTimes::default();
        assert_eq!(b.estimate("lb", Change::Update), None);
        b.learn("lb", Change::Update, 1000 * MS, false, 200 * MS);
        assert_eq!(b.estimate("lb", Change::Update), Some(900 * MS));
        assert_eq!(
            b.estimate("lb", Change::Create),
            None,
            "kinds are learnt apart"
        );
        // Longer waits pull it up, toward the measured time.
        for _ in 0..10 {
            b.learn("lb", Change::Update, 1600 * MS, false, 200 * MS);
        }
        let e = b.estimate("lb", Change::Update).unwrap();
        assert!(e > 1490 * MS && e <= 1500 * MS, "{e:?}");
    }

    #[test]
    fn an_estimate_found_too_long_comes_down_to_the_real_time_within_a_few_changes() {
        // The load balancer was slow once (90 s), then takes 3 s again: each first poll
        // that finds it ready cuts the estimate deeper until a poll finds it still busy.
        let mut b = BusyTimes::default();
        b.learn("lb", Change::Update, 90_000 * MS, false, 1000 * MS);
        let real = 3000 * MS;
        let mut changes = 0;
        loop {
            let e = b.estimate("lb", Change::Update).unwrap();
            changes += 1;
            if e >= real {
                b.learn("lb", Change::Update, e, true, Duration::ZERO);
            } else {
                // Still busy at the first poll: polled on until ready.
                b.learn("lb", Change::Update, real + 50 * MS, false, 100 * MS);
                break;
            }
        }
        assert!(changes <= 7, "{changes} changes to come down from 90 s");
        let e = b.estimate("lb", Change::Update).unwrap();
        assert!(e < real + 50 * MS && e > real / 2, "{e:?}");
    }

    #[test]
    fn an_estimate_close_to_the_real_time_moves_only_a_little() {
        let mut b = BusyTimes::default();
        b.learn("lb", Change::Update, 1000 * MS, false, Duration::ZERO);
        b.learn("lb", Change::Update, 1000 * MS, true, Duration::ZERO);
        assert_eq!(b.estimate("lb", Change::Update), Some(900 * MS));
        // A wait that then finds it busy ends the streak: the next too-long wait cuts 10 %.
        b.learn("lb", Change::Update, 1000 * MS, false, Duration::ZERO);
        b.learn("lb", Change::Update, 950 * MS, true, Duration::ZERO);
        assert_eq!(b.estimate("lb", Change::Update), Some(855 * MS));
    }

    /// Issue #22 item 4: one load balancer kept `UPDATING` for 90 s made every change of
    /// every other load balancer wait about 30 s before its first poll.
    #[test]
    fn one_slow_load_balancer_does_not_delay_the_changes_of_the_others() {
        let mut b = BusyTimes::default();
        for i in 0..5 {
            b.learn(
                &format!("lb-{i}"),
                Change::Update,
                3000 * MS,
                false,
                200 * MS,
            );
        }
        b.learn("lb-slow", Change::Update, 90_000 * MS, false, 1000 * MS);
        for i in 0..5 {
            assert_eq!(
                b.estimate(&format!("lb-{i}"), Change::Update),
                Some(2900 * MS)
            );
        }
        assert_eq!(
            b.estimate("lb-new", Change::Update),
            Some(2900 * MS),
            "a load balancer without history starts from the median, not the outlier"
        );
        assert_eq!(b.estimate("lb-slow", Change::Update), Some(89_500 * MS));
    }

    #[test]
    fn a_deleted_load_balancer_leaves_no_estimate_behind() {
        let mut b = BusyTimes::default();
        b.changed("lb", Change::Create);
        b.learn("lb", Change::Create, 60_000 * MS, false, 1000 * MS);
        b.learn("other", Change::Create, 50_000 * MS, false, 1000 * MS);
        b.forget_all("lb");
        assert_eq!(b.pending("lb"), None);
        assert_eq!(
            b.estimate("lb", Change::Create),
            b.estimate("never-seen", Change::Create)
        );
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
