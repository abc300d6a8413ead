//! Leader election with a Kubernetes Lease (kube-lease-manager): only the leader
//! reconciles; the lease is released on shutdown so a standby takes over at once.

use std::time::Duration;

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Settings of the election.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// Lease duration.
    pub duration: Duration,
}

/// Error of the election (retried by restarting the process: the Deployment does).
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease manager could not start.
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
}

/// A running election.
#[derive(Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl Leadership {
    /// Starts competing for the lease.
    pub async fn start(client: kube::Client, s: &LeaseSettings) -> Result<Self, LeaderError> {
        let secs = s.duration.as_secs().max(2);
        let manager = LeaseManagerBuilder::new(client, &s.name)
            .with_namespace(&s.namespace)
            .with_identity(&s.identity)
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .build()
            .await?;
        let (rx, task) = manager.watch().await;
        Ok(Self { rx, task })
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this replica leads; `false` when the election stopped first.
    pub async fn acquired(&mut self) -> bool {
        self.rx.wait_for(|l| *l).await.is_ok()
    }

    /// Waits until this replica stops leading (or the election stops).
    pub async fn lost(&mut self) {
        let _ = self.rx.wait_for(|l| !*l).await;
    }

    /// A handle that stops the election at once, without releasing the lease (a crash: a
    /// standby takes over when the lease expires).
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.task.abort_handle()
    }

    /// Releases the lease (when held), waiting at most `deadline`.
    pub async fn release(self, deadline: Duration) {
        let Self { rx, task } = self;
        drop(rx);
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the leader lease failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election task failed"),
            Err(_) => tracing::warn!("releasing the leader lease timed out"),
        }
    }
}

/// The Lease the Go controller (GreenNodeHub/vngcloud-load-balancer-controller) elects its
/// leader with: `LeaderElectionID` in its `cmd/main.go`,
/// `n-<clusterID>-n.n-<namespace>-n.lbc.vks.vngcloud.vn`, where `namespace` is its config's
/// `cluster.namespace` (set only when it runs outside the cluster; empty, as here, in a
/// cluster). vlb takes the same Lease by default, so the two never reconcile at once while
/// one replaces the other.
pub fn go_lease_name(cluster_id: &str) -> String {
    go_lease_name_in(cluster_id, "")
}

/// [`go_lease_name`] for a Go controller configured with `cluster.namespace`.
pub fn go_lease_name_in(cluster_id: &str, go_namespace: &str) -> String {
    format!("n-{cluster_id}-n.n-{go_namespace}-n.lbc.vks.vngcloud.vn")
}

/// Default identity: `POD_NAME` is read by the CLI; else the host name, else a fixed name.
pub fn default_identity() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("vlb-controller-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `LeaderElectionID` of the Go controller's `cmd/main.go`.
    #[test]
    fn the_default_lease_is_the_go_controllers() {
        assert_eq!(
            go_lease_name("k8s-3a5b2c1d-8f3e-4a6b-9c2d-1e0f5a7b3c9d"),
            "n-k8s-3a5b2c1d-8f3e-4a6b-9c2d-1e0f5a7b3c9d-n.n--n.lbc.vks.vngcloud.vn"
        );
        assert_eq!(
            go_lease_name_in("k8s-1", "vks-ns"),
            "n-k8s-1-n.n-vks-ns-n.lbc.vks.vngcloud.vn"
        );
    }
}
