//! Tests of the shared-memory channel (one process, several threads).

use super::*;
use std::net::IpAddr;
use upf_rules::report::UsageReport;
use upf_rules::SessionRules;

/// A temporary directory removed when dropped.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn tmpdir(tag: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("upf-ctrl-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

fn small() -> ChannelConfig {
    ChannelConfig {
        slots: 3,
        ring_bytes: 4096,
    }
}

#[test]
fn commands_and_events_round_trip() {
    let dir = tmpdir("rt");
    let mut dp = DataplaneEnd::create(&dir, ChannelConfig::default()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    assert_eq!(c.dataplane_epoch(), dp.epoch());
    assert_eq!(dp.client_pid(SLOT_PFCP), Some(std::process::id()));

    let cmd = Command::SessionPut {
        req: 7,
        rules: SessionRules {
            seid: 0x1234,
            ..Default::default()
        },
    };
    c.send(&cmd).unwrap();
    assert!(dp.has_commands());
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), Some(cmd));
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), None);
    assert_eq!(dp.recv(SLOT_MEC).unwrap(), None);

    let ev = Event::Usage(UsageReport {
        seid: 0x1234,
        urr_id: 3,
        seqn: 1,
        ..Default::default()
    });
    dp.send(SLOT_PFCP, &ev).unwrap();
    let ack = Event::Ack {
        req: 7,
        result: Err(CommandError::UnknownSession(9)),
    };
    dp.send(SLOT_PFCP, &ack).unwrap();
    assert_eq!(c.recv().unwrap(), Some(ev));
    assert_eq!(c.recv().unwrap(), Some(ack));
    assert_eq!(c.recv().unwrap(), None);
}

#[test]
fn wraps_and_refuses_when_full() {
    let dir = tmpdir("wrap");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_MEC).unwrap();
    // Fill the 4 KiB ring until it refuses, then drain, many times over so
    // records straddle the end of the ring in every position.
    let mut next = 0u64;
    let mut expect = 0u64;
    for _round in 0..50 {
        loop {
            match c.send(&Command::Ping { req: next }) {
                Ok(()) => next += 1,
                Err(SendError::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        // Drain only part of it, so head and tail keep moving around.
        for _ in 0..((next - expect) / 2 + 1) {
            match dp.recv(SLOT_MEC).unwrap() {
                Some(Command::Ping { req }) => {
                    assert_eq!(req, expect);
                    expect += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    while let Some(Command::Ping { req }) = dp.recv(SLOT_MEC).unwrap() {
        assert_eq!(req, expect);
        expect += 1;
    }
    assert_eq!(expect, next);
    assert!(next > 1000);
}

#[test]
fn too_large_is_refused_not_truncated() {
    let dir = tmpdir("large");
    let _dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    let cmd = Command::PfdPut {
        req: 1,
        application_id: "x".repeat(5000),
        pfds: vec![],
    };
    assert!(matches!(c.send(&cmd), Err(SendError::TooLarge(_))));
}

#[test]
fn slot_is_exclusive_to_a_live_process() {
    let dir = tmpdir("busy");
    let dp = DataplaneEnd::create(&dir, small()).unwrap();
    // Pretend pid 1 (always alive) holds slot 2.
    let (region, _) = Region::open(&dir.join(FILE_NAME)).unwrap();
    region.slot_pid(2).store(1, Ordering::Release);
    match ClientEnd::attach(&dir, 2) {
        Err(CtrlError::SlotBusy { slot: 2, pid: 1 }) => {}
        other => panic!("expected SlotBusy, got {:?}", other.map(|_| ())),
    }
    // A dead holder is replaced.
    region.slot_pid(2).store(u32::MAX - 1, Ordering::Release);
    let c = ClientEnd::attach(&dir, 2).unwrap();
    assert_eq!(dp.client_pid(2), Some(std::process::id()));
    assert!(dp.client_epoch(2) >= 1);
    drop(c);
    assert_eq!(dp.client_pid(2), None);
    assert!(matches!(
        ClientEnd::attach(&dir, 9),
        Err(CtrlError::NoSuchSlot(9))
    ));
}

#[test]
fn events_wait_for_a_client_that_reattaches() {
    let dir = tmpdir("reattach");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    drop(c); // client exits
    let ev = Event::PeerPath {
        peer: IpAddr::from([192, 0, 2, 1]),
        up: false,
    };
    dp.send(SLOT_PFCP, &ev).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    assert_eq!(c.recv().unwrap(), Some(ev));
}

#[test]
fn client_notices_a_restarted_dataplane() {
    let dir = tmpdir("restart");
    let dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    assert_eq!(
        c.check(Duration::from_secs(5)).unwrap(),
        DataplaneStatus::Alive
    );
    let old = dp.epoch();
    // The new instance replaces the file while the old one is still mapped.
    let mut dp2 = DataplaneEnd::create(&dir, small()).unwrap();
    drop(dp);
    assert_eq!(
        c.check(Duration::from_secs(5)).unwrap(),
        DataplaneStatus::Restarted
    );
    assert_ne!(c.dataplane_epoch(), old);
    assert_eq!(c.dataplane_epoch(), dp2.epoch());
    c.send(&Command::SyncBegin { req: 1 }).unwrap();
    assert_eq!(
        dp2.recv(SLOT_PFCP).unwrap(),
        Some(Command::SyncBegin { req: 1 })
    );
    drop(c);
    drop(dp2);
    assert!(
        ClientEnd::attach(&dir, SLOT_PFCP).is_err(),
        "file should be gone after the last dataplane exits"
    );
}

#[test]
fn corrupt_ring_is_reported_not_read_out_of_bounds() {
    let dir = tmpdir("corrupt");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    c.send(&Command::Ping { req: 1 }).unwrap();
    // Scribble a huge length over the record header.
    let (region, _) = Region::open(&dir.join(FILE_NAME)).unwrap();
    let data = shm::PAGE * (1 + 3);
    // The first word of slot 0's command data is the record length.
    region.atomic_u32(data).store(1 << 30, Ordering::Release);
    assert!(matches!(dp.recv(SLOT_PFCP), Err(RecvError::Corrupt(_))));
}

#[test]
fn waiting_consumers_are_woken() {
    let dir = tmpdir("wake");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let dir2 = dir.to_path_buf();
    let t = std::thread::spawn(move || {
        let mut c = ClientEnd::attach(&dir2, SLOT_PFCP).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.send(&Command::Ping { req: 5 }).unwrap();
        // Wait (long timeout) for the answer: must be woken early.
        let t0 = std::time::Instant::now();
        assert!(c.wait(Duration::from_secs(10)));
        assert!(t0.elapsed() < Duration::from_secs(5));
        c.recv().unwrap()
    });
    let t0 = std::time::Instant::now();
    assert!(dp.wait(Duration::from_secs(10)));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), Some(Command::Ping { req: 5 }));
    std::thread::sleep(Duration::from_millis(20));
    let ack = Event::Ack {
        req: 5,
        result: Ok(AckBody::default()),
    };
    dp.send(SLOT_PFCP, &ack).unwrap();
    assert_eq!(t.join().unwrap(), Some(ack));
}

#[test]
fn notifier_fires_once_per_arming() {
    let dir = tmpdir("notify");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let n = c.notifier(move || {
        let _ = tx.send(());
    });
    dp.send(
        SLOT_PFCP,
        &Event::Ack {
            req: 1,
            result: Ok(AckBody::default()),
        },
    )
    .unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // Not re-armed: more events do not notify.
    dp.send(
        SLOT_PFCP,
        &Event::Ack {
            req: 2,
            result: Ok(AckBody::default()),
        },
    )
    .unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    n.rearm();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    n.rearm();
    let mut got = 0;
    while c.recv().unwrap().is_some() {
        got += 1;
    }
    assert_eq!(got, 2);
    dp.send(
        SLOT_PFCP,
        &Event::Ack {
            req: 3,
            result: Ok(AckBody::default()),
        },
    )
    .unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_session_put_encoded_from_borrowed_rules_is_the_same_bytes() {
    for counted in [false, true] {
        let rules = upf_testkit::packets::BasicSession {
            seid: 0xfeed_0001,
            ue: "10.60.0.7".parse().unwrap(),
            upf_n3: "192.0.2.1".parse().unwrap(),
            gnb: "192.0.2.9".parse().unwrap(),
            ul_teid: 0x100,
            dl_teid: 0x200,
            qfi: 9,
            network_instance: Some("internet"),
            counted,
        }
        .rules();
        let owned = Command::SessionPut {
            req: 300 + counted as u64,
            rules: rules.clone(),
        };
        let borrowed = EncodedCommand::session_put(owned.req(), &rules).unwrap();
        assert_eq!(borrowed, EncodedCommand::new(&owned).unwrap());
        assert_eq!(borrowed.req(), owned.req());
        assert_eq!(borrowed.decode().unwrap(), owned);
    }
}

#[test]
fn encoded_commands_travel_like_commands() {
    let dir = tmpdir("enc");
    let mut dp = DataplaneEnd::create(&dir, small()).unwrap();
    let mut c = ClientEnd::attach(&dir, SLOT_PFCP).unwrap();
    let put = EncodedCommand::session_put(
        5,
        &SessionRules {
            seid: 77,
            ..Default::default()
        },
    )
    .unwrap();
    c.send_encoded(&put).unwrap();
    c.send_encoded(&EncodedCommand::new(&Command::Ping { req: 6 }).unwrap())
        .unwrap();
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), Some(put.decode().unwrap()));
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), Some(Command::Ping { req: 6 }));
    let big = EncodedCommand::new(&Command::PfdPut {
        req: 1,
        application_id: "x".repeat(5000),
        pfds: vec![],
    })
    .unwrap();
    assert!(matches!(c.send_encoded(&big), Err(SendError::TooLarge(_))));
    assert_eq!(dp.recv(SLOT_PFCP).unwrap(), None);
}
