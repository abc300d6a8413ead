//! Tracing: a span per call and no secret in logs. Alone in its binary: the thread-local
//! subscriber must see every callsite first.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use vlb_domain::ports::{LoadBalancerApi, NetworkApi};
use vlb_vngcloud_emulator::{Fault, FaultKind};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn full_run_logs_neither_the_client_secret_nor_a_token() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (emu, client) = start().await;
    let secret = emu.client_secret().to_owned();
    // Debug output of the configuration hides the secret.
    assert!(!format!("{:?}", client.config()).contains(&secret));
    let id = client
        .create_load_balancer(&lb_request("logged"))
        .await
        .unwrap();
    client.wait_load_balancer_ready(&id, None).await.unwrap();
    let c = emu.control();
    c.add_fault(Fault::new(
        "GET",
        &lb_t("loadBalancers/{loadBalancerId}"),
        FaultKind::Status { status: 503 },
        1,
    ));
    client.list_pools(&id).await.unwrap();
    client.get_load_balancer(&id).await.unwrap();
    c.expire_tokens();
    client.get_server(SERVER_1).await.unwrap();
    client.delete_load_balancer(&id).await.unwrap();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("vngcloud.call"), "no call span in logs");
    assert!(logs.contains("loadBalancers/{loadBalancerId}"));
    assert!(logs.contains("retrying VNGCloud call"));
    assert!(!logs.contains(&secret), "client secret in logs");
    // Emulator tokens look like `emu.<hex>`.
    assert!(!logs.contains("emu."), "bearer token in logs");
    assert!(
        !logs.to_ascii_lowercase().contains("bearer "),
        "authorization in logs"
    );
}
