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
        let tmp_a = format!("t{}a", std::process::id() % 100000);
        let tmp_b = format!("t{}b", std::process::id() % 100000);
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
