//! One watch per kind, shared: a reflector fills the store the Kubernetes adapter's
//! `KubeReader` and the batch read from, and fans every touched object out to the
//! controllers (`Controller::for_shared_stream` / `watches_shared_stream`), so no kind is
//! watched twice.
//!
//! The fan-out loses nothing: every subscriber has its own queue (see [`Feed`]), so a
//! controller that lags behind a burst still sees every change, and a controller that is
//! not running (standby replica) holds nothing back.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vlb_k8s_adapter::reader::Cached;
use vlb_k8s_adapter::{LoadBalancerConfig, NodeSecurityGroup, Stores};

/// The changes of one kind, for any number of subscribers: each subscriber has its own
/// queue, so none loses a change however far it lags, and none holds the reflector (or
/// the other subscribers) back. A subscriber that goes away (a controller stopped on
/// losing leadership) is dropped at the next change; a standby replica has none.
pub struct Feed<K> {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>>,
}

impl<K> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self {
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K: Send + Sync + 'static> Feed<K> {
    fn new() -> Self {
        Self {
            subscribers: Arc::default(),
        }
    }

    /// Hands `obj` to every subscriber, in watch order.
    fn send(&self, obj: K) {
        let obj = Arc::new(obj);
        self.subscribers
            .lock()
            .retain(|tx| tx.send(obj.clone()).is_ok());
    }

    /// Objects changed from now on (applied or deleted), in watch order, every one of
    /// them; the stream ends when the watches stop.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.lock().push(tx);
        futures::stream::unfold(rx, |mut rx| async move {
            let obj = rx.recv().await?;
            Some((obj, rx))
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
            feed.send(obj);
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    // #15: the broadcast this replaces kept 4096 changes and dropped the rest for a
    // subscriber that lagged further behind.
    #[tokio::test]
    async fn a_slow_subscriber_sees_every_one_of_ten_thousand_changes_in_order() {
        let feed = Feed::<u32>::new();
        let slow = feed.subscribe();
        let quick = feed.subscribe();
        let producer = {
            let feed = feed.clone();
            tokio::spawn(async move {
                for i in 0..10_000 {
                    feed.send(i);
                }
            })
        };
        producer.await.unwrap();
        // The slow one starts reading only after the whole burst, and yields on each item.
        let seen: Vec<u32> = slow
            .take(10_000)
            .then(|i| async move {
                tokio::task::yield_now().await;
                *i
            })
            .collect()
            .await;
        assert_eq!(seen, (0..10_000).collect::<Vec<_>>());
        let quick: Vec<u32> = quick.take(10_000).map(|i| *i).collect().await;
        assert_eq!(quick.len(), 10_000);
    }

    #[tokio::test]
    async fn a_dropped_subscriber_is_forgotten_and_the_stream_ends_with_the_feed() {
        let feed = Feed::<u32>::new();
        drop(feed.subscribe());
        let kept = feed.subscribe();
        feed.send(1);
        assert_eq!(feed.subscribers.lock().len(), 1);
        drop(feed);
        let rest: Vec<u32> = kept.map(|i| *i).collect().await;
        assert_eq!(rest, vec![1]);
    }
}
