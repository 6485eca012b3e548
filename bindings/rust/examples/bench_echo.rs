//! 64 B echo round trips: the safe `Kernel::call` beside the same loop on
//! the raw C ABI (`sys::rk_call` + `rk_message_release`, exactly what a C
//! caller does), alternating rounds on one kernel in the same run.
//!
//! ```text
//! ringkerneld --socket /tmp/rk.sock --backend cpu &
//! cargo run --offline --release --example bench_echo -- /tmp/rk.sock [calls-per-round]
//! ```
use std::path::PathBuf;
use std::ptr;
use std::time::Instant;

use ringkernel::{sys, Client, LaunchOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let socket = args.next().map(PathBuf::from);
    let n: u32 = args.next().and_then(|a| a.to_str()?.parse().ok()).unwrap_or(20_000);
    let client = Client::connect(socket.as_deref())?;
    let echo = client.launch("echo", LaunchOptions::default())?;
    echo.activate()?;
    let payload = [0x5au8; 64];

    let safe_round = || -> ringkernel::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let reply = echo.call(1, &payload)?;
            std::hint::black_box(reply.payload());
        }
        Ok(t.elapsed().as_nanos() as f64 / f64::from(n))
    };
    let raw_round = || -> f64 {
        let t = Instant::now();
        for _ in 0..n {
            let mut reply = ptr::null_mut();
            let s = unsafe { sys::rk_call(echo.as_raw(), 1, payload.as_ptr().cast(), payload.len(), &mut reply, -1) };
            assert_eq!(s, sys::RK_OK);
            let mut len = 0;
            std::hint::black_box(unsafe { sys::rk_message_data(reply, &mut len) });
            unsafe { sys::rk_message_release(reply) };
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };

    safe_round()?; // warm up both paths
    raw_round();
    let (mut safe, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        safe.push(safe_round()?);
        raw.push(raw_round());
    }
    let (s, r) = (median(safe), median(raw));
    println!("64 B echo call, median of 7 rounds x {n} calls:");
    println!("  C ABI (sys::rk_call)  {:>9.0} ns", r);
    println!("  Rust (Kernel::call)   {:>9.0} ns   ({:+.1}%)", s, (s / r - 1.0) * 100.0);
    Ok(())
}
