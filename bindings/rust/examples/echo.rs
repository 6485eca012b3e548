//! Launches the built-in `echo` kernel and calls it a few times.
//!
//! ```text
//! ringkerneld --socket /tmp/rk.sock --backend cpu &
//! cargo run --example echo -- /tmp/rk.sock
//! ```
//! Without an argument it connects to the default socket
//! (`$RINGKERNEL_SOCKET`, else the per-user default).
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ringkernel::{Client, LaunchOptions, DEFAULT_TERMINATE_TIMEOUT};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let socket = std::env::args_os().nth(1).map(PathBuf::from);
    let client = Client::connect(socket.as_deref())?;
    let info = client.server_info()?;
    println!("connected to ringkerneld pid {} (ABI {}, {:?} backend)", info.pid, info.abi_version, info.default_backend);

    let echo = client.launch("echo", LaunchOptions::default())?;
    echo.activate()?;

    for (i, word) in ["hello", "ring", "kernel"].iter().enumerate() {
        let reply = echo.call_timeout(i as u32, word.as_bytes(), Duration::from_secs(5))?;
        println!(
            "sent {word:?} -> got {:?} (type {}, correlation {})",
            String::from_utf8_lossy(reply.payload()),
            reply.msg_type(),
            reply.correlation()
        );
    }

    // A rough round-trip figure: 64-byte calls.
    let payload = [0u8; 64];
    let n = 10_000;
    let start = Instant::now();
    for _ in 0..n {
        echo.call(0, &payload)?;
    }
    println!("{n} calls of 64 B: {:.2} us per round trip", start.elapsed().as_secs_f64() * 1e6 / n as f64);

    echo.terminate(DEFAULT_TERMINATE_TIMEOUT)?;
    println!("echo is {:?}", echo.state()?);
    Ok(())
}
