//! The operator as a library: [`Operator::start`] runs everything `vlb-controller run`
//! runs (shared watches, the Kubernetes adapter, the VNGCloud client, leader election,
//! the three controllers) on a given `kube::Client`, inside the caller's Tokio runtime.
//! `run`, the demo (crate `vlb-demo`) and the end-to-end tests all use it.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, cloud: vlb_cloud_adapter::CloudConfig)
//! # -> Result<(), vlb_app::commands::AppError> {
//! use vlb_app::embedded::{Operator, OperatorConfig};
//! let operator = Operator::start(client, OperatorConfig::new("c1", cloud)).await?;
//! assert!(operator.metrics_text().contains("controller_runtime_reconcile"));
//! operator.shutdown().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use vlb_cloud_adapter::{CloudConfig, VngCloudClient};
use vlb_k8s_adapter::{KubeEventSink, KubeReader, KubeWriter};

use crate::commands::AppError;
use crate::controllers::{AdapterWiring, Context, Settings};
use crate::leader::{Leadership, LeaseSettings};
use crate::metrics::Metrics;
use crate::operator::{self, RunOptions};
use crate::probes::Readiness;
use crate::requeue::Backoff;
use crate::watches::Watches;

/// Everything an [`Operator`] needs besides its Kubernetes client.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Id of this cluster: names load balancers and tags those this cluster created.
    pub cluster_id: String,
    /// VNGCloud endpoints, project, credentials, timeouts, retries, pacing.
    pub cloud: CloudConfig,
    /// Reconciles running at once per controller (at least 1).
    pub concurrency: u16,
    /// Quiet time collecting changes of an object (and Node / EndpointSlice bursts)
    /// before it is reconciled.
    pub debounce: Duration,
    /// Every object is reconciled again after this long (repairs out-of-band drift).
    pub drift_period: Duration,
    /// Compete for a Lease; only the holder reconciles. Off: reconcile at once.
    pub leader_election: bool,
    /// This replica's identity in the Lease and in Events (the pod name).
    pub identity: String,
    /// Lease duration: a standby takes over this long after the leader stopped renewing.
    pub lease_duration: Duration,
    /// On shutdown, how long in-flight reconciles may run (and, separately, how long the
    /// lease release may take).
    pub shutdown_timeout: Duration,
    /// VPC id of the cluster; empty: read from the nodes' servers.
    pub vpc_id: String,
    /// `spec.loadBalancerClass` handled; `None`: Services without a class.
    pub load_balancer_class: Option<String>,
    /// How Service addresses are written (default: `<ip>.nip.io`, as the Go controller).
    pub service_address: vlb_domain::model::ServiceAddress,
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease (must exist).
    pub lease_namespace: String,
    /// How long [`Operator::start`] waits for the watch caches' first lists.
    pub sync_timeout: Duration,
    /// Requeue backoff of errors that name no delay.
    pub backoff: Backoff,
    /// Retry policy of the Kubernetes writes (server-side apply, deletes, finalizers).
    pub kube_retry: vlb_k8s_adapter::RetryPolicy,
    /// Retry policy of the per-reconcile batch flush (conflicts, transient errors).
    pub batch_retry: vlb_batch::RetryPolicy,
    /// Registry to record into (the `run` subcommand passes the one its kube client
    /// counts calls into); `None`: a fresh one. Read it with [`Operator::metrics_text`].
    pub metrics: Option<Metrics>,
    /// Readiness to report into (the probe server's); `None`: a fresh one.
    pub readiness: Option<Arc<Readiness>>,
}

impl OperatorConfig {
    /// Production defaults: debounce 5 s, drift check 10 min, 4 reconciles at once per
    /// controller, leader election on (the Go controller's Lease,
    /// [`crate::leader::go_lease_name`], in `kube-system`, 15 s), shutdown deadline 30 s,
    /// the host name as identity.
    pub fn new(cluster_id: impl Into<String>, cloud: CloudConfig) -> Self {
        let cluster_id = cluster_id.into();
        Self {
            lease_name: crate::leader::go_lease_name(&cluster_id),
            cluster_id,
            cloud,
            concurrency: 4,
            debounce: Duration::from_secs(5),
            drift_period: Duration::from_secs(600),
            leader_election: true,
            identity: crate::leader::default_identity(),
            lease_duration: Duration::from_secs(15),
            shutdown_timeout: Duration::from_secs(30),
            vpc_id: String::new(),
            load_balancer_class: None,
            service_address: vlb_domain::model::ServiceAddress::default(),
            lease_namespace: "kube-system".to_owned(),
            sync_timeout: Duration::from_secs(120),
            backoff: Backoff::default(),
            kube_retry: vlb_k8s_adapter::RetryPolicy::default(),
            batch_retry: vlb_batch::RetryPolicy::default(),
            metrics: None,
            readiness: None,
        }
    }

    /// For tests and the demo against the emulators (feature `testing`): debounce 50 ms, drift check 60 s (set it shorter
    /// to test drift repair), no leader election (Lease namespace `default`, 3 s, when
    /// turned on), shutdown deadline 5 s, caches synced within 20 s, error backoff
    /// 100 ms doubling to 2 s, delays named by errors (busy, rate limited, quota) cut to
    /// 500 ms, the cloud adapter's `RetryConfig::fast()`, pacing 500
    /// requests/s (burst 200), short cloud timeouts and polls, fast Kubernetes and batch
    /// retries. The identity is unique per call.
    #[cfg(feature = "testing")]
    pub fn for_tests(cluster_id: impl Into<String>, mut cloud: CloudConfig) -> Self {
        use std::num::NonZeroU32;
        cloud.retry = vlb_cloud_adapter::RetryConfig::fast();
        cloud.pacing = Some(vlb_cloud_adapter::Pacing {
            per_second: NonZeroU32::new(500).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
        });
        cloud.connect_timeout = Duration::from_secs(2);
        cloud.request_timeout = Duration::from_secs(5);
        cloud.wait_deadline = Duration::from_secs(30);
        cloud.wait_poll = Duration::from_millis(50);
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            debounce: Duration::from_millis(50),
            drift_period: Duration::from_secs(60),
            leader_election: false,
            identity: format!("vlb-test-{}-{n}", std::process::id()),
            lease_duration: Duration::from_secs(3),
            shutdown_timeout: Duration::from_secs(5),
            lease_namespace: "default".to_owned(),
            sync_timeout: Duration::from_secs(20),
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(2),
                max_advised: Duration::from_millis(500),
            },
            kube_retry: vlb_k8s_adapter::RetryPolicy::fast(),
            batch_retry: vlb_batch::RetryPolicy::fast(),
            ..Self::new(cluster_id, cloud)
        }
    }
}

/// A running operator. Dropping it aborts it (like [`Operator::abort`]).
pub struct Operator {
    stop: CancellationToken,
    done: CancellationToken,
    task: Option<JoinHandle<Result<(), AppError>>>,
    lease_task: Option<AbortHandle>,
    leading: Arc<AtomicBool>,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    shutdown_timeout: Duration,
    _watches: Watches,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("leading", &self.is_leader())
            .finish_non_exhaustive()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(l) = self.lease_task.take() {
            l.abort();
        }
    }
}

impl Operator {
    /// Starts the operator on `client`: builds the VNGCloud client (its metrics in this
    /// operator's registry), starts one watch per kind and waits for the caches
    /// (`sync_timeout`), wires the Kubernetes adapter, starts the election when enabled,
    /// and starts the controllers (at once without election, when the lease is acquired
    /// with it). Returns once the caches are synced and the controllers (or the election)
    /// are started.
    pub async fn start(client: kube::Client, config: OperatorConfig) -> Result<Self, AppError> {
        let metrics = config.metrics.clone().unwrap_or_default();
        let readiness = config.readiness.clone().unwrap_or_default();
        let mut cloud_config = config.cloud.clone();
        // A drift check must see the cloud, not a copy made when the previous one ran.
        cloud_config.read_cache_ttl = cloud_config.read_cache_ttl.min(config.drift_period / 2);
        let cloud =
            VngCloudClient::new(cloud_config).map_err(|e| AppError::Config(e.to_string()))?;
        metrics.with_registry(|r| cloud.register_metrics(r));

        let watches = Watches::start(&client);
        watches
            .wait_until_ready(config.sync_timeout)
            .await
            .map_err(AppError::Kube)?;
        tracing::info!("caches synced");
        readiness.set_caches_synced();

        let stores = watches.stores.clone();
        let wiring = AdapterWiring {
            cloud,
            reader: KubeReader::new(stores.clone()),
            writer: KubeWriter::new(client.clone()).with_policy(config.kube_retry),
            events: KubeEventSink::new(client.clone(), Some(config.identity.clone())),
            batcher: vlb_k8s_adapter::batch_port::batcher_for(
                client.clone(),
                &stores,
                config.batch_retry.clone(),
            ),
        };
        let ctx = Arc::new(Context::new(
            client.clone(),
            vlb_domain::usecase::Config {
                cluster_id: config.cluster_id.clone(),
                vpc_id: config.vpc_id.clone(),
                load_balancer_class: config.load_balancer_class.clone(),
                service_address: config.service_address,
            },
            Arc::new(wiring),
            metrics.clone(),
            Settings {
                drift_check: config.drift_period,
                backoff: config.backoff,
            },
        ));

        let leadership = if config.leader_election {
            let settings = LeaseSettings {
                name: config.lease_name.clone(),
                namespace: config.lease_namespace.clone(),
                identity: config.identity.clone(),
                duration: config.lease_duration,
            };
            tracing::info!(lease = %settings.name, namespace = %settings.namespace, identity = %settings.identity, "competing for leadership");
            Some(Leadership::start(client, &settings).await?)
        } else {
            None
        };
        readiness.set_leadership_known();
        let lease_task = leadership.as_ref().map(Leadership::abort_handle);

        let stop = CancellationToken::new();
        let done = CancellationToken::new();
        let leading = Arc::new(AtomicBool::new(false));
        let supervisor = Supervisor {
            ctx,
            stores,
            feeds: watches.feeds.clone(),
            options: RunOptions {
                concurrency: config.concurrency.max(1),
                debounce: config.debounce,
            },
            leading: leading.clone(),
            readiness: readiness.clone(),
            shutdown_timeout: config.shutdown_timeout,
        };
        let task = tokio::spawn({
            let (stop, done) = (stop.clone(), done.clone());
            async move {
                let result = supervisor.run(leadership, stop).await;
                done.cancel();
                result
            }
        });
        if !config.leader_election {
            leading.store(true, Ordering::Release);
        }
        Ok(Self {
            stop,
            done,
            task: Some(task),
            lease_task,
            leading,
            metrics,
            readiness,
            shutdown_timeout: config.shutdown_timeout,
            _watches: watches,
        })
    }

    /// Whether this replica leads and runs the controllers now (always, without leader
    /// election, until shutdown).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// The Prometheus text exposition of this operator's registry (reconcile totals,
    /// errors, durations, queue depth, leader, VNGCloud calls; Kubernetes calls when the
    /// client counts into [`OperatorConfig::metrics`]).
    pub fn metrics_text(&self) -> String {
        self.metrics.encode().unwrap_or_default()
    }

    /// The operator's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The operator's readiness (what `/readyz` reports).
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// Resolves when the operator stopped on its own (an election error); `shutdown`
    /// then returns the reason.
    pub async fn stopped(&self) {
        self.done.cancelled().await;
    }

    /// Graceful stop: no new reconciles, in-flight ones finish within `shutdown_timeout`,
    /// the lease (when held) is released, then the watches stop.
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        self.readiness.set_shutting_down();
        self.stop.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        // Draining and releasing the lease are each bounded by `shutdown_timeout`.
        let bound = self.shutdown_timeout * 2 + Duration::from_secs(1);
        let abort = task.abort_handle();
        match tokio::time::timeout(bound, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(AppError::Kube(format!("operator task failed: {e}"))),
            Err(_) => {
                abort.abort();
                Err(AppError::ShutdownTimedOut(bound))
            }
        }
    }

    /// Hard stop now, like a crash: no cleanup, in-flight reconciles cut short, the lease
    /// is not released (a standby takes over when it expires).
    pub fn abort(self) {
        drop(self);
    }
}

/// The task that waits for leadership, runs the controllers while leading, and drains
/// them on shutdown or when leadership is lost (then competes again).
struct Supervisor {
    ctx: Arc<Context>,
    stores: vlb_k8s_adapter::Stores,
    feeds: crate::watches::Feeds,
    options: RunOptions,
    leading: Arc<AtomicBool>,
    readiness: Arc<Readiness>,
    shutdown_timeout: Duration,
}

impl Supervisor {
    async fn run(
        self,
        mut leadership: Option<Leadership>,
        stop: CancellationToken,
    ) -> Result<(), AppError> {
        let result = loop {
            if let Some(l) = leadership.as_mut() {
                self.readiness.set_standby(!l.is_leader());
                tokio::select! {
                    acquired = l.acquired() => {
                        if !acquired {
                            break Err(AppError::LeadershipLost);
                        }
                    }
                    () = stop.cancelled() => break Ok(()),
                }
            }
            self.readiness.set_standby(false);
            self.leading.store(true, Ordering::Release);
            self.ctx.metrics.set_leader(true);
            tracing::info!("leading: starting the controllers");
            let lost = self.lead(leadership.as_mut(), &stop).await;
            self.leading.store(false, Ordering::Release);
            self.ctx.metrics.set_leader(false);
            if stop.is_cancelled() {
                break Ok(());
            }
            if !lost {
                break Err(AppError::Kube(
                    "the controllers stopped on their own".into(),
                ));
            }
            tracing::warn!("leadership lost: controllers stopped, competing again");
        };
        if let Some(l) = leadership {
            l.release(self.shutdown_timeout).await;
        }
        result
    }

    /// Runs the controllers until `stop` or leadership loss (returns true) and drains
    /// them.
    async fn lead(&self, leadership: Option<&mut Leadership>, stop: &CancellationToken) -> bool {
        let token = stop.child_token();
        let controllers = operator::run(
            self.ctx.clone(),
            &self.stores,
            &self.feeds,
            self.options,
            token.clone(),
        );
        tokio::pin!(controllers);
        let lost = async {
            match leadership {
                Some(l) => l.lost().await,
                None => std::future::pending().await,
            }
        };
        let mut was_lost = false;
        let mut finished = false;
        tokio::select! {
            () = &mut controllers => finished = true,
            () = lost => was_lost = true,
            () = stop.cancelled() => {}
        }
        token.cancel();
        if finished {
            if !stop.is_cancelled() {
                tracing::warn!("controllers stopped on their own");
            }
        } else if !crate::shutdown::drain(&mut controllers, &token, self.shutdown_timeout).await {
            tracing::warn!(timeout = ?self.shutdown_timeout, "in-flight reconciles did not finish in time");
        }
        was_lost
    }
}
