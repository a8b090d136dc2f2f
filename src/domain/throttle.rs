//! Login throttling (登录限流): failure counters per client address, per account and address, and
//! per account from addresses it does not usually log in from. Past a counter's free failures each
//! further failure makes the next attempt wait twice as long as the last, up to a cap; failures
//! are forgotten one at a time as time passes. Pure arithmetic: `now` is always an argument.

use chrono::{Duration, NaiveDateTime};

/// The limits, from `[auth]` (see docs/configuration.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRules {
    pub address_failures: i32,
    pub account_address_failures: i32,
    pub unusual_address_failures: i32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// One counted failure is forgotten per this much time.
    pub decay: Duration,
}

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Every failure from one client address, whatever the account (password spraying).
    Address,
    /// Failures against one account from one address (guessing one person's password).
    AccountAddress,
    /// Failures against one account from addresses that are not its usual ones (a distributed
    /// attack). Attempts from the account's usual addresses neither count here nor wait here.
    UnusualAddresses,
}

impl Scope {
    /// Failures answered without any wait.
    pub fn free_failures(self, r: &ThrottleRules) -> i32 {
        match self {
            Scope::Address => r.address_failures,
            Scope::AccountAddress => r.account_address_failures,
            Scope::UnusualAddresses => r.unusual_address_failures,
        }
    }

    /// The reason a refused attempt is recorded with (`login_attempts.reason`).
    pub fn refusal_reason(self) -> &'static str {
        match self {
            Scope::Address => "throttled_address",
            Scope::AccountAddress => "throttled_account_address",
            Scope::UnusualAddresses => "throttled_account",
        }
    }
}

/// One failure counter as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub failures: i32,
    /// The decay has been applied up to this instant.
    pub decayed_at: NaiveDateTime,
    /// No attempt that this counter applies to is taken before this instant.
    pub blocked_until: Option<NaiveDateTime>,
}

impl Counter {
    pub fn new(now: NaiveDateTime) -> Counter {
        Counter { failures: 0, decayed_at: now, blocked_until: None }
    }

    /// How long an attempt at `now` must still wait, if at all.
    pub fn wait(&self, now: NaiveDateTime) -> Option<Duration> {
        self.blocked_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// The counter at `now`: one failure forgotten per `decay` elapsed. The part of a period
    /// not yet elapsed is kept, so failures spaced just under `decay` apart still add up.
    pub fn decayed(&self, now: NaiveDateTime, decay: Duration) -> Counter {
        let step = decay.num_milliseconds().max(1);
        let elapsed = (now - self.decayed_at).num_milliseconds().max(0);
        let steps = elapsed / step;
        if steps >= self.failures as i64 {
            return Counter { failures: 0, decayed_at: now, blocked_until: self.blocked_until };
        }
        Counter {
            failures: self.failures - steps as i32,
            decayed_at: self.decayed_at + Duration::milliseconds(steps * step),
            blocked_until: self.blocked_until,
        }
    }

    /// The counter after a failure at `now`, with the wait it imposes on the next attempt.
    pub fn after_failure(&self, now: NaiveDateTime, free: i32, rules: &ThrottleRules) -> Counter {
        let c = self.decayed(now, rules.decay);
        let failures = c.failures.saturating_add(1);
        let blocked = delay_after(failures, free, rules).map(|d| now + d);
        Counter {
            failures,
            decayed_at: if c.failures == 0 { now } else { c.decayed_at },
            blocked_until: match (blocked, c.blocked_until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b.filter(|t| *t > now)),
            },
        }
    }

    /// When the counter holds nothing any more (no wait, every failure forgotten): it may be
    /// deleted then.
    pub fn expires_at(&self, decay: Duration) -> NaiveDateTime {
        let forgotten = self.decayed_at + decay * self.failures.max(0);
        self.blocked_until.map_or(forgotten, |b| b.max(forgotten))
    }
}

/// The wait after the `failures`-th failure: none before `free`, then the first delay, doubling
/// with each further failure, never more than the cap.
pub fn delay_after(failures: i32, free: i32, rules: &ThrottleRules) -> Option<Duration> {
    if failures < free {
        return None;
    }
    let doublings = (failures - free).min(40) as u32;
    let first = rules.first_delay.num_seconds().max(1);
    let seconds = first.saturating_mul(1i64 << doublings).min(rules.max_delay.num_seconds().max(first));
    Some(Duration::seconds(seconds))
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> i64 {
    let ms = wait.num_milliseconds().max(0);
    ((ms + 999) / 1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ThrottleRules {
        ThrottleRules {
            address_failures: 20,
            account_address_failures: 5,
            unusual_address_failures: 20,
            first_delay: Duration::seconds(30),
            max_delay: Duration::minutes(15),
            decay: Duration::minutes(60),
        }
    }

    fn t0() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap().naive_utc()
    }

    #[test]
    fn the_wait_starts_at_the_free_failures_and_doubles_up_to_the_cap() {
        let r = rules();
        let waits: Vec<Option<i64>> = (1..=12).map(|n| delay_after(n, 5, &r).map(|d| d.num_seconds())).collect();
        assert_eq!(
            waits,
            vec![None, None, None, None, Some(30), Some(60), Some(120), Some(240), Some(480), Some(900), Some(900), Some(900)]
        );
        assert_eq!(delay_after(i32::MAX, 1, &r), Some(Duration::minutes(15)), "no overflow");
    }

    #[test]
    fn failures_block_the_next_attempt_and_are_forgotten_one_per_period() {
        let r = rules();
        let mut c = Counter::new(t0());
        for i in 0..5 {
            assert_eq!(c.wait(t0()), None, "failure {i} is answered at once");
            c = c.after_failure(t0(), 5, &r);
        }
        assert_eq!(c.failures, 5);
        assert_eq!(c.wait(t0()), Some(Duration::seconds(30)));
        assert_eq!(c.wait(t0() + Duration::seconds(30)), None);
        // Two and a half periods later two failures are forgotten; the half period is kept.
        let later = t0() + Duration::minutes(150);
        let d = c.decayed(later, r.decay);
        assert_eq!((d.failures, d.decayed_at), (3, t0() + Duration::minutes(120)));
        assert_eq!(c.decayed(t0() + Duration::minutes(300), r.decay).failures, 0);
        assert_eq!(c.expires_at(r.decay), t0() + Duration::minutes(300));
        // A failure after some were forgotten counts from what is left.
        let again = c.after_failure(later, 5, &r);
        assert_eq!(again.failures, 4);
        assert_eq!(again.wait(later), None, "four failures are below the free five");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::milliseconds(1)), 1);
        assert_eq!(retry_after_seconds(Duration::milliseconds(29_001)), 30);
        assert_eq!(retry_after_seconds(Duration::seconds(30)), 30);
    }
}
