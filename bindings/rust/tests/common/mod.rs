//! A real ringkerneld (CPU backend) on a temporary socket, per test.
#![allow(dead_code)]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ringkernel::Client;

/// The daemon binary: `$RINGKERNELD`, else `$RINGKERNEL_BUILD_DIR/bin`,
/// else `PATH`, else the project's default build tree.
pub fn daemon_path() -> PathBuf {
    if let Some(p) = env::var_os("RINGKERNELD") {
        return PathBuf::from(p);
    }
    if let Some(b) = env::var_os("RINGKERNEL_BUILD_DIR") {
        return Path::new(&b).join("bin/ringkerneld");
    }
    if let Some(found) = env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|d| d.join("ringkerneld"))
        .find(|p| p.is_file())
    {
        return found;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bin/ringkerneld")
}

/// A ringkerneld child process, killed (SIGKILL) and cleaned up on drop.
pub struct Server {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
}

impl Server {
    /// Starts a server and waits until it accepts sessions.
    pub fn start() -> Server {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = env::temp_dir().join(format!("rk-rust-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test's temporary directory");
        let socket = dir.join("rk.sock");
        let log = fs::File::create(dir.join("ringkerneld.log")).expect("create the server log");
        let daemon = daemon_path();
        let child = Command::new(&daemon)
            .arg("--socket")
            .arg(&socket)
            .args(["--backend", "cpu", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} ({e}); set RINGKERNELD or RINGKERNEL_BUILD_DIR", daemon.display())
            });
        let mut server = Server { child: Some(child), dir, socket };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ringkerneld exited at start ({status}):\n{}", self.log());
            }
            if self.socket.exists() && Client::connect(Some(&self.socket)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("ringkerneld did not accept sessions within 20 s:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The control socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A new session with this server.
    pub fn client(&self) -> Client {
        Client::connect(Some(&self.socket)).expect("connect to the test server")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("ringkerneld.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
