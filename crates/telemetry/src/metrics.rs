//! One Prometheus registry per process, shared through a cloneable handle.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label set of a metric family: `(name, value)` pairs, e.g.
/// `vec![("reply".into(), "250".into())]`.
pub type Labels = Vec<(String, String)>;

/// A counter per label set.
pub type CounterFamily = Family<Labels, Counter>;

/// A gauge per label set.
pub type GaugeFamily = Family<Labels, Gauge>;

/// A histogram per label set; every histogram of the family has the same buckets.
pub type HistogramFamily = Family<Labels, Histogram, HistogramBuckets>;

/// Bucket upper bounds shared by the histograms of a [`HistogramFamily`].
#[derive(Debug, Clone)]
pub struct HistogramBuckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for HistogramBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A gauge whose value is read from a closure each time `/metrics` is
/// scraped (for values owned elsewhere, such as the active connection count
/// of a `mailstack-net` server).
struct FnGauge(Arc<dyn Fn() -> i64 + Send + Sync>);

impl fmt::Debug for FnGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FnGauge").field(&(self.0)()).finish()
    }
}

impl EncodeMetric for FnGauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encoder.encode_gauge(&(self.0)())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// What was registered under a name, so that a second request for the same
/// name returns the same metric instead of a duplicate series.
#[derive(Clone)]
enum Entry {
    Counter(Counter),
    Gauge(Gauge),
    GaugeFn,
    Histogram(Histogram),
    CounterFamily(CounterFamily),
    GaugeFamily(GaugeFamily),
    HistogramFamily(HistogramFamily),
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Counter(_) => "counter",
            Entry::Gauge(_) => "gauge",
            Entry::GaugeFn => "gauge_fn",
            Entry::Histogram(_) => "histogram",
            Entry::CounterFamily(_) => "counter_family",
            Entry::GaugeFamily(_) => "gauge_family",
            Entry::HistogramFamily(_) => "histogram_family",
        }
    }
}

/// A metric about to be registered (the registry wants a concrete type).
struct Registration(RegisterFn);

/// Registers one metric under the given name and help text.
type RegisterFn = Box<dyn FnOnce(&mut Registry, &str, &str)>;

impl Registration {
    fn of(metric: impl prometheus_client::registry::Metric) -> Self {
        Self(Box::new(move |registry, name, help| {
            registry.register(name, help, metric)
        }))
    }

    fn register(self, registry: &mut Registry, name: &str, help: &str) {
        (self.0)(registry, name, help)
    }
}

struct Inner {
    registry: Registry,
    entries: HashMap<String, Entry>,
}

/// Cloneable handle to the process's Prometheus registry.
///
/// Metric names are used as given (use a `mailstack_` prefix and snake case).
/// Counter names must not end in `_total`: the OpenMetrics encoder appends
/// it, and a trailing `_total` given here is removed to avoid `_total_total`.
///
/// Asking twice for the same name and kind returns the same metric, so two
/// modules can share a counter by name.
///
/// # Panics
///
/// The registering methods panic when a name is already registered as a
/// different kind of metric (for example `counter("x")` then `gauge("x")`):
/// metric names are constants in the code, so this is a programming error
/// that the first test run reveals.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        let mut names: Vec<&String> = inner.entries.keys().collect();
        names.sort();
        f.debug_struct("Metrics").field("names", &names).finish()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                registry: Registry::default(),
                entries: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the registry half
        // updated in a way that matters for encoding, so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the metric registered under `name`, registering the one built
    /// by `make` first if there is none.
    fn get_or_register<T>(
        &self,
        name: &str,
        help: &str,
        make: impl FnOnce() -> (Entry, Registration),
        pick: impl Fn(&Entry) -> Option<T>,
    ) -> T {
        let mut inner = self.lock();
        if let Some(existing) = inner.entries.get(name) {
            return pick(existing).unwrap_or_else(|| {
                panic!(
                    "metric {name:?} is already registered as a {}",
                    existing.kind()
                )
            });
        }
        let (entry, metric) = make();
        let picked = pick(&entry).expect("a freshly built metric has the requested kind");
        metric.register(&mut inner.registry, name, help);
        inner.entries.insert(name.to_owned(), entry);
        picked
    }

    /// A monotonically increasing counter (encoded as `<name>_total`).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let name = counter_name(name);
        self.get_or_register(
            name,
            help,
            || {
                let c = Counter::default();
                (Entry::Counter(c.clone()), Registration::of(c))
            },
            |e| match e {
                Entry::Counter(c) => Some(c.clone()),
                _ => None,
            },
        )
    }

    /// A gauge that the service sets, increments and decrements.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.get_or_register(
            name,
            help,
            || {
                let g = Gauge::default();
                (Entry::Gauge(g.clone()), Registration::of(g))
            },
            |e| match e {
                Entry::Gauge(g) => Some(g.clone()),
                _ => None,
            },
        )
    }

    /// A gauge whose value is computed by `read` at each scrape, e.g.
    /// `metrics.gauge_fn("mailstack_connections_active", "...", move || stats.active() as i64)`.
    ///
    /// Registering the same name again keeps the first closure.
    pub fn gauge_fn(&self, name: &str, help: &str, read: impl Fn() -> i64 + Send + Sync + 'static) {
        self.get_or_register(
            name,
            help,
            || (Entry::GaugeFn, Registration::of(FnGauge(Arc::new(read)))),
            |e| match e {
                Entry::GaugeFn => Some(()),
                _ => None,
            },
        )
    }

    /// A histogram with the given bucket upper bounds (seconds for durations,
    /// bytes for sizes), e.g. `exponential_buckets(0.001, 2.0, 16)`.
    ///
    /// Registering the same name again returns the first histogram with its
    /// original buckets.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Histogram {
        self.get_or_register(
            name,
            help,
            || {
                let h = Histogram::new(buckets);
                (Entry::Histogram(h.clone()), Registration::of(h))
            },
            |e| match e {
                Entry::Histogram(h) => Some(h.clone()),
                _ => None,
            },
        )
    }

    /// A counter family: `family.get_or_create(&labels).inc()`.
    pub fn counter_family(&self, name: &str, help: &str) -> CounterFamily {
        let name = counter_name(name);
        self.get_or_register(
            name,
            help,
            || {
                let f = CounterFamily::default();
                (Entry::CounterFamily(f.clone()), Registration::of(f))
            },
            |e| match e {
                Entry::CounterFamily(f) => Some(f.clone()),
                _ => None,
            },
        )
    }

    /// A gauge family: `family.get_or_create(&labels).set(n)`.
    pub fn gauge_family(&self, name: &str, help: &str) -> GaugeFamily {
        self.get_or_register(
            name,
            help,
            || {
                let f = GaugeFamily::default();
                (Entry::GaugeFamily(f.clone()), Registration::of(f))
            },
            |e| match e {
                Entry::GaugeFamily(f) => Some(f.clone()),
                _ => None,
            },
        )
    }

    /// A histogram family whose members all use `buckets`.
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        buckets: impl IntoIterator<Item = f64>,
    ) -> HistogramFamily {
        self.get_or_register(
            name,
            help,
            || {
                let buckets = HistogramBuckets(buckets.into_iter().collect());
                let f = HistogramFamily::new_with_constructor(buckets);
                (Entry::HistogramFamily(f.clone()), Registration::of(f))
            },
            |e| match e {
                Entry::HistogramFamily(f) => Some(f.clone()),
                _ => None,
            },
        )
    }

    /// The whole registry in OpenMetrics text format (served as
    /// [`METRICS_CONTENT_TYPE`](crate::METRICS_CONTENT_TYPE)), ending in `# EOF`.
    pub fn encode(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        // Writing into a String cannot fail; an Err here would come from a
        // metric's own encoder, which the built-in types never return.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &inner.registry) {
            tracing::error!("encoding metrics failed: {err}");
        }
        out
    }
}

/// Strips a trailing `_total`, which the OpenMetrics encoder adds itself.
fn counter_name(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
