//! How long the cloud keeps a load balancer busy after a change, learnt from this client's
//! own waits, so the wait before the next change polls when the load balancer is likely
//! ready instead of on a blind exponential schedule: less idle time between the steps of a
//! deployment (occm-style controllers spend most of a 10-pool deployment waiting) and fewer
//! readiness `GET`s.
//!
//! Each load balancer has its own estimate: one that stays `UPDATING` for minutes does not
//! delay the changes of the others. A load balancer this client has not waited for yet
//! starts from the median of the latest measured waits of every load balancer, which one
//! slow outlier cannot move. An estimate that proves too long (the first poll already finds
//! the load balancer ready) comes down 3 % a change while it is close to the load
//! balancer's typical (median) measured time, and by half while it is more than twice that,
//! so one slow wait is forgotten within a few changes.

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
const ALPHA: f64 = 0.3;
/// A load balancer found ready at the first poll was ready some time before it: its
/// estimate is cut to this share of the time waited (a close estimate moves a little)...
const EARLY: f64 = 0.97;
/// ... or to this share while it is more than [`FAR`] times the load balancer's typical
/// measured time (one slow wait is forgotten within a few changes, not a hundred).
const FAR_EARLY: f64 = 0.5;
/// How far above its typical time an estimate counts as far too long.
const FAR: f64 = 2.0;
/// Measured samples kept per load balancer for its typical time.
const OWN_SAMPLES: usize = 7;
/// Measured samples kept over all load balancers for the starting estimate of one without
/// history.
const RECENT: usize = 15;

/// Keeps the latest `cap` samples of `ring`, oldest first.
fn push(ring: &mut VecDeque<Duration>, cap: usize, sample: Duration) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(sample);
}

/// The median (the upper one of an even count) of `samples`.
fn median(samples: &VecDeque<Duration>) -> Option<Duration> {
    let mut sorted: Vec<Duration> = samples.iter().copied().collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// What is learnt of one load balancer.
#[derive(Debug)]
struct Own {
    /// When the next wait's first poll comes.
    estimate: Duration,
    /// Its latest measured busy times (waits that found it busy at the first poll).
    measured: VecDeque<Duration>,
}

/// Learnt busy times of one kind of change.
#[derive(Debug, Default)]
struct Learnt {
    per_lb: HashMap<String, Own>,
    /// The latest measured samples over all load balancers, oldest first.
    recent: VecDeque<Duration>,
}

impl Learnt {
    fn estimate(&self, lb_id: &str) -> Option<Duration> {
        self.per_lb
            .get(lb_id)
            .map(|o| o.estimate)
            .or_else(|| median(&self.recent))
    }

    /// `sample`: the measured busy time, or with `first_poll` the time after which the load
    /// balancer was already ready (an upper bound).
    fn learn(&mut self, lb_id: &str, sample: Duration, first_poll: bool) {
        let prior = median(&self.recent);
        let own = self.per_lb.entry(lb_id.to_owned()).or_insert_with(|| Own {
            estimate: prior.unwrap_or(sample),
            measured: VecDeque::new(),
        });
        if first_poll {
            let typical = median(&own.measured).or(prior).unwrap_or(sample);
            let cut = if own.estimate > typical.mul_f64(FAR) {
                FAR_EARLY
            } else {
                EARLY
            };
            own.estimate = own.estimate.min(sample).mul_f64(cut);
        } else {
            own.estimate = if own.measured.is_empty() {
                sample
            } else {
                own.estimate.mul_f64(1.0 - ALPHA) + sample.mul_f64(ALPHA)
            };
            push(&mut own.measured, OWN_SAMPLES, sample);
            push(&mut self.recent, RECENT, sample);
        }
    }
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
        // Found ready at the first poll, again and again: the estimate comes down (3 % a
        // wait: a little each time, as the first poll may just have been late).
        for _ in 0..30 {
            let e = b.estimate("lb", Change::Update).unwrap();
            b.learn("lb", Change::Update, e, true, Duration::ZERO);
        }
        assert!(b.estimate("lb", Change::Update).unwrap() < 450 * MS);
        // Longer waits pull it up again, toward the measured time.
        for _ in 0..30 {
            b.learn("lb", Change::Update, 600 * MS, false, 100 * MS);
        }
        let e = b.estimate("lb", Change::Update).unwrap();
        assert!(e > 540 * MS && e <= 550 * MS, "{e:?}");
    }

    /// Learns `n` measured waits of `busy` for `lb`.
    fn history(b: &mut BusyTimes, lb: &str, n: usize, busy: Duration) {
        for _ in 0..n {
            b.learn(lb, Change::Update, busy + 100 * MS, false, 200 * MS);
        }
    }

    #[test]
    fn an_estimate_found_far_too_long_comes_down_within_a_few_changes() {
        // Typically 3 s; one wait of 90 s pulls the estimate to about 29 s. Then the load
        // balancer takes 3 s again: each first poll that finds it ready halves the
        // estimate while it is more than twice the typical time, then takes 3 % off.
        let mut b = BusyTimes::default();
        let real = 3000 * MS;
        history(&mut b, "lb", 5, real);
        history(&mut b, "lb", 1, 90_000 * MS);
        assert!(b.estimate("lb", Change::Update).unwrap() > 25_000 * MS);
        let mut changes = 0;
        while b.estimate("lb", Change::Update).unwrap() > real.mul_f64(FAR) {
            let e = b.estimate("lb", Change::Update).unwrap();
            b.learn("lb", Change::Update, e, true, Duration::ZERO);
            changes += 1;
        }
        assert!(changes <= 3, "{changes} changes to come down from 29 s");
        let e = b.estimate("lb", Change::Update).unwrap();
        assert!(e > real, "halving stops above the typical time: {e:?}");
    }

    #[test]
    fn an_estimate_close_to_the_real_time_moves_only_a_little() {
        let mut b = BusyTimes::default();
        b.learn("lb", Change::Update, 1000 * MS, false, Duration::ZERO);
        b.learn("lb", Change::Update, 1000 * MS, true, Duration::ZERO);
        assert_eq!(b.estimate("lb", Change::Update), Some(970 * MS));
        b.learn("lb", Change::Update, 970 * MS, true, Duration::ZERO);
        assert_eq!(
            b.estimate("lb", Change::Update),
            Some(Duration::from_micros(940_900))
        );
    }

    /// Issue #22 item 4: one load balancer kept `UPDATING` for 90 s made every change of
    /// every other load balancer wait about 30 s before its first poll.
    #[test]
    fn one_slow_load_balancer_does_not_delay_the_changes_of_the_others() {
        let mut b = BusyTimes::default();
        for i in 0..5 {
            history(&mut b, &format!("lb-{i}"), 1, 3000 * MS);
        }
        history(&mut b, "lb-slow", 1, 90_000 * MS);
        for i in 0..5 {
            assert_eq!(
                b.estimate(&format!("lb-{i}"), Change::Update),
                Some(3000 * MS)
            );
        }
        assert_eq!(
            b.estimate("lb-new", Change::Update),
            Some(3000 * MS),
            "a load balancer without history starts from the median, not the outlier"
        );
        assert_eq!(b.estimate("lb-slow", Change::Update), Some(90_000 * MS));
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
