//! What one project, or one client address, may take of the server: a project's request rate,
//! its runs queued or executing and its stored bytes (429s in OpenAI's shapes), and the backoff
//! that blocks an address after repeated failed authentications. (Fair claiming of runs across
//! projects is the store's `claim_run_within`.)

use crate::config::LimitSettings;
use crate::error::{ApiError, ApiResult, ErrorKind};
use assistd_core::{Project, Store};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Seconds a client refused for its number of runs is told to wait: runs end within seconds.
const RUNS_RETRY_AFTER_SECS: u64 = 2;

/// Client addresses whose failed authentications are remembered at once, at most.
const TRACKED_ADDRESSES: usize = 65_536;

/// The limits in force, shared by every request.
pub struct Limits {
    settings: LimitSettings,
    requests: Option<DefaultKeyedRateLimiter<Project>>,
    auth: AuthFailures,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// From the settings.
    pub fn new(settings: &LimitSettings) -> Self {
        let requests = NonZeroU32::new(settings.project_requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.project_request_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            settings: settings.clone(),
            requests,
            auth: AuthFailures::new(settings),
        }
    }

    /// The backoff on failed authentication.
    pub fn auth(&self) -> &AuthFailures {
        &self.auth
    }

    /// Counts one request of `project` against its rate: the 429 if it is over.
    fn refuse_request(&self, project: &Project) -> Option<Response> {
        let not_until = self.requests.as_ref()?.check_key(project).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let rate = self.settings.project_requests_per_second;
        let burst = self.settings.project_request_burst.max(rate);
        let mut res = ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "Rate limit reached for requests in this project: limit {rate} per second (bursts of {burst}). Please try again in {}ms.",
                wait.as_millis().max(1)
            ),
        )
        .retry_after(ceil_secs(wait))
        .into_response();
        // OpenAI's rate-limit headers; `retry-after-ms` is what its SDKs read first.
        let headers = res.headers_mut();
        headers.insert("x-ratelimit-limit-requests", burst.into());
        headers.insert("x-ratelimit-remaining-requests", 0.into());
        if let Ok(reset) = HeaderValue::from_str(&format!("{}ms", wait.as_millis().max(1))) {
            headers.insert("x-ratelimit-reset-requests", reset);
        }
        headers.insert(
            "retry-after-ms",
            u64::try_from(wait.as_millis().max(1))
                .unwrap_or(u64::MAX)
                .into(),
        );
        Some(res)
    }

    /// Refuses a new run when `project` already has as many runs queued or executing as it
    /// may. Counted before the run is created, so concurrent creations may overshoot by a few.
    pub async fn admit_run(&self, store: &dyn Store, project: &Project) -> ApiResult<()> {
        let max = self.settings.project_active_runs;
        if max == 0 {
            return Ok(());
        }
        let usage = store.project_usage(project).await?;
        if usage.active_runs >= i64::from(max) {
            return Err(ApiError::new(
                ErrorKind::RateLimited,
                format!(
                    "Rate limit reached for runs in this project: at most {max} runs may be queued or in progress at once. Wait for some to finish, or cancel some, and try again."
                ),
            )
            .retry_after(RUNS_RETRY_AFTER_SECS));
        }
        Ok(())
    }

    /// Refuses a file of `bytes` that would take `project` over its stored-bytes quota.
    pub async fn admit_file(
        &self,
        store: &dyn Store,
        project: &Project,
        bytes: u64,
    ) -> ApiResult<()> {
        let max = self.settings.project_file_bytes;
        if max == 0 {
            return Ok(());
        }
        let used = u64::try_from(store.project_usage(project).await?.file_bytes).unwrap_or(0);
        if used.saturating_add(bytes) > max {
            return Err(ApiError::new(
                ErrorKind::QuotaExceeded,
                format!(
                    "You exceeded your file storage quota: this project's files use {used} of its {max} bytes, and this file has {bytes}. Delete files you no longer need and try again."
                ),
            ));
        }
        Ok(())
    }
}

/// Whole seconds to wait, at least one (`Retry-After` has no fractions).
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The middleware counting each request of a project against its rate; it runs after
/// authentication, which names the project.
pub async fn rate_limit(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    if let Some(project) = req.extensions().get::<Project>()
        && let Some(refused) = limits.refuse_request(project)
    {
        return refused;
    }
    next.run(req).await
}

/// Failed authentications per client address. After `auth_failures` within the window the
/// address is blocked: its requests are answered 429 without their key being looked at, so a
/// guesser learns nothing, not even from the right key, until the block ends. Other addresses
/// are unaffected.
pub struct AuthFailures {
    allowed: u32,
    window: Duration,
    block: Duration,
    by_addr: Mutex<HashMap<IpAddr, Strikes>>,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    since: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

impl AuthFailures {
    fn new(settings: &LimitSettings) -> Self {
        Self {
            allowed: settings.auth_failures,
            window: Duration::from_secs(settings.auth_failure_window_secs),
            block: Duration::from_secs(settings.auth_block_secs),
            by_addr: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Strikes>> {
        // The table holds no invariant a panicking holder could have broken halfway.
        self.by_addr.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses a request from a blocked address.
    pub fn check(&self, addr: IpAddr) -> ApiResult<()> {
        if self.allowed == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let blocked_until = self
            .table()
            .get(&client(addr))
            .and_then(|s| s.blocked_until)
            .filter(|until| *until > now);
        match blocked_until {
            Some(until) => {
                let wait = ceil_secs(until - now);
                Err(ApiError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "Too many requests with an invalid API key from your address. Please try again in {wait}s."
                    ),
                )
                .retry_after(wait))
            }
            None => Ok(()),
        }
    }

    /// Counts a failed authentication from `addr`; the one that reaches the limit starts the
    /// block.
    pub fn failed(&self, addr: IpAddr) {
        if self.allowed == 0 {
            return;
        }
        let now = Instant::now();
        let mut table = self.table();
        let key = client(addr);
        if table.len() >= TRACKED_ADDRESSES && !table.contains_key(&key) {
            let window = self.window;
            table.retain(|_, s| s.blocked_until.is_some_and(|u| u > now) || now - s.since < window);
            // Still full: the address that matters least gives way (not yet blocked and oldest
            // first, else the block that ends soonest), so that a flood of new addresses never
            // stops the counting for the addresses already known.
            if table.len() >= TRACKED_ADDRESSES
                && let Some(victim) = table
                    .iter()
                    .min_by_key(|(_, s)| (s.blocked_until.is_some(), s.blocked_until, s.since))
                    .map(|(k, _)| *k)
            {
                tracing::debug!("too many client addresses failing authentication: forgetting one");
                table.remove(&victim);
            }
        }
        let s = table.entry(key).or_insert(Strikes {
            since: now,
            count: 0,
            blocked_until: None,
        });
        if now - s.since >= self.window {
            *s = Strikes {
                since: now,
                count: 0,
                blocked_until: s.blocked_until.filter(|u| *u > now),
            };
        }
        s.count += 1;
        if s.count >= self.allowed {
            s.blocked_until = Some(now + self.block);
            s.since = now;
            s.count = 0;
            tracing::warn!(client = %client(addr), "blocking a client address after repeated failed authentication");
        }
    }
}

/// The unit an address is counted as: an IPv4 address, or an IPv6 client's /64 (one host
/// commonly holds a whole /64).
fn client(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            IpAddr::V4,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(failures: u32) -> LimitSettings {
        LimitSettings {
            auth_failures: failures,
            auth_failure_window_secs: 60,
            auth_block_secs: 60,
            ..LimitSettings::default()
        }
    }

    #[test]
    fn blocks_an_address_after_repeated_failures_only() {
        let f = AuthFailures::new(&settings(3));
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        f.failed(bad);
        f.failed(bad);
        assert!(f.check(bad).is_ok(), "two failures are allowed");
        f.failed(bad);
        let e = f.check(bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert!(e.retry_after.is_some_and(|s| (1..=60).contains(&s)));
        assert!(f.check(other).is_ok(), "other addresses are not blocked");
    }

    #[test]
    fn ipv6_counts_by_64_prefix() {
        let f = AuthFailures::new(&settings(2));
        f.failed("2001:db8::1".parse().unwrap());
        f.failed("2001:db8::2".parse().unwrap());
        assert!(f.check("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(f.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_full_table_still_counts_known_and_new_addresses() {
        let f = AuthFailures::new(&settings(3));
        let known: IpAddr = "192.0.2.1".parse().unwrap();
        f.failed(known);
        f.failed(known);
        // Fill the table with other addresses, one failure each.
        for i in 1..TRACKED_ADDRESSES {
            let n = u32::try_from(i).unwrap();
            f.failed(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
        }
        assert_eq!(f.table().len(), TRACKED_ADDRESSES);
        f.failed(known);
        assert!(f.check(known).is_err(), "a known address is still counted");
        let new: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            f.failed(new);
        }
        assert!(f.check(new).is_err(), "a new address is counted too");
        assert!(
            f.check(known).is_err(),
            "a blocked address is not the one forgotten"
        );
        assert_eq!(f.table().len(), TRACKED_ADDRESSES);
    }

    #[test]
    fn zero_disables() {
        let f = AuthFailures::new(&settings(0));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..100 {
            f.failed(a);
        }
        assert!(f.check(a).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
