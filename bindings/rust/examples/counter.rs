//! A stateful kernel: each message adds a delta (i64, little endian) to a
//! running total the kernel keeps; the reply is the new total. The first
//! round uses `call`, the second writes requests in place with zero-copy
//! reservations and collects replies with `receive`.
//!
//! ```text
//! ringkerneld --socket /tmp/rk.sock --backend cpu &
//! cargo run --example counter -- /tmp/rk.sock
//! ```
use std::path::PathBuf;
use std::time::Duration;

use ringkernel::{Client, LaunchOptions};

fn total(payload: &[u8]) -> i64 {
    i64::from_le_bytes(payload.try_into().expect("counter replies with 8 bytes"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let socket = std::env::args_os().nth(1).map(PathBuf::from);
    let client = Client::connect(socket.as_deref())?;
    let counter = client.launch("counter", LaunchOptions::default())?;
    counter.activate()?;

    let mut expected = 0i64;
    for delta in 1..=10i64 {
        let reply = counter.call(0, &delta.to_le_bytes())?;
        expected += delta;
        println!("added {delta:>2} -> total {}", total(reply.payload()));
        assert_eq!(total(reply.payload()), expected);
    }

    // Zero copy: write each delta straight into the request ring.
    for delta in 1..=5i64 {
        let mut r = counter.reserve(8)?;
        r.as_mut_slice().copy_from_slice(&(delta * 100).to_le_bytes());
        r.commit(8, 0, 1000 + delta as u64)?;
    }
    for _ in 0..5 {
        let m = counter.receive_timeout(Duration::from_secs(5))?;
        m.status()?;
        println!("request #{} -> total {}", m.correlation(), total(m.payload()));
    }

    let m = counter.metrics()?;
    println!(
        "kernel processed {} messages, {} errors, avg handler latency {:?}",
        m.processed, m.errors, m.latency_avg
    );
    counter.terminate(Duration::from_secs(5))?;
    Ok(())
}
