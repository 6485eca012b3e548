//! Launch, activate, deactivate, terminate, attach: states and the errors
//! of wrong transitions, against a real ringkerneld.
mod common;

use std::time::Duration;

use common::Server;
use ringkernel::{Backend, ErrorKind, LaunchOptions, State, Transfer, ABI_VERSION};

#[test]
fn launch_leaves_the_kernel_inactive_until_activated() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::new().backend(Backend::Cpu)).unwrap();
    assert_eq!(k.state().unwrap(), State::Launched);
    k.activate().unwrap();
    assert_eq!(k.state().unwrap(), State::Active);
    k.deactivate().unwrap();
    assert_eq!(k.state().unwrap(), State::Deactivated);
    k.activate().unwrap();
    assert_eq!(k.state().unwrap(), State::Active);
}

#[test]
fn a_staged_transfer_on_the_cpu_backend_launches_and_serves_calls() {
    // The CPU backend reads the rings in place whatever strategy is asked.
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::new().backend(Backend::Cpu).transfer(Transfer::Staged)).unwrap();
    k.activate().unwrap();
    assert_eq!(k.call(3, b"staged").unwrap().payload(), b"staged");
}

#[test]
fn terminate_ends_the_kernel_and_a_second_terminate_is_a_state_error() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    k.terminate(Duration::from_secs(5)).unwrap();
    assert_eq!(k.state().unwrap(), State::Terminated);
    let e = k.terminate(Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State, "{e}");
    let e = k.activate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State, "{e}");
}

#[test]
fn activate_twice_is_a_state_error() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    let e = k.activate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State);
    assert!(!e.message().is_empty(), "the server explains: {e:?}");
    assert!(!e.is_kernel_reply());
}

#[test]
fn deactivate_before_activate_is_a_state_error() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    assert_eq!(k.deactivate().unwrap_err().kind(), ErrorKind::State);
    assert_eq!(k.state().unwrap(), State::Launched);
}

#[test]
fn a_shared_instance_is_reachable_from_another_session() {
    let server = Server::start();
    let owner = server.client();
    let k = owner.launch("echo", LaunchOptions::new().shared("shared-echo")).unwrap();
    k.activate().unwrap();

    let other = server.client();
    let attached = other.attach("shared-echo").unwrap();
    assert_eq!(attached.id(), k.id());
    assert_eq!(attached.state().unwrap(), State::Active);
    let reply = attached.call(3, b"via attach").unwrap();
    assert_eq!(reply.payload(), b"via attach");
    drop(reply);
    assert_eq!(k.metrics().unwrap().channels, 2);
}

#[test]
fn attach_to_an_unknown_instance_is_not_found() {
    let server = Server::start();
    let e = server.client().attach("nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("nobody"), "{e}");
}

#[test]
fn server_info_describes_the_daemon() {
    let server = Server::start();
    let client = server.client();
    let _k = client.launch("echo", LaunchOptions::default()).unwrap();
    let info = client.server_info().unwrap();
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.pid, server.pid());
    assert_eq!(info.default_backend, Backend::Cpu);
    assert!(info.sessions >= 1);
    assert!(info.instances >= 1);
    assert_eq!(ringkernel::abi_version(), ABI_VERSION);
}

#[test]
fn metrics_count_processed_messages() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    let before = k.metrics().unwrap();
    for i in 0..10u32 {
        k.call(i, &i.to_le_bytes()).unwrap();
    }
    let after = k.metrics().unwrap();
    assert_eq!(after.state, State::Active);
    assert_eq!(after.processed - before.processed, 10);
    assert_eq!(after.dropped, 0);
    assert_eq!(after.channels, 1);
    assert!(after.epoch > 0);
    assert!(after.latency_max >= after.latency_min);
}

#[test]
fn kernels_keep_the_session_open_after_the_client_is_dropped() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    drop(client);
    assert_eq!(k.call(1, b"still here").unwrap().payload(), b"still here");
}

#[test]
fn dropping_a_private_kernel_releases_its_instance() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    assert_eq!(client.server_info().unwrap().instances, 1);
    drop(k);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.server_info().unwrap().instances != 0 {
        assert!(std::time::Instant::now() < deadline, "instance not reclaimed");
        std::thread::sleep(Duration::from_millis(10));
    }
}
