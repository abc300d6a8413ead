//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

/// Polls `f` until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP status of a kube API error, if it is one.
pub fn status_of(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The reason of a kube API error.
pub fn reason_of(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.reason.clone(),
        other => format!("{other}"),
    }
}

/// The server a differential test runs against: the emulator, or a real kube-apiserver (and
/// etcd) behind the journaling, fault-injecting proxy.
pub enum Server {
    /// vlb-kube-emulator.
    Emulator(Box<vlb_kube_emulator::KubeEmulator>),
    /// A real control plane (`scripts/test.d/10-control-plane.sh` builds it).
    Apiserver(Box<vlb_kube_emulator::ControlPlane>),
}

/// Which server a differential test instance runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// vlb-kube-emulator.
    Emulator,
    /// kube-apiserver.
    Apiserver,
}

impl Server {
    /// Starts a fresh server.
    pub async fn start(backend: Backend) -> Self {
        match backend {
            Backend::Emulator => Self::Emulator(Box::new(
                vlb_kube_emulator::KubeEmulator::start().await.unwrap(),
            )),
            Backend::Apiserver => Self::Apiserver(Box::new(
                vlb_kube_emulator::ControlPlane::start()
                    .await
                    .unwrap_or_else(|e| panic!("real control plane: {e}")),
            )),
        }
    }

    /// Which one this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Emulator(_) => Backend::Emulator,
            Self::Apiserver(_) => Backend::Apiserver,
        }
    }

    /// An admin client.
    pub fn client(&self) -> kube::Client {
        match self {
            Self::Emulator(e) => e.client(),
            Self::Apiserver(c) => c.client(),
        }
    }

    /// The request journal.
    pub fn journal(&self) -> vlb_kube_emulator::Journal {
        match self {
            Self::Emulator(e) => e.journal(),
            Self::Apiserver(c) => c.journal(),
        }
    }

    /// Fault injection.
    pub fn faults(&self) -> vlb_kube_emulator::Faults {
        match self {
            Self::Emulator(e) => e.faults(),
            Self::Apiserver(c) => c.faults(),
        }
    }

    /// Base URL clients use (the emulator's, or the proxy's).
    pub fn url(&self) -> String {
        match self {
            Self::Emulator(e) => e.url(),
            Self::Apiserver(c) => c.url(),
        }
    }

    /// The admin's bearer token.
    pub fn token(&self) -> &str {
        match self {
            Self::Emulator(e) => e.token(),
            Self::Apiserver(c) => c.admin_token(),
        }
    }

    /// A kubeconfig for kubectl (admin, over TLS).
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        match self {
            Self::Emulator(e) => e.kubeconfig_path(),
            Self::Apiserver(c) => c.kubeconfig_path(),
        }
    }
}

/// Declares each scenario twice, as a module with two tests: `NAME::emulator` and
/// `NAME::apiserver` (a real kube-apiserver): the same body, `$server` bound to a fresh
/// [`Server`] of each backend. What the emulator answers must be what kube-apiserver answers.
macro_rules! differential {
    ($( $(#[$meta:meta])* async fn $name:ident($server:ident) $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn emulator() {
                let $server = $crate::common::Server::start($crate::common::Backend::Emulator).await;
                $body
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn apiserver() {
                let $server = $crate::common::Server::start($crate::common::Backend::Apiserver).await;
                $body
            }
        }
    )*};
}
