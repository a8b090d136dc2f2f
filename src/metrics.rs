//! What an operator's Prometheus scrapes (监控指标): one registry per process, recorded into from
//! every layer (a leaf module: it depends on nothing of ours), encoded at `/metrics` in the
//! OpenMetrics text format by `prometheus-client` (the Prometheus project's own Rust client).
//!
//! Counters and histograms count what this process did since it started; the gauges of backlogs
//! (clocks due, deliveries waiting) are read from the database at each scrape, so every instance
//! reports the same figure for them. Labels are bounded: routes are the router's patterns
//! (`/api/v1/tickets/{id}`), never a path with an id in it, and no label carries personal data.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadLabels {
    /// `replica` or `primary`.
    pub source: String,
    /// Why not the replica: `own_write`, `lagging`, `unavailable`; empty for the replica.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct YearLabels {
    pub calendar: String,
    pub year: i32,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub request_seconds: HistogramFamily<LatencyLabels>,
    pub intake_batch: Histogram,
    pub pool_wait_seconds: Histogram,
    pub pool_timeouts: Counter,
    pub pool_connections: Gauge,
    pub pool_idle: Gauge,
    pub clocks_fired: Family<KindLabels, Counter>,
    pub clocks_due: Gauge,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub deliveries_waiting: Gauge,
    pub provisional_years: Family<YearLabels, Gauge>,
    pub purged: Family<KindLabels, Counter>,
    pub backups: Family<KindLabels, Counter>,
    pub replica_reads: Family<ReadLabels, Counter>,
    pub up_since: Gauge<f64, AtomicU64>,
    pub db_up: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gridloop");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route pattern, method and status", requests.clone());
        let request_seconds = HistogramFamily::<LatencyLabels>::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "Time from request to response, by route pattern", request_seconds.clone());
        let intake_batch = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        registry.register(
            "intake_batch_size",
            "Filings or actions written together in one transaction by the intake's writers",
            intake_batch.clone(),
        );
        let pool_wait_seconds = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register(
            "db_pool_wait_seconds",
            "Time a request waited for a database connection from the pool",
            pool_wait_seconds.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register("db_pool_timeouts", "Waits for a database connection that gave up (answered 503)", pool_timeouts.clone());
        let pool_connections = Gauge::default();
        registry.register("db_pool_connections", "Database connections the pool holds", pool_connections.clone());
        let pool_idle = Gauge::default();
        registry.register("db_pool_idle_connections", "Database connections the pool holds unused", pool_idle.clone());
        let clocks_fired = Family::<KindLabels, Counter>::default();
        registry.register(
            "sla_clocks_fired",
            "Clock firings (warnings, breaches, reminders, expired pauses) by this process",
            clocks_fired.clone(),
        );
        let clocks_due = Gauge::default();
        registry.register(
            "sla_clocks_due",
            "Clocks whose next firing is due now and has not fired (the scheduler's backlog)",
            clocks_due.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register("notification_deliveries", "Notification delivery tries by channel and outcome", deliveries.clone());
        let deliveries_waiting = Gauge::default();
        registry.register(
            "notification_deliveries_waiting",
            "Deliveries pending whose time has come (the outbox's backlog)",
            deliveries_waiting.clone(),
        );
        let provisional_years = Family::<YearLabels, Gauge>::default();
        registry.register(
            "calendar_provisional_year",
            "1 for each calendar year deadlines reach into without a published schedule (publish it)",
            provisional_years.clone(),
        );
        let purged = Family::<KindLabels, Counter>::default();
        registry.register("retention_purged", "Records whose personal data the retention purge cleared, by kind", purged.clone());
        let backups = Family::<KindLabels, Counter>::default();
        registry.register("backups", "Scheduled backups by outcome (written, failed)", backups.clone());
        let up_since = Gauge::<f64, AtomicU64>::default();
        registry.register("start_time_seconds", "When this process started, in seconds since the Unix epoch", up_since.clone());
        up_since.set(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0));
        // The kinds an alert rule watches exist from the start, at 0, so that `rate()` and
        // `increase()` see their first firing.
        for kind in ["warning", "breach", "reminder", "pause_expired", "action_warning", "action_overdue"] {
            clocks_fired.get_or_create(&KindLabels { kind: kind.into() }).inc_by(0);
        }
        for kind in ["written", "failed"] {
            backups.get_or_create(&KindLabels { kind: kind.into() }).inc_by(0);
        }
        let replica_reads = Family::<ReadLabels, Counter>::default();
        registry.register(
            "heavy_reads",
            "Rankings, exports, boards and searches by the database that answered them (with database.replica_url)",
            replica_reads.clone(),
        );
        let db_up = Gauge::default();
        registry.register("db_up", "1 when the database answered this scrape's backlog queries, else 0", db_up.clone());
        Metrics {
            replica_reads,
            db_up,
            registry,
            requests,
            request_seconds,
            intake_batch,
            pool_wait_seconds,
            pool_timeouts,
            pool_connections,
            pool_idle,
            clocks_fired,
            clocks_due,
            deliveries,
            deliveries_waiting,
            provisional_years,
            purged,
            backups,
            up_since,
        }
    }

    /// Records one answered request.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let (method, route) = (method.to_string(), route.to_string());
        self.request_seconds.get_or_create(&LatencyLabels { method: method.clone(), route: route.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&RouteLabels { method, route, status }).inc();
    }

    pub fn clock_fired(&self, kind: &str, n: usize) {
        if n > 0 {
            self.clocks_fired.get_or_create(&KindLabels { kind: kind.into() }).inc_by(n as u64);
        }
    }

    pub fn delivery(&self, channel: &str, outcome: &str) {
        self.deliveries.get_or_create(&DeliveryLabels { channel: channel.into(), outcome: outcome.into() }).inc();
    }

    pub fn purge(&self, kind: &str, n: usize) {
        if n > 0 {
            self.purged.get_or_create(&KindLabels { kind: kind.into() }).inc_by(n as u64);
        }
    }

    /// Sets the provisional years to exactly `years` (a year published since is dropped).
    pub fn set_provisional_years(&self, years: &[(String, i32)]) {
        self.provisional_years.clear();
        for (calendar, year) in years {
            self.provisional_years.get_or_create(&YearLabels { calendar: calendar.clone(), year: *year }).set(1);
        }
    }

    /// The OpenMetrics text of every metric, `# EOF` last.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
