use super::*;

const GOOD: &str = r#"
[node]
name = "t"
run_dir = "/tmp/x"

[dataplane]
workers = 2
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "veth-n3"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "veth-n6"
addresses = ["198.18.6.2/24", "2001:db8:6::2/64"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]

[pfcp]
node_id = "198.18.0.2"
heartbeat_interval = "5s"

[[ue_pools]]
network_instance = "internet"
ipv4 = "10.45.0.0/16"
"#;

fn problems(text: &str) -> Vec<String> {
    match Config::from_str_named(text, "upf.toml") {
        Ok(_) => vec![],
        Err(e) => e.to_string().lines().map(String::from).collect(),
    }
}

#[test]
fn good_config_loads_with_defaults() {
    let c = Config::from_str_named(GOOD, "upf.toml").unwrap();
    assert_eq!(c.dataplane.workers, 2);
    assert_eq!(c.dataplane.burst_size, 32);
    assert_eq!(
        c.pfcp.heartbeat_interval.get(),
        std::time::Duration::from_secs(5)
    );
    assert_eq!(
        c.pfcp.request_timeout.get(),
        std::time::Duration::from_secs(3)
    );
    assert_eq!(c.ue_pools[0].ipv6_prefix_len, 64);
    assert!(c.mec.is_none());
}

#[test]
fn unknown_key_names_line_and_path() {
    let bad = GOOD.replace("workers = 2", "workrs = 2");
    let p = problems(&bad);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("upf.toml:7:1: dataplane.workrs: unknown field"),
        "{}",
        p[0]
    );
}

#[test]
fn wrong_type_names_path() {
    let bad = GOOD.replace("workers = 2", "workers = \"two\"");
    let p = problems(&bad);
    assert!(p[0].contains("dataplane.workers"), "{}", p[0]);
    assert!(p[0].contains("invalid type"), "{}", p[0]);
}

#[test]
fn bad_prefix_names_the_element() {
    let bad = GOOD.replace("\"198.18.6.2/24\"", "\"198.18.6.300/24\"");
    let p = problems(&bad);
    assert!(
        p[0].contains("dataplane.interfaces[1].addresses[0]"),
        "{}",
        p[0]
    );
    assert!(p[0].contains("198.18.6.300"), "{}", p[0]);
}

#[test]
fn semantic_checks_report_every_problem() {
    let bad = GOOD
        .replace("workers = 2", "workers = 0\nburst_size = 64")
        .replace("gateway4 = \"198.18.6.1\"", "gateway4 = \"10.0.0.1\"")
        .replace("node_id = \"198.18.0.2\"", "node_id = \"bad node\"")
        .replace(
            "network_instance = \"internet\"",
            "network_instance = \"nowhere\"",
        );
    let p = problems(&bad).join("\n");
    for want in [
        "upf.toml: dataplane.workers: must be between 1 and 128, got 0",
        "upf.toml: dataplane.burst_size: must be between 1 and 32, got 64",
        "upf.toml: dataplane.interfaces[1].gateway4: 10.0.0.1 is not on a subnet",
        "upf.toml: pfcp.node_id: \"bad node\" is neither",
        "upf.toml: ue_pools[0].network_instance: no interface serves network instance \"nowhere\"",
    ] {
        assert!(p.contains(want), "missing {want:?} in\n{p}");
    }
}

#[test]
fn overlapping_pools_and_duplicates() {
    let bad = format!(
        "{GOOD}\n[[ue_pools]]\nnetwork_instance = \"internet\"\nipv4 = \"10.45.128.0/17\"\n"
    )
    .replace("name = \"n6\"", "name = \"n3\"");
    let p = problems(&bad).join("\n");
    assert!(
        p.contains("ue_pools[1].ipv4: 10.45.128.0/17 overlaps ue_pools[0].ipv4"),
        "{p}"
    );
    assert!(
        p.contains("dataplane.interfaces[1].name: interface name \"n3\" is used twice"),
        "{p}"
    );
}

#[test]
fn durations_and_mec_rules() {
    let bad = GOOD.replace(
        "heartbeat_interval = \"5s\"",
        "heartbeat_interval = \"5 fortnights\"",
    );
    assert!(problems(&bad)[0].contains("pfcp.heartbeat_interval"));
    let mec = format!("{GOOD}\n[mec]\nauth = \"bearer\"\n[[mec.apps]]\ninstance_id = \"a\"\n");
    let p = problems(&mec).join("\n");
    assert!(
        p.contains("mec.apps[0].token: auth = \"bearer\" needs a token"),
        "{p}"
    );
    let ok = format!("{GOOD}\n[mec]\nauth = \"none\"\n[[mec.apps]]\ninstance_id = \"a\"\n");
    let c = Config::from_str_named(&ok, "x").unwrap();
    assert!(c.warnings().iter().any(|w| w.contains("mec.auth")));
}

#[test]
fn example_configs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "expected example configs in {}", dir.display());
}

#[test]
fn every_key_is_documented() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md"),
    )
    .unwrap();
    // Keys of every section, from the source of this crate.
    let src = include_str!("lib.rs");
    let mut missing = Vec::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("pub ") {
            if let Some((name, _)) = rest.split_once(':') {
                let is_key = name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                let error_type =
                    ["problems", "location", "path", "message", "file"].contains(&name);
                let documented = doc.contains(&format!("`{name}`"))
                    || doc.contains(&format!("[{name}]"))
                    || doc.contains(&format!(".{name}]"))
                    || doc.contains(&format!("{{ {name},"));
                if is_key && !error_type && !documented {
                    missing.push(name.to_string());
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

#[test]
fn dpdk_section_is_checked_per_key() {
    let text = GOOD.replace(
        "[dataplane]\nworkers = 2",
        "[dataplane]\nworkers = 2\nbackend = \"dpdk\"\n[dataplane.dpdk]\n\
         eal_args = [\"-l\", \"0\"]\nmempool_size = 2047\nmempool_cache = 1500\n\
         rx_descriptors = 100\nrx_queues_per_worker = 0",
    );
    let p = problems(&text);
    for key in [
        "dataplane.dpdk.mempool_cache: must be at most 512",
        "dataplane.dpdk.rx_descriptors: must be a power of two",
        "dataplane.dpdk.rx_queues_per_worker: must be 1..=16, got 0",
    ] {
        assert!(p.iter().any(|l| l.contains(key)), "{key} not in {p:?}");
    }
    let ok = GOOD.replace(
        "[dataplane]\nworkers = 2",
        "[dataplane]\nworkers = 2\nbackend = \"dpdk\"\n[dataplane.dpdk]\n\
         eal_args = [\"-l\", \"0\"]\nbusy_poll = true\nrx_queues_per_worker = 2",
    );
    let c = Config::from_str_named(&ok, "x").unwrap();
    assert!(c.dataplane.dpdk.busy_poll);
    assert_eq!(c.dataplane.dpdk.rx_queues_per_worker, 2);
}

#[test]
fn device_names_expand_environment_variables() {
    let vars = |k: &str| match k {
        "PCIDEVICE_N3" => Some("0000:3b:02.1".to_string()),
        "LCORES" => Some("1-3".to_string()),
        _ => None,
    };
    let mut c = Config::from_str_named(GOOD, "t.toml").unwrap();
    c.dataplane.interfaces[0].device = "${PCIDEVICE_N3}".into();
    c.dataplane.interfaces[1].device = "net_ring0$$x".into();
    c.dataplane.dpdk.eal_args = vec!["-l".into(), "${LCORES}".into()];
    assert!(expand_env(&mut c, &vars).is_empty());
    assert_eq!(c.dataplane.interfaces[0].device, "0000:3b:02.1");
    assert_eq!(c.dataplane.interfaces[1].device, "net_ring0$x");
    assert_eq!(c.dataplane.dpdk.eal_args[1], "1-3");

    c.dataplane.interfaces[0].device = "${PCIDEVICE_N6}".into();
    c.dataplane.interfaces[1].device = "a$b".into();
    c.dataplane.dpdk.eal_args = vec!["${unterminated".into()];
    let p = expand_env(&mut c, &vars);
    let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dataplane.interfaces[0].device",
            "dataplane.interfaces[1].device",
            "dataplane.dpdk.eal_args[0]"
        ]
    );
    assert!(
        p[0].message.contains("PCIDEVICE_N6 is not set"),
        "{}",
        p[0].message
    );
}

#[test]
fn an_unset_device_variable_is_reported_by_load() {
    let text = GOOD.replace(
        "device = \"veth-n3\"",
        "device = \"${EDGE_UPF_TEST_SURELY_UNSET}\"",
    );
    let e = Config::from_str_named(&text, "t.toml").unwrap_err();
    assert!(
        e.to_string()
            .contains("t.toml: dataplane.interfaces[0].device: environment variable EDGE_UPF_TEST_SURELY_UNSET is not set"),
        "{e}"
    );
}

#[test]
fn busy_poll_is_a_dataplane_setting_for_every_backend() {
    let c = Config::from_str_named(GOOD, "upf.toml").unwrap();
    assert!(!c.dataplane.busy_poll);
    let on = GOOD.replace("workers = 2", "workers = 2\nbusy_poll = true");
    let c = Config::from_str_named(&on, "upf.toml").unwrap();
    assert!(c.dataplane.busy_poll);
    assert!(!c.dataplane.dpdk.busy_poll);
    assert_eq!(
        c.dataplane.control_idle_spin.get(),
        std::time::Duration::from_millis(1)
    );
    let spin = GOOD.replace("workers = 2", "workers = 2\ncontrol_idle_spin = \"250ms\"");
    let c = Config::from_str_named(&spin, "upf.toml").unwrap();
    assert_eq!(
        c.dataplane.control_idle_spin.get(),
        std::time::Duration::from_millis(250)
    );
    let p = problems(&GOOD.replace(
        "workers = 2",
        "workers = 2\ncontrol_idle_spin = \"5 fortnights\"",
    ));
    assert!(p[0].contains("dataplane.control_idle_spin"), "{}", p[0]);
    let bad = GOOD.replace("workers = 2", "workers = 2\nbusy_poll = \"yes\"");
    let p = problems(&bad);
    assert!(p[0].contains("dataplane.busy_poll"), "{}", p[0]);
    assert!(p[0].contains("invalid type"), "{}", p[0]);
}
