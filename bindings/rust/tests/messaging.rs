//! Echo and counter round trips, correlation, zero-copy reservations and
//! many threads calling one kernel, against a real ringkerneld.
mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use ringkernel::{Client, ErrorKind, Kernel, LaunchOptions};

fn active(client: &Client, kind: &str) -> Kernel {
    let k = client.launch(kind, LaunchOptions::default()).unwrap();
    k.activate().unwrap();
    k
}

#[test]
fn echo_call_returns_the_payload_and_type() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let reply = echo.call(42, b"hello ring").unwrap();
    assert_eq!(reply.payload(), b"hello ring");
    assert_eq!(reply.msg_type(), 42);
    assert!(reply.status().is_ok());
    assert!(reply.correlation() > 0);
    assert!(reply.envelope().len() > reply.payload().len());
}

#[test]
fn echo_of_an_empty_payload_is_empty() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    assert!(echo.call(0, &[]).unwrap().payload().is_empty());
}

#[test]
fn send_and_receive_carry_the_callers_correlation_ids() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    for c in 100..110u64 {
        echo.send(7, &c.to_le_bytes(), c).unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        let m = echo.receive_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.payload(), m.correlation().to_le_bytes());
        seen.push(m.correlation());
    }
    seen.sort();
    assert_eq!(seen, (100..110).collect::<Vec<_>>());
}

#[test]
fn counter_keeps_a_running_total() {
    let server = Server::start();
    let client = server.client();
    let counter = active(&client, "counter");
    let mut expected = 0i64;
    for delta in [1i64, 2, 3, -10, 1000] {
        expected += delta;
        let reply = counter.call(0, &delta.to_le_bytes()).unwrap();
        assert_eq!(i64::from_le_bytes(reply.payload().try_into().unwrap()), expected);
    }
}

#[test]
fn a_kernel_error_reply_becomes_an_error_marked_as_the_kernels() {
    let server = Server::start();
    let client = server.client();
    let counter = active(&client, "counter");
    let e = counter.call(0, b"not an i64").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
    assert!(e.is_kernel_reply());
    // Received, not called: the reply comes back as a message with its status.
    counter.send(0, b"bad", 9).unwrap();
    let m = counter.receive_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(m.correlation(), 9);
    assert_eq!(m.status().unwrap_err().kind(), ErrorKind::Malformed);
    drop(m);
    assert_eq!(counter.metrics().unwrap().errors, 2);
}

#[test]
fn a_reservation_is_sent_in_place() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let mut r = echo.reserve(64).unwrap();
    assert_eq!(r.capacity(), 64);
    r.as_mut_slice()[..11].copy_from_slice(b"zero copied");
    r.commit(11, 5, 77).unwrap();
    let m = echo.receive_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(m.payload(), b"zero copied");
    assert_eq!((m.msg_type(), m.correlation()), (5, 77));
}

#[test]
fn a_dropped_reservation_sends_nothing_and_frees_the_send_side() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let mut r = echo.reserve(16).unwrap();
    r.as_mut_slice().fill(1);
    drop(r);
    assert_eq!(echo.receive_timeout(Duration::from_millis(100)).unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(echo.call(1, b"after").unwrap().payload(), b"after");
}

#[test]
fn sending_while_holding_a_reservation_on_the_same_thread_fails_instead_of_deadlocking() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let r = echo.reserve(8).unwrap();
    assert_eq!(echo.call(1, b"x").unwrap_err().kind(), ErrorKind::State);
    assert_eq!(echo.send(1, b"x", 1).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(echo.reserve(8).unwrap_err().kind(), ErrorKind::State);
    // Another kernel is not affected.
    let other = active(&client, "echo");
    assert_eq!(other.call(2, b"y").unwrap().payload(), b"y");
    drop(r);
    assert_eq!(echo.call(1, b"x").unwrap().payload(), b"x");
}

#[test]
fn committing_more_than_reserved_is_too_large() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let r = echo.reserve(8).unwrap();
    assert_eq!(r.commit(9, 0, 0).unwrap_err().kind(), ErrorKind::TooLarge);
    // The reservation was abandoned: the send side is free again.
    assert_eq!(echo.call(1, b"ok").unwrap().payload(), b"ok");
}

#[test]
fn an_envelope_that_does_not_frame_is_malformed() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let mut r = echo.reserve_envelope(64).unwrap();
    assert!(r.as_slice().iter().all(|&b| b == 0), "the record starts zeroed");
    assert_eq!(r.as_mut_slice().as_ptr() as usize % 8, 0);
    r.as_mut_slice()[..8].copy_from_slice(&[0xff; 8]);
    assert_eq!(r.commit(64).unwrap_err().kind(), ErrorKind::Malformed);
    assert_eq!(echo.call(1, b"ok").unwrap().payload(), b"ok");
}

#[test]
fn eight_threads_call_one_kernel_and_each_gets_its_own_replies() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 1000;
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let echo = &echo;
            s.spawn(move || {
                for i in 0..CALLS {
                    let tag = t << 32 | i;
                    let reply = echo.call(t as u32, &tag.to_le_bytes()).unwrap();
                    assert_eq!(reply.payload(), tag.to_le_bytes(), "thread {t} call {i}");
                    assert_eq!(reply.msg_type(), t as u32);
                }
            });
        }
    });
    assert_eq!(echo.metrics().unwrap().processed, THREADS * CALLS);
}

#[test]
fn a_kernel_in_an_arc_serves_spawned_threads_and_counts_each_call_once() {
    let server = Server::start();
    let client = server.client();
    let counter = Arc::new(active(&client, "counter"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                (0..250)
                    .map(|_| i64::from_le_bytes(counter.call(0, &1i64.to_le_bytes()).unwrap().payload().try_into().unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let totals: HashSet<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    // Each add is atomic: the 1000 replies are the totals 1..=1000, each once.
    assert_eq!(totals, (1..=1000).collect());
}

#[test]
fn a_message_can_be_released_on_another_thread() {
    let server = Server::start();
    let client = server.client();
    let echo = active(&client, "echo");
    let reply = echo.call(1, b"moved").unwrap();
    std::thread::scope(|s| {
        s.spawn(move || assert_eq!(reply.payload(), b"moved"));
    });
    assert_eq!(echo.call(2, b"again").unwrap().payload(), b"again");
}
