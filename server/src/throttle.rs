//! Sign-in throttling: a bound on password guesses, per account and per client address.
//!
//! Every sign-in attempt is counted as a failure *before* its password is checked (so that many
//! guesses sent at once cannot all pass the check before any is counted) and uncounted when the
//! password turns out right. After [`ACCOUNT_FAILURES`] failures for one login, or
//! [`ADDRESS_FAILURES`] from one client address, within [`WINDOW`], that login or address is
//! locked for [`LOCKOUT`]: every attempt is refused with 429 `SIGN_IN_THROTTLED` and
//! `Retry-After`, whatever the password (a right one too, or the lock would not slow a guesser).
//! A successful sign-in clears its login's count; it does not clear its address's count (else one
//! known password would let an address guess others without limit), it only takes back its own
//! attempt.
//!
//! Logins are counted whether or not the account exists, so the lock says nothing about which
//! logins exist. IPv6 addresses are counted per /64 (what one subscriber usually holds), IPv4
//! addresses one by one.
//!
//! # Bound
//!
//! Each table holds at most [`TABLE_CAPACITY`] records of a fixed size (keys are SHA-256 digests,
//! whatever the length of the login sent). When a new key arrives at a full table, stale records
//! go first, then the unlocked record whose window began first, then, only if every record is a
//! live lock, the lock that ends soonest.
//!
//! # Several replicas
//!
//! The counts live in this process's memory: with several server replicas behind a load balancer,
//! each replica throttles on its own (a guesser spread over `n` replicas gets up to `n` times the
//! attempts), and a restart clears them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Failed sign-ins for one login within [`WINDOW`] that lock it.
pub const ACCOUNT_FAILURES: u32 = 5;
/// Failed sign-ins from one client address within [`WINDOW`] that lock it (higher than per
/// account: an office may sign in from behind one address).
pub const ADDRESS_FAILURES: u32 = 20;
/// The window failures are counted in, from the first of them.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a lock lasts, from the failure that set it.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Records each table holds at most.
pub const TABLE_CAPACITY: usize = 10_000;

/// What is locked, and for how long still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The login.
    Account(Duration),
    /// The client address.
    Address(Duration),
}

impl Locked {
    /// Time left, rounded up to whole seconds (what `Retry-After` says), at least 1.
    pub fn retry_after_secs(self) -> u64 {
        let left = match self {
            Locked::Account(d) | Locked::Address(d) => d,
        };
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// How a counted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wrong password or unknown login: the attempt stays counted.
    Failed,
    /// The password was right: the login's count is cleared, the address's attempt taken back.
    Succeeded,
    /// The attempt ended before the password was judged (a storage failure): taken back.
    Undecided,
}

/// One counted attempt, to be settled with [`SignInThrottle::settle`].
#[derive(Debug)]
pub struct Attempt {
    account: Key,
    address: Option<Key>,
}

type Key = [u8; 32];

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

impl Record {
    fn new(now: Instant) -> Self {
        Record {
            failures: 0,
            window_start: now,
            locked_until: None,
        }
    }

    fn locked_at(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Nothing left to remember: no live lock and the window over.
    fn stale_at(&self, now: Instant) -> bool {
        self.locked_at(now).is_none() && now.duration_since(self.window_start) >= WINDOW
    }
}

#[derive(Debug)]
struct Table {
    limit: u32,
    capacity: usize,
    map: HashMap<Key, Record>,
}

impl Table {
    fn new(limit: u32, capacity: usize) -> Self {
        Table {
            limit,
            capacity,
            map: HashMap::new(),
        }
    }

    /// Time left of a live lock on `key`, if any.
    fn locked(&self, key: &Key, now: Instant) -> Option<Duration> {
        self.map.get(key).and_then(|r| r.locked_at(now))
    }

    /// Count one attempt for `key` (the caller checked it is not locked).
    fn count(&mut self, key: Key, now: Instant) {
        if !self.map.contains_key(&key) {
            self.make_room(now);
        }
        let limit = self.limit;
        let record = self.map.entry(key).or_insert_with(|| Record::new(now));
        if record.stale_at(now) || record.locked_until.is_some_and(|until| until <= now) {
            *record = Record::new(now);
        }
        record.failures = record.failures.saturating_add(1);
        if record.failures >= limit {
            record.locked_until = Some(now + LOCKOUT);
        }
    }

    /// Take back one counted attempt of `key`.
    fn uncount(&mut self, key: &Key) {
        if let Some(record) = self.map.get_mut(key) {
            record.failures = record.failures.saturating_sub(1);
            if record.failures < self.limit {
                record.locked_until = None;
            }
            if record.failures == 0 {
                self.map.remove(key);
            }
        }
    }

    fn clear(&mut self, key: &Key) {
        self.map.remove(key);
    }

    /// Below capacity by one record (see the module documentation for the order).
    fn make_room(&mut self, now: Instant) {
        if self.map.len() < self.capacity {
            return;
        }
        self.map.retain(|_, r| !r.stale_at(now));
        if self.map.len() < self.capacity {
            return;
        }
        let victim = self
            .map
            .iter()
            .filter(|(_, r)| r.locked_at(now).is_none())
            .min_by_key(|(_, r)| r.window_start)
            .or_else(|| self.map.iter().min_by_key(|(_, r)| r.locked_until))
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            self.map.remove(&k);
        }
    }
}

/// The throttle (see the module documentation). One per process, shared by every request.
#[derive(Debug)]
pub struct SignInThrottle {
    accounts: Mutex<Table>,
    addresses: Mutex<Table>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::with_capacity(TABLE_CAPACITY)
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // Every step leaves a table consistent, so a poisoned lock is still usable.
    table.lock().unwrap_or_else(|p| p.into_inner())
}

fn account_key(login: &str) -> Key {
    let mut h = Sha256::new();
    h.update(b"roadside sign-in account\0");
    h.update(login.as_bytes());
    h.finalize().into()
}

fn address_key(ip: IpAddr) -> Key {
    let mut h = Sha256::new();
    h.update(b"roadside sign-in address\0");
    match ip.to_canonical() {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(&v6.octets()[..8]),
    }
    h.finalize().into()
}

impl SignInThrottle {
    /// A throttle whose tables hold at most `capacity` records each.
    pub fn with_capacity(capacity: usize) -> Self {
        SignInThrottle {
            accounts: Mutex::new(Table::new(ACCOUNT_FAILURES, capacity.max(1))),
            addresses: Mutex::new(Table::new(ADDRESS_FAILURES, capacity.max(1))),
        }
    }

    /// Refuse if the address or the login is locked; otherwise count the attempt as a failure
    /// until [`settle`](Self::settle)d. `address` is `None` when the client's address is not
    /// known (the server embedded without connection information): only the login is counted.
    pub fn begin(
        &self,
        login: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Locked> {
        let account = account_key(login);
        let address = address.map(address_key);
        // Both tables are held together so that a check and its count are one step (the order
        // of the two locks is the same everywhere).
        let mut accounts = lock(&self.accounts);
        let mut addresses = lock(&self.addresses);
        if let Some(left) = address.and_then(|k| addresses.locked(&k, now)) {
            return Err(Locked::Address(left));
        }
        if let Some(left) = accounts.locked(&account, now) {
            return Err(Locked::Account(left));
        }
        accounts.count(account, now);
        if let Some(k) = address {
            addresses.count(k, now);
        }
        Ok(Attempt { account, address })
    }

    /// Settle a counted attempt.
    pub fn settle(&self, attempt: Attempt, outcome: Outcome) {
        let mut accounts = lock(&self.accounts);
        let mut addresses = lock(&self.addresses);
        match outcome {
            Outcome::Failed => {}
            Outcome::Succeeded => {
                accounts.clear(&attempt.account);
                if let Some(k) = attempt.address {
                    addresses.uncount(&k);
                }
            }
            Outcome::Undecided => {
                accounts.uncount(&attempt.account);
                if let Some(k) = attempt.address {
                    addresses.uncount(&k);
                }
            }
        }
    }

    /// Records held (accounts, addresses).
    pub fn len(&self) -> (usize, usize) {
        (
            lock(&self.accounts).map.len(),
            lock(&self.addresses).map.len(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// The client's address for throttling: the connection's peer, unless the peer is one of the
/// `trusted` proxies, in which case the rightmost address of `X-Forwarded-For` that is not itself
/// a trusted proxy (what the nearest trusted proxy saw; entries further left are whatever the
/// client wrote). The header is ignored when the peer is not trusted, so a client cannot choose
/// its own address. `None` when the peer is not known.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| {
        trusted
            .iter()
            .any(|t| t.to_canonical() == ip.to_canonical())
    };
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return Some(ip),
            // Not an address (a garbled or obfuscated entry): nothing left of it can be trusted,
            // count the request against the last trusted hop.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.5").expect("ip");
        let client = ip("198.51.100.7");
        // Not configured: the header is the client's word, ignored.
        assert_eq!(
            client_address(ip("10.0.0.5"), &["198.51.100.7"], &[]),
            Some(proxy)
        );
        assert_eq!(
            client_address(ip("203.0.113.1"), &["198.51.100.7"], &[proxy]),
            ip("203.0.113.1")
        );
        // Behind the trusted proxy: the rightmost untrusted hop, whatever the client prepended.
        assert_eq!(
            client_address(ip("10.0.0.5"), &["1.2.3.4, 198.51.100.7"], &[proxy]),
            client
        );
        assert_eq!(
            client_address(
                ip("10.0.0.5"),
                &["1.2.3.4", "198.51.100.7, 10.0.0.5"],
                &[proxy]
            ),
            client
        );
        assert_eq!(client_address(ip("10.0.0.5"), &[], &[proxy]), Some(proxy));
        assert_eq!(
            client_address(ip("10.0.0.5"), &["unknown"], &[proxy]),
            Some(proxy)
        );
        assert_eq!(client_address(None, &["198.51.100.7"], &[proxy]), None);
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    fn fail(t: &SignInThrottle, login: &str, addr: Option<IpAddr>, now: Instant) {
        let a = t.begin(login, addr, now).expect("not locked");
        t.settle(a, Outcome::Failed);
    }

    #[test]
    fn the_fifth_failure_locks_the_login_for_the_lockout_and_then_it_is_free() {
        let t = SignInThrottle::default();
        let start = Instant::now();
        for i in 0..ACCOUNT_FAILURES {
            fail(
                &t,
                "admin",
                ip("192.0.2.1"),
                start + Duration::from_secs(u64::from(i)),
            );
        }
        let at = start + Duration::from_secs(10);
        let locked = t.begin("admin", ip("192.0.2.1"), at).expect_err("locked");
        assert!(matches!(locked, Locked::Account(_)));
        // Locked from the fifth failure (at 4 s) for the lockout.
        assert_eq!(locked.retry_after_secs(), LOCKOUT.as_secs() - 6);
        // Another login from the same address is not locked.
        assert!(t.begin("clerk", ip("192.0.2.1"), at).is_ok());
        // After the lockout the login may try again.
        let later = start + Duration::from_secs(4) + LOCKOUT;
        assert!(t.begin("admin", ip("192.0.2.1"), later).is_ok());
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let t = SignInThrottle::default();
        let start = Instant::now();
        for i in 0..3 * ACCOUNT_FAILURES {
            fail(&t, "admin", None, start + WINDOW / 4 * i);
        }
        assert!(t.begin("admin", None, start + WINDOW / 4 * 16).is_ok());
    }

    #[test]
    fn success_clears_the_login_but_only_takes_back_its_own_attempt_on_the_address() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        let addr = ip("2001:db8:1:2::7");
        for _ in 0..ACCOUNT_FAILURES - 1 {
            fail(&t, "admin", addr, now);
        }
        let a = t.begin("admin", addr, now).expect("fifth attempt allowed");
        t.settle(a, Outcome::Succeeded);
        for _ in 0..ACCOUNT_FAILURES - 1 {
            fail(&t, "admin", addr, now);
        }
        assert!(t.begin("admin", addr, now).is_ok(), "count was cleared");
        // The address has 9 failures (4 + 4 + the attempt just begun); 11 more from other logins
        // of the same /64 lock it.
        for i in 0..ADDRESS_FAILURES - 9 {
            fail(&t, &format!("user{i}"), ip("2001:db8:1:2::99"), now);
        }
        assert!(matches!(
            t.begin("someone", ip("2001:db8:1:2:ffff::1"), now),
            Err(Locked::Address(_))
        ));
        assert!(t.begin("someone", ip("2001:db8:1:3::1"), now).is_ok());
    }

    #[test]
    fn an_undecided_attempt_is_taken_back() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..10 * ACCOUNT_FAILURES {
            let a = t.begin("admin", ip("192.0.2.1"), now).expect("allowed");
            t.settle(a, Outcome::Undecided);
        }
        assert!(t.is_empty());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_their_ipv4_address() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..ADDRESS_FAILURES {
            fail(&t, &format!("u{i}"), ip("::ffff:192.0.2.9"), now);
        }
        assert!(matches!(
            t.begin("x", ip("192.0.2.9"), now),
            Err(Locked::Address(_))
        ));
    }

    #[test]
    fn tables_stay_bounded_and_keep_live_locks_before_unlocked_counts() {
        let t = SignInThrottle::with_capacity(100);
        let now = Instant::now();
        for _ in 0..ACCOUNT_FAILURES {
            fail(&t, "victim", None, now);
        }
        for i in 0..10_000 {
            fail(
                &t,
                &format!("spray{i}"),
                None,
                now + Duration::from_millis(i),
            );
            assert!(t.len().0 <= 100);
        }
        assert!(matches!(
            t.begin("victim", None, now + Duration::from_secs(11)),
            Err(Locked::Account(_))
        ));
        // A login longer than any real one costs the same fixed-size record.
        fail(&t, &"x".repeat(1 << 20), None, now);
        assert!(t.len().0 <= 100);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(
            Locked::Account(Duration::from_millis(1500)).retry_after_secs(),
            2
        );
        assert_eq!(
            Locked::Address(Duration::from_millis(1)).retry_after_secs(),
            1
        );
        assert_eq!(
            Locked::Address(Duration::from_secs(60)).retry_after_secs(),
            60
        );
    }
}
