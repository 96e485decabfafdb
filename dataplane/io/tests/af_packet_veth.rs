//! AF_PACKET sockets over a veth pair inside a network namespace that the
//! test creates and removes. Needs root; skipped (with a message) otherwise.

use std::process::Command;
use std::time::{Duration, Instant};

use upf_io::af_packet::{AfSocket, RingConfig};
use upf_io::mem::MemPool;
use upf_io::{BufPool, Burst, PacketBuf};

struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Option<Netns> {
        // SAFETY-free check for root: geteuid via the id command.
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipping: needs root for network namespaces");
            return None;
        }
        let name = format!("upfio-{tag}-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        assert!(ok(&["netns", "add", &name]), "ip netns add");
        let ns = Netns { name };
        let n = &ns.name;
        assert!(ok(&[
            "-n", n, "link", "add", "va", "type", "veth", "peer", "name", "vb"
        ]));
        for dev in ["va", "vb"] {
            assert!(ok(&["-n", n, "link", "set", dev, "up"]));
            let _ = ok(&[
                "netns",
                "exec",
                n,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
            ]);
        }
        Some(ns)
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace fd affects only this thread.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns");
            f()
        })
        .join()
        .expect("netns thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn small() -> RingConfig {
    RingConfig {
        block_size: 1 << 16,
        block_count: 4,
        frame_size: 2048,
    }
}

fn frame(i: u32, teid: u32) -> Vec<u8> {
    // Ethernet (locally administered MACs) / IPv4 / UDP 2152 / GTP-U G-PDU.
    let mut f = vec![0u8; 14 + 20 + 8 + 8 + 4];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + 8 + 8 + 4) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[34..36].copy_from_slice(&2152u16.to_be_bytes());
    f[36..38].copy_from_slice(&2152u16.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + 8 + 4) as u16).to_be_bytes());
    f[42] = 0x30;
    f[43] = 0xff;
    f[44..46].copy_from_slice(&4u16.to_be_bytes());
    f[46..50].copy_from_slice(&teid.to_be_bytes());
    f[50..54].copy_from_slice(&i.to_be_bytes());
    f
}

fn collect(socks: &mut [AfSocket], pool: &mut MemPool, want: usize) -> Vec<Vec<Vec<u8>>> {
    let mut got: Vec<Vec<Vec<u8>>> = socks.iter().map(|_| Vec::new()).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.iter().map(Vec::len).sum::<usize>() < want && Instant::now() < deadline {
        for (i, s) in socks.iter_mut().enumerate() {
            let mut burst = Burst::new();
            s.rx(0, &mut burst, pool);
            for b in burst.drain(..) {
                // Only our test frames (the kernel may send other traffic).
                if b.len() >= 54 && b.data()[12..14] == [0x08, 0x00] && b.data()[23] == 17 {
                    got[i].push(b.data().to_vec());
                }
                pool.free(b);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

#[test]
fn frames_cross_a_veth_pair_intact() {
    let Some(ns) = Netns::create("xfer") else {
        return;
    };
    let (sent, got) = ns.run(|| {
        let mut a = AfSocket::open("va", small()).expect("open va");
        let mut b = AfSocket::open("vb", small()).expect("open vb");
        let mut pool = MemPool::new(256, 2048 + 256, 256);
        let sent: Vec<Vec<u8>> = (0..200).map(|i| frame(i, 1)).collect();
        for chunk in sent.chunks(32) {
            for f in chunk {
                assert!(a.tx(f));
            }
            a.kick();
        }
        let got = collect(std::slice::from_mut(&mut b), &mut pool, sent.len());
        assert_eq!(pool.outstanding(), 0);
        (sent, got)
    });
    assert_eq!(got[0].len(), sent.len(), "all frames arrive");
    assert_eq!(got[0], sent, "in order and intact");
}

#[test]
fn fanout_steers_by_teid() {
    let Some(ns) = Netns::create("fanout") else {
        return;
    };
    let got = ns.run(|| {
        let mut a = AfSocket::open("va", small()).expect("open va");
        let s0 = AfSocket::open("vb", small()).expect("open vb 0");
        let s1 = AfSocket::open("vb", small()).expect("open vb 1");
        let group = (std::process::id() & 0xffff) as u16;
        s0.join_fanout(group, 2).expect("fanout 0");
        s1.join_fanout(group, 2).expect("fanout 1");
        let mut socks = vec![s0, s1];
        let mut pool = MemPool::new(256, 2048 + 256, 256);
        for teid in 0..40u32 {
            assert!(a.tx(&frame(teid, teid)));
        }
        a.kick();
        collect(&mut socks, &mut pool, 40)
    });
    assert_eq!(got[0].len() + got[1].len(), 40);
    for (worker, frames) in got.iter().enumerate() {
        for f in frames {
            let teid = u32::from_be_bytes([f[46], f[47], f[48], f[49]]);
            assert_eq!(teid % 2, worker as u32, "TEID {teid} on worker {worker}");
        }
    }
}

#[test]
fn tx_ring_and_in_place_receive() {
    use upf_io::af_packet::{AfTxRing, Kick};
    let Some(ns) = Netns::create("txring") else {
        return;
    };
    let (sent, got, linear) = ns.run(|| {
        let mut tx = AfTxRing::open("va", small(), 1 << 20).expect("open tx ring");
        let mut rx = AfSocket::open("vb", small()).expect("open vb");
        let sent: Vec<Vec<u8>> = (0..300).map(|i| frame(i, 7)).collect();
        for chunk in sent.chunks(50) {
            for f in chunk {
                assert!(tx.tx_with(|slot| {
                    slot[..f.len()].copy_from_slice(f);
                    f.len()
                }));
            }
            // Back-pressure only delays: kick until the ring drained.
            let mut tries = 0;
            while tx.kick().expect("kick") == Kick::Backpressure && tries < 1000 {
                tries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(!tx.tx_with(|_| 0), "a zero-length frame is refused");
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        while got.len() < sent.len() && Instant::now() < deadline {
            rx.rx_each(64, |f, ts| {
                if f.len() >= 54 && f[12..14] == [0x08, 0x00] && f[23] == 17 {
                    // Kernel receive timestamps are CLOCK_REALTIME.
                    assert!(ts.abs_diff(now_ns) < 60_000_000_000, "timestamp {ts}");
                    got.push(f.to_vec());
                }
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(tx.stats().tx_packets, 300);
        (sent, got, tx.linear())
    });
    eprintln!("linear copy (PACKET_VNET_HDR): {linear}");
    assert_eq!(got.len(), sent.len(), "all frames arrive");
    assert_eq!(got, sent, "in order and intact");
}
