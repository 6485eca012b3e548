//! Each rk_status a caller can provoke maps to its ErrorKind, with the
//! library's message, against a real ringkerneld.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use ringkernel::{sys, Client, Error, ErrorKind, LaunchOptions, MAX_PAYLOAD};

#[test]
fn an_unknown_kernel_is_not_found() {
    let server = Server::start();
    let e = server.client().launch("no-such-kernel", LaunchOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("no-such-kernel"), "{e}");
    assert_eq!(e.to_string(), format!("{}: {}", ErrorKind::NotFound.as_str(), e.message()));
}

#[test]
fn connecting_where_no_server_listens_is_not_found() {
    let e = Client::connect(Some(Path::new("/nonexistent/ringkernel.sock"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn a_nul_byte_in_a_name_is_an_invalid_argument() {
    let server = Server::start();
    let client = server.client();
    assert_eq!(client.launch("ec\0ho", LaunchOptions::default()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(client.attach("a\0b").unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_bad_ring_size_is_an_invalid_argument() {
    let server = Server::start();
    let e = server.client().launch("echo", LaunchOptions::new().ring_bytes(12345)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn a_wrong_lifecycle_transition_is_a_state_error() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    let e = k.deactivate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State);
    assert!(e.message().contains("deactivate"), "{e}");
}

#[test]
fn a_call_to_a_deactivated_kernel_times_out() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    k.deactivate().unwrap();
    let start = Instant::now();
    let e = k.call_timeout(1, b"anyone?", Duration::from_millis(200)).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(waited >= Duration::from_millis(190), "gave up after {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn receive_with_a_zero_timeout_does_not_wait() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    let start = Instant::now();
    assert_eq!(k.receive_timeout(Duration::ZERO).unwrap_err().kind(), ErrorKind::Timeout);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_huge_timeout_still_waits() {
    // Duration::MAX must not wrap round to "already passed" in the library.
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    let waiter = std::thread::scope(|s| {
        let h = s.spawn(|| k.receive_timeout(Duration::MAX).map(|m| m.payload().to_vec()));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!h.is_finished(), "receive with Duration::MAX returned at once");
        k.activate().unwrap();
        k.send(1, b"wake", 1).unwrap();
        h.join().unwrap()
    });
    assert_eq!(waiter.unwrap(), b"wake");
}

#[test]
fn an_oversized_payload_is_too_large() {
    let server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    let big = vec![7u8; MAX_PAYLOAD];
    assert_eq!(k.call(1, &big).unwrap().payload(), &big[..], "RK_MAX_PAYLOAD fits");
    let too_big = vec![0u8; 2 << 20];
    let e = k.call(1, &too_big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(k.send(1, &too_big, 1).unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(k.reserve(too_big.len()).unwrap_err().kind(), ErrorKind::TooLarge);
}

#[test]
fn a_killed_server_fails_new_calls_with_disconnected() {
    let mut server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    k.call(1, b"before").unwrap();
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    let e = loop {
        // The watcher notices the hang-up asynchronously.
        match k.call_timeout(1, b"after", Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::Disconnected => break e,
            other => assert!(Instant::now() < deadline, "still {other:?}"),
        }
    };
    assert!(!e.message().is_empty());
    assert_eq!(k.state().unwrap_err().kind(), ErrorKind::Disconnected);
    assert_eq!(client.server_info().unwrap_err().kind(), ErrorKind::Disconnected);
    // Dropping handles of a dead server neither hangs nor crashes.
    drop(k);
    drop(client);
}

#[test]
fn a_killed_server_aborts_a_call_in_flight() {
    let mut server = Server::start();
    let client = server.client();
    let k = client.launch("echo", LaunchOptions::default()).unwrap();
    // Never activated: the call waits for a reply that cannot come.
    let start = Instant::now();
    let result = std::thread::scope(|s| {
        let h = s.spawn(|| k.call_timeout(1, b"stuck", Duration::from_secs(30)).map(|_| ()));
        std::thread::sleep(Duration::from_millis(200));
        server.kill();
        h.join().unwrap()
    });
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Disconnected);
    assert!(start.elapsed() < Duration::from_secs(10), "waited {:?}", start.elapsed());
}

#[test]
fn errors_are_std_errors_with_kind_and_message() {
    let e = Error::new(ErrorKind::QueueFull, "ring full");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
    assert_eq!(boxed.to_string(), "queue full: ring full");
    assert_eq!(Error::from(ErrorKind::Timeout).to_string(), ErrorKind::Timeout.as_str());
}

#[test]
fn every_status_maps_to_a_kind_and_back() {
    assert_eq!(ErrorKind::from_raw(sys::RK_OK), None);
    for &(name, status) in sys::rk_status::ALL.iter().skip(1) {
        let kind = ErrorKind::from_raw(status).unwrap();
        assert!(!matches!(kind, ErrorKind::Unknown(_)), "{name} has no kind");
        assert_eq!(kind.to_raw(), status, "{name}");
    }
    assert_eq!(ErrorKind::from_raw(sys::rk_status(999)), Some(ErrorKind::Unknown(999)));
}
