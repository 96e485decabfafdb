//! Test support for edge-upf's end-to-end tests: network namespaces and
//! veth pairs that a test creates, uses and always removes.
//!
//! Every name carries the test's tag and process ID so parallel test runs
//! do not collide; addresses come from the benchmarking range 198.18.0.0/15
//! and 2001:db8::/32 and exist only inside these namespaces.
//!
//! What it must not do: touch interfaces or namespaces it did not create,
//! or be linked into a product binary (dev-dependency only).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod packets;

/// The two ports of an in-memory dataplane for test configurations, as
/// `[[dataplane.interfaces]]` TOML tables: N3 198.18.3.2/24 on `mem0`, N6
/// 198.18.6.2/24 on `mem1` with gateway 198.18.6.1 and network instance
/// `internet` (scripts/configs/memory-interfaces.toml, which the benchmark
/// scripts use too).
pub const MEMORY_INTERFACES_TOML: &str =
    include_str!("../../../scripts/configs/memory-interfaces.toml");

use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};

/// True when running as root (namespaces need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `ip` with `args`; panics with the output if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A set of namespaces removed on drop.
pub struct Lab {
    prefix: String,
    names: Vec<String>,
}

impl Lab {
    /// A lab whose namespaces are named `<tag><pid>-<name>`; `None` (with a
    /// message) when not root.
    pub fn new(tag: &str) -> Option<Lab> {
        if !is_root() {
            eprintln!("skipping {tag}: needs root for network namespaces");
            return None;
        }
        Some(Lab {
            prefix: format!("{tag}{}", std::process::id()),
            names: Vec::new(),
        })
    }

    /// The full name of namespace `short`.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// Creates namespace `short` with loopback up.
    pub fn add_ns(&mut self, short: &str) -> String {
        let n = self.ns(short);
        let _ = Command::new("ip")
            .args(["netns", "del", &n])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &n]);
        self.names.push(n.clone());
        ip(&["-n", &n, "link", "set", "lo", "up"]);
        n
    }

    /// A veth pair `a_dev`@`a_ns` <-> `b_dev`@`b_ns`, both up, with
    /// checksum offload off (so captured packets carry real checksums).
    pub fn veth(&self, a_ns: &str, a_dev: &str, b_ns: &str, b_dev: &str) {
        let (a, b) = (self.ns(a_ns), self.ns(b_ns));
        // Unique per call, so tests of one process can build pairs at once.
        static PAIRS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = PAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
        let tmp_a = format!("t{}x{k}a", std::process::id() % 100000);
        let tmp_b = format!("t{}x{k}b", std::process::id() % 100000);
        ip(&[
            "link", "add", &tmp_a, "type", "veth", "peer", "name", &tmp_b,
        ]);
        ip(&["link", "set", &tmp_a, "netns", &a, "name", a_dev]);
        ip(&["link", "set", &tmp_b, "netns", &b, "name", b_dev]);
        for (n, d) in [(&a, a_dev), (&b, b_dev)] {
            ip(&["-n", n, "link", "set", d, "up"]);
            let _ = self.exec(n, &["ethtool", "-K", d, "tx", "off", "rx", "off"]);
        }
    }

    /// Adds an address in `short`'s namespace.
    pub fn addr(&self, short: &str, dev: &str, cidr: &str) {
        let n = self.ns(short);
        let v6 = cidr.contains(':');
        let mut args = vec!["-n", n.as_str()];
        if v6 {
            args.push("-6");
        }
        args.extend(["addr", "add", cidr, "dev", dev]);
        if v6 {
            args.push("nodad");
        }
        ip(&args);
    }

    /// Adds a route in `short`'s namespace.
    pub fn route(&self, short: &str, prefix: &str, via: &str) {
        let n = self.ns(short);
        ip(&["-n", &n, "route", "add", prefix, "via", via]);
    }

    /// Turns IPv6 off on `dev` (an interface whose addresses the UPF owns,
    /// so the kernel must not answer for them).
    pub fn no_ipv6(&self, short: &str, dev: &str) {
        let n = self.ns(short);
        let _ = self.exec(
            &n,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
            ],
        );
    }

    /// Runs a command in namespace `full` and returns its output.
    pub fn exec(&self, full: &str, cmd: &[&str]) -> std::io::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", full])
            .args(cmd)
            .output()
    }

    /// Runs `f` on a new thread that has entered namespace `short`; threads
    /// it spawns stay in that namespace.
    pub fn run_in<T: Send + 'static>(
        &self,
        short: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let path = format!("/var/run/netns/{}", self.ns(short));
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// Spawns `f` on a thread in namespace `short` without waiting.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        short: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.ns(short));
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) {
    let f = std::fs::File::open(path).expect("open netns");
    // SAFETY: setns on a namespace fd we hold open; affects only this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}");
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in self.names.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &n]).status();
        }
    }
}

/// A child process that is killed (SIGTERM, then SIGKILL) and reaped when
/// dropped, so a failing test leaves nothing running.
pub struct Proc {
    name: String,
    child: Option<std::process::Child>,
}

impl Proc {
    /// Spawns `cmd` (its output as the caller configured it).
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
        }
    }

    /// The process ID.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM and waits up to `grace` for the exit, then SIGKILL.
    /// Returns the exit status.
    pub fn stop(&mut self, grace: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on the PID of a child we have not reaped yet.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let end = std::time::Instant::now() + grace;
        while std::time::Instant::now() < end {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("{}: no exit after SIGTERM, killing", self.name);
        let _ = c.kill();
        c.wait().ok()
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it
    /// and panics when it does not.
    pub fn wait(&mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        let end = std::time::Instant::now() + timeout;
        loop {
            let Some(c) = self.child.as_mut() else {
                panic!("{} already reaped", self.name);
            };
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return s;
            }
            if std::time::Instant::now() >= end {
                let _ = c.kill();
                let _ = c.wait();
                self.child = None;
                panic!("{} did not finish within {timeout:?}", self.name);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop(std::time::Duration::from_secs(3));
        }
    }
}

/// The path of workspace binary `name` next to the running test binary
/// (`target/<profile>/<name>`); panics with how to build it when missing.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary lives in target/<profile>/deps");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p <its package>; \
         `cargo test --workspace` and scripts/test.d/60-perf.sh do)",
        p.display()
    );
    p
}
