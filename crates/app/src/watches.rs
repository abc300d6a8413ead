//! One watch per kind, shared: a reflector fills the store the Kubernetes adapter's
//! `KubeReader` and the batch read from, and fans every touched object out to the
//! controllers (`Controller::for_shared_stream` / `watches_shared_stream`), so no kind is
//! watched twice.
//!
//! The fan-out is a lossy broadcast: a controller that is not running (standby replica)
//! or lags never holds the reflector back; a lagging subscriber logs it and catches up
//! on the next change or drift check.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use vlb_k8s_adapter::reader::Cached;
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup, Stores};

/// Objects buffered per kind for subscribers that have not read them yet.
const FEED_CAPACITY: usize = 4096;

/// The changes of one kind, for any number of subscribers.
pub struct Feed<K> {
    tx: broadcast::Sender<Arc<K>>,
}

impl<K> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<K: Send + Sync + 'static> Feed<K> {
    fn new() -> Self {
        Self {
            tx: broadcast::channel(FEED_CAPACITY).0,
        }
    }

    /// Objects changed from now on (applied or deleted), in watch order.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        futures::stream::unfold(self.tx.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(obj) => return Some((obj, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "controller lagged behind its watch");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// The feeds the controllers subscribe to.
#[derive(Clone)]
pub struct Feeds {
    /// Nodes.
    pub nodes: Feed<Node>,
    /// Services.
    pub services: Feed<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Feed<EndpointSlice>,
    /// LoadBalancerConfigs.
    pub lbcs: Feed<LoadBalancerConfig>,
    /// NodeSecurityGroups.
    pub nsgs: Feed<NodeSecurityGroup>,
}

/// The running watches (dropping this stops them).
pub struct Watches {
    /// Stores (for the adapter's reader and batch, and the controllers).
    pub stores: Stores,
    /// Change feeds (for the controllers).
    pub feeds: Feeds,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn<K: Cached>(
    api: Api<K>,
    feed: Option<Feed<K>>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Store<K> {
    vlb_k8s_adapter::reader::spawn_reflector(api, tasks, move |obj| {
        if let Some(feed) = &feed {
            // No subscriber (standby replica) is fine.
            let _ = feed.tx.send(Arc::new(obj));
        }
    })
}

impl Watches {
    /// Starts one cluster-wide watch per kind (Nodes, Services, EndpointSlices, Secrets,
    /// LoadBalancerConfigs, NodeSecurityGroups).
    pub fn start(client: &Client) -> Self {
        let mut tasks = Vec::new();
        let feeds = Feeds {
            nodes: Feed::new(),
            services: Feed::new(),
            endpoint_slices: Feed::new(),
            lbcs: Feed::new(),
            nsgs: Feed::new(),
        };
        let stores = Stores {
            nodes: spawn(
                Api::all(client.clone()),
                Some(feeds.nodes.clone()),
                &mut tasks,
            ),
            services: spawn(
                Api::all(client.clone()),
                Some(feeds.services.clone()),
                &mut tasks,
            ),
            endpoint_slices: spawn(
                Api::all(client.clone()),
                Some(feeds.endpoint_slices.clone()),
                &mut tasks,
            ),
            secrets: spawn::<Secret>(Api::all(client.clone()), None, &mut tasks),
            lbcs: spawn(
                Api::all(client.clone()),
                Some(feeds.lbcs.clone()),
                &mut tasks,
            ),
            nsgs: spawn(
                Api::all(client.clone()),
                Some(feeds.nsgs.clone()),
                &mut tasks,
            ),
        };
        Self {
            stores,
            feeds,
            tasks,
        }
    }

    /// Waits until every store has its first full list, at most `timeout`.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), String> {
        let s = &self.stores;
        let all = async {
            futures::try_join!(
                s.nodes.wait_until_ready(),
                s.services.wait_until_ready(),
                s.endpoint_slices.wait_until_ready(),
                s.secrets.wait_until_ready(),
                s.lbcs.wait_until_ready(),
                s.nsgs.wait_until_ready(),
            )
            .map(drop)
        };
        match tokio::time::timeout(timeout, all).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "watch caches not synced after {timeout:?} (is the API server reachable, are \
                 the CRDs installed, may this identity list and watch every kind?)"
            )),
        }
    }
}
