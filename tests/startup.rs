//! What a cloud function does before its first poll of the Lambda Runtime API: nothing but
//! read its configuration. The SDK's profile files (`~/.aws/`) and the platform's root
//! certificates (`/etc/ssl/`) are the first request's business (`chief_adapters::aws`); read at
//! start-up they made every cold start several times a hello-world's. Each function runs
//! under `strace`, against a stub Runtime API, until it polls.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};

const FUNCTIONS: [&str; 20] = [
    "api-auth",
    "api-orgs",
    "api-leads",
    "api-billing",
    "api-chat",
    "api-tasks",
    "api-content",
    "api-social",
    "api-clients",
    "api-deals",
    "api-health",
    "stripe-webhook",
    "job-executor",
    "job-run-task",
    "job-agent",
    "job-analyze",
    "job-publish",
    "job-analytics",
    "job-token-refresh",
    "job-client-health",
];

/// The file-system calls a function makes from `execve` to its first poll, as strace wrote them.
fn file_calls_before_first_poll(function: &str) -> String {
    let binary = chief_tests::binary(function);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/config"), "[default]\nregion = eu-west-1\n").unwrap();
    let trace = home.path().join("trace");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=%file", "-o"])
        .arg(&trace)
        .arg(&binary)
        .env_clear()
        .env("HOME", home.path())
        .envs(chief_tests::cloud_function_env(&api, function))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace (scripts/test installs it)");
    let (mut poll, _) = listener.accept().unwrap();
    let mut request = [0u8; 256];
    let read = poll.read(&mut request).unwrap();
    assert!(
        String::from_utf8_lossy(&request[..read]).contains("/runtime/invocation/next"),
        "{function}: its first request is not a poll"
    );
    // Stopped at its first poll: everything traced happened before it.
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&trace).unwrap()
}

#[test]
#[ignore = "needs strace: scripts/test installs it"]
fn no_function_reads_sdk_profiles_or_root_certificates_before_its_first_poll() {
    for function in FUNCTIONS {
        let calls = file_calls_before_first_poll(function);
        // The trace is real: the binary itself was started under it.
        assert!(calls.contains("execve("), "{function}: nothing traced:\n{calls}");
        let early: Vec<&str> = calls
            .lines()
            .filter(|line| line.contains("/etc/ssl") || line.contains("/.aws/"))
            .collect();
        assert!(
            early.is_empty(),
            "{function} reads these before its first poll:\n{}",
            early.join("\n")
        );
    }
}

/// Each function enables the `chief-lambda` feature of every port its `main.rs` wires. The
/// workspace's own build unifies features, so a missing one shows only when SAM builds the
/// function alone (as job-run-task's `social` did): this reads the two files instead.
#[test]
fn each_function_enables_the_features_of_the_ports_it_wires() {
    let root = chief_tests::workspace_root().join("functions");
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let features = manifest
            .lines()
            .find(|l| l.starts_with("chief-lambda"))
            .unwrap_or_default()
            .to_string();
        for port in ["mailer", "payments", "events", "queue", "ai", "social"] {
            if main.contains(&format!(".{port}()")) {
                assert!(
                    features.contains(&format!("\"{port}\"")),
                    "{} wires {port} but its Cargo.toml does not enable chief-lambda's {port} feature",
                    dir.display()
                );
            }
        }
    }
}
