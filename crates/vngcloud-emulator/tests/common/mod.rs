//! Shared test helpers: a started emulator, a token, a plain HTTP client, and Rust mirrors of
//! the Go SDK's response structs (field names and nesting copied from vngcloud-go-sdk v2).

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::struct_field_names,
    clippy::unused_self
)]

pub mod sdk;

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use vlb_vngcloud_emulator::{EmulatorConfig, VngEmulator};

pub struct Env {
    pub emu: VngEmulator,
    pub http: Client,
    pub token: String,
}

pub async fn env() -> Env {
    env_with(EmulatorConfig::default()).await
}

pub async fn env_with(config: EmulatorConfig) -> Env {
    let emu = VngEmulator::start_with(config).await.expect("start");
    let http = client();
    let token = get_token(&http, &emu).await;
    Env { emu, http, token }
}

/// A plain HTTP client (reqwest needs a rustls provider even for http://).
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub async fn get_token(http: &Client, emu: &VngEmulator) -> String {
    let resp = http
        .post(format!("{}/accounts-api/v2/auth/token", emu.url()))
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let t: sdk::GetAccessTokenResponse = resp.json().await.expect("token json");
    t.access_token
}

impl Env {
    pub fn vlb(&self, rest: &str) -> String {
        format!(
            "{}/vlb-gateway/v2/{}/{rest}",
            self.emu.url(),
            self.emu.project_id()
        )
    }

    pub fn vs(&self, rest: &str) -> String {
        format!(
            "{}/vserver-gateway/v2/{}/{rest}",
            self.emu.url(),
            self.emu.project_id()
        )
    }

    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        (status, v)
    }

    pub async fn get(&self, url: &str) -> (StatusCode, Value) {
        self.call(Method::GET, url, None).await
    }

    pub fn subnet_a(&self) -> String {
        vlb_vngcloud_emulator::Fixture::default().networks[0].subnets[0]
            .id
            .clone()
    }

    pub fn nlb_package(&self) -> String {
        vlb_vngcloud_emulator::Fixture::default().packages[0]
            .id
            .clone()
    }

    pub fn alb_package(&self) -> String {
        vlb_vngcloud_emulator::Fixture::default().packages[2]
            .id
            .clone()
    }

    /// Creates an NLB with an inline TCP listener and pool and one member; returns its id.
    pub async fn create_nlb(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                &self.vlb("loadBalancers"),
                Some(nlb_body(name, &self.nlb_package(), &self.subnet_a())),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let r: sdk::CreateLoadBalancerResponse = serde_json::from_value(body).expect("uuid");
        r.uuid
    }

    /// Polls until the load balancer reports ACTIVE/CREATED.
    pub async fn wait_active(&self, lb: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(&self.vlb(&format!("loadBalancers/{lb}"))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let r: sdk::GetLoadBalancerByIdResponse = serde_json::from_value(body).expect("lb");
            if r.data.display_status == "ACTIVE" && r.data.progress_status == "CREATED" {
                return;
            }
            assert!(Instant::now() < deadline, "lb {lb} never became ACTIVE");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn create_active_nlb(&self, name: &str) -> String {
        let id = self.create_nlb(name).await;
        self.wait_active(&id).await;
        id
    }
}

pub fn nlb_body(name: &str, package: &str, subnet: &str) -> Value {
    json!({
        "name": name,
        "packageId": package,
        "scheme": "Internal",
        "autoScalable": false,
        "subnetId": subnet,
        "type": "Layer 4",
        "listener": {
            "allowedCidrs": "0.0.0.0/0",
            "listenerName": "listener-tcp-80",
            "listenerProtocol": "TCP",
            "listenerProtocolPort": 80,
            "timeoutClient": 50,
            "timeoutConnection": 5,
            "timeoutMember": 50,
            "defaultPoolId": null,
            "certificateAuthorities": null,
            "clientCertificate": null,
            "defaultCertificateAuthority": null,
            "insertHeaders": null
        },
        "pool": {
            "algorithm": "ROUND_ROBIN",
            "poolName": "pool-tcp-80",
            "poolProtocol": "TCP",
            "healthMonitor": {
                "healthCheckProtocol": "TCP",
                "healthyThreshold": 3,
                "unhealthyThreshold": 3,
                "interval": 30,
                "timeout": 5
            },
            "members": [
                {"backup": false, "ipAddress": "10.76.0.11", "monitorPort": 30080, "name": "worker-1", "port": 30080, "weight": 1}
            ]
        },
        "tags": [{"key": "vks-cluster", "value": "c1"}],
        "isPoc": false,
        "zoneId": null
    })
}
