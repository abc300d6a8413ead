//! The `vlb-demo` binary: converges and exits 0 with its table, exits 1 when it cannot
//! converge in time.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vlb-demo"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("VLB_LOG_LEVEL")
        .output()
        .expect("binary runs")
}

#[test]
fn demo_converges_and_exits_zero_with_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let out = run(&[
        "--timeout",
        "60s",
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "kubectl --kubeconfig {} get svc,lbc -A",
            kubeconfig.display()
        )),
        "{text}"
    );
    assert!(text.contains("Converged in"), "{text}");
    // The last table: every valid Service Ready with an address, the bad one warned.
    let last: Vec<&str> = text
        .rsplit("SERVICE ")
        .next()
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(last.len(), 4, "{text}");
    for name in ["web-tcp", "dns-udp", "two-ports"] {
        let row = last.iter().find(|l| l.starts_with(name)).unwrap();
        assert!(
            row.contains("lb-") && row.trim_end().ends_with("Ready"),
            "{row}"
        );
    }
    let bad = last
        .iter()
        .find(|l| l.starts_with("bad-annotation"))
        .unwrap();
    assert!(bad.contains("Warning") && bad.contains("scheme"), "{bad}");
}

#[test]
fn demo_that_cannot_converge_in_time_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let out = run(&[
        "--timeout",
        "1ms",
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not converged"), "{err}");
}

// #15: waiting on the cloud (load balancers CREATING) is no failure, and the bad
// annotation is the user's input, told by its Warning Event: the happy path logs no WARN.
#[test]
fn demo_at_log_level_warn_prints_no_warn_line_on_its_happy_path() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let out = run(&[
        "--log-level",
        "warn",
        "--timeout",
        "60s",
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Converged in"), "{stdout}");
    let warns: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warns.is_empty(),
        "WARN lines on the happy path:\n{}",
        warns.join("\n")
    );
}
