//! Configuration: the fixture (what the emulated project holds at start), the life-cycle delays,
//! the token lifetime, the rate limit and the time source.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::EmulatorError;

/// A source of monotonic time. Life-cycle delays, token expiry and the rate limiter read it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Tokio's clock: follows `tokio::time::pause()` / `advance()` in tests with paused time.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A clock that only moves when told to (tests of expiry without waiting).
#[derive(Debug, Clone)]
pub struct ManualClock {
    base: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock frozen at the current instant.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock()
    }
}

/// Life-cycle delays of load balancers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delays {
    /// CREATING → ACTIVE.
    pub create_ms: u64,
    /// How long every change keeps the load balancer UPDATING.
    pub update_ms: u64,
    /// DELETING → gone.
    pub delete_ms: u64,
}

impl Delays {
    /// Short delays for tests.
    pub const fn test() -> Self {
        Self {
            create_ms: 200,
            update_ms: 100,
            delete_ms: 100,
        }
    }

    /// Delays close to the real service (seconds).
    pub const fn realistic() -> Self {
        Self {
            create_ms: 30_000,
            update_ms: 5_000,
            delete_ms: 10_000,
        }
    }
}

/// A per-project token bucket: `requests` tokens refilled evenly over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket capacity (and refill per window).
    pub requests: u32,
    /// Refill window.
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests: 1000,
            window: Duration::from_secs(60),
        }
    }
}

/// Everything `VngEmulator::start_with` needs.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind; `127.0.0.1:0` picks a free port.
    pub addr: std::net::SocketAddr,
    /// Initial content of the project.
    pub fixture: Fixture,
    /// Life-cycle delays.
    pub delays: Delays,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Per-project rate limit.
    pub rate_limit: RateLimit,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// How many journal entries are kept (counters stay exact beyond it).
    pub journal_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            fixture: Fixture::default(),
            delays: Delays::test(),
            token_ttl: Duration::from_secs(1800),
            rate_limit: RateLimit::default(),
            clock: Arc::new(SystemClock),
            journal_capacity: 100_000,
        }
    }
}

/// One subnet of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureSubnet {
    /// Subnet id (`sub-...`).
    pub id: String,
    /// Subnet name.
    pub name: String,
    /// IPv4 CIDR.
    pub cidr: String,
    /// Zone the subnet lives in.
    pub zone_id: String,
}

/// A network (VPC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureNetwork {
    /// Network id (`net-...`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// IPv4 CIDR of the whole network.
    pub cidr: String,
    /// Its subnets.
    pub subnets: Vec<FixtureSubnet>,
}

/// An internal interface of a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureInterface {
    /// Network id.
    pub network_id: String,
    /// Subnet id.
    pub subnet_id: String,
    /// Fixed IPv4 address.
    pub fixed_ip: String,
}

/// A server (VM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureServer {
    /// Server id (`ins-...`).
    pub id: String,
    /// Server name.
    pub name: String,
    /// Zone.
    pub zone_id: String,
    /// Internal interfaces.
    pub interfaces: Vec<FixtureInterface>,
    /// Ids of the security groups attached at start.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A security group present at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureSecgroup {
    /// Id (`secg-...`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A vLB package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixturePackage {
    /// Package id (`lbp-...`).
    pub id: String,
    /// Package name.
    pub name: String,
    /// Zone the package is sold in.
    pub zone_id: String,
    /// `Layer 4` (NLB) or `Layer 7` (ALB).
    pub lb_type: String,
    /// Maximum concurrent connections.
    pub connection_number: i64,
    /// Data transfer allowance.
    pub data_transfer: i64,
}

/// Project quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quotas {
    /// Load balancers per project.
    pub load_balancers: u32,
    /// Security groups per project.
    pub security_groups: u32,
    /// Rules per security group.
    pub security_group_rules: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            load_balancers: 20,
            security_groups: 50,
            security_group_rules: 50,
        }
    }
}

/// The initial content of the emulated project (JSON, camelCase keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fixture {
    /// Project id (`pro-...`).
    pub project_id: String,
    /// Service-account client id.
    pub client_id: String,
    /// Service-account client secret.
    pub client_secret: String,
    /// Networks with subnets.
    pub networks: Vec<FixtureNetwork>,
    /// Servers.
    pub servers: Vec<FixtureServer>,
    /// Security groups.
    #[serde(default)]
    pub security_groups: Vec<FixtureSecgroup>,
    /// vLB packages.
    pub packages: Vec<FixturePackage>,
    /// Quotas.
    #[serde(default)]
    pub quotas: Quotas,
}

impl Fixture {
    /// Reads a fixture from a JSON file.
    pub fn from_file(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Fixture {
            path: path.display().to_string(),
            reason: source.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|source| EmulatorError::Fixture {
            path: path.display().to_string(),
            reason: source.to_string(),
        })
    }

    /// All subnets with the id of their network.
    pub fn subnets(&self) -> impl Iterator<Item = (&FixtureNetwork, &FixtureSubnet)> {
        self.networks
            .iter()
            .flat_map(|n| n.subnets.iter().map(move |s| (n, s)))
    }
}

impl Default for Fixture {
    fn default() -> Self {
        let net = "net-4f4a2d1c-7d0e-4a53-9b2e-1e2f3a4b5c6d";
        let sub_a = "sub-0a1b2c3d-1111-4e5f-8a9b-aaaaaaaaaaaa";
        let sub_b = "sub-0a1b2c3d-2222-4e5f-8a9b-bbbbbbbbbbbb";
        let zone_a = "HCM03-1A";
        let zone_b = "HCM03-1B";
        let server = |n: u32, zone: &str, subnet: &str, ip: &str| FixtureServer {
            id: format!("ins-5e6f7a8b-000{n}-4c3d-9e8f-00000000000{n}"),
            name: format!("worker-{n}"),
            zone_id: zone.to_owned(),
            interfaces: vec![FixtureInterface {
                network_id: net.to_owned(),
                subnet_id: subnet.to_owned(),
                fixed_ip: ip.to_owned(),
            }],
            security_groups: vec!["secg-default-0000-4000-8000-000000000000".to_owned()],
        };
        let package =
            |id: &str, name: &str, zone: &str, lb_type: &str, conns: i64| FixturePackage {
                id: id.to_owned(),
                name: name.to_owned(),
                zone_id: zone.to_owned(),
                lb_type: lb_type.to_owned(),
                connection_number: conns,
                data_transfer: 3000,
            };
        Self {
            project_id: "pro-462803f3-6858-466f-bf05-df2b33faa360".to_owned(),
            client_id: "emulator-client-id".to_owned(),
            client_secret: "emulator-client-secret".to_owned(),
            networks: vec![FixtureNetwork {
                id: net.to_owned(),
                name: "vpc-main".to_owned(),
                cidr: "10.76.0.0/16".to_owned(),
                subnets: vec![
                    FixtureSubnet {
                        id: sub_a.to_owned(),
                        name: "subnet-a".to_owned(),
                        cidr: "10.76.0.0/24".to_owned(),
                        zone_id: zone_a.to_owned(),
                    },
                    FixtureSubnet {
                        id: sub_b.to_owned(),
                        name: "subnet-b".to_owned(),
                        cidr: "10.76.1.0/24".to_owned(),
                        zone_id: zone_b.to_owned(),
                    },
                ],
            }],
            servers: vec![
                server(1, zone_a, sub_a, "10.76.0.11"),
                server(2, zone_a, sub_a, "10.76.0.12"),
                server(3, zone_b, sub_b, "10.76.1.13"),
            ],
            security_groups: vec![FixtureSecgroup {
                id: "secg-default-0000-4000-8000-000000000000".to_owned(),
                name: "default".to_owned(),
                description: "Default security group".to_owned(),
            }],
            packages: vec![
                package(
                    "lbp-96b6b072-aadb-4b58-9d5f-c16ad69d36aa",
                    "NLB_Small",
                    zone_a,
                    "Layer 4",
                    100_000,
                ),
                package(
                    "lbp-71d3e3ff-1b2a-4c5f-9a0b-3b8c6d1e2f40",
                    "NLB_Medium",
                    zone_a,
                    "Layer 4",
                    500_000,
                ),
                package(
                    "lbp-f562b658-0fd4-4fa6-9c57-c1a803ccbf86",
                    "ALB_Small",
                    zone_a,
                    "Layer 7",
                    100_000,
                ),
                package(
                    "lbp-2c9a5e51-6b7d-4d0e-8f1a-5b6c7d8e9f01",
                    "NLB_Small",
                    zone_b,
                    "Layer 4",
                    100_000,
                ),
            ],
            quotas: Quotas::default(),
        }
    }
}
