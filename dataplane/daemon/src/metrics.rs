//! Prometheus samples of the device-level port state (link, device and
//! per-queue counters, extended counters), read at scrape time.

use upf_observe::Exposition;

use crate::PortStatus;

/// Writes the samples of `ports`.
pub fn port_status(e: &mut Exposition, ports: &[PortStatus]) {
    for p in ports {
        let l = [("port", p.name.as_str()), ("driver", p.driver.as_str())];
        e.gauge(
            "upf_port_link_up",
            "Link state of the port (1 up)",
            &l,
            if p.link_up { 1.0 } else { 0.0 },
        );
        e.gauge(
            "upf_port_link_speed_mbps",
            "Link speed (0 unknown)",
            &l,
            f64::from(p.speed_mbps),
        );
        let l = [("port", p.name.as_str())];
        for (name, help, v) in [
            (
                "upf_port_device_rx_packets_total",
                "Packets the device received",
                p.rx_packets,
            ),
            (
                "upf_port_device_tx_packets_total",
                "Packets the device sent",
                p.tx_packets,
            ),
            (
                "upf_port_device_rx_bytes_total",
                "Bytes the device received",
                p.rx_bytes,
            ),
            (
                "upf_port_device_tx_bytes_total",
                "Bytes the device sent",
                p.tx_bytes,
            ),
            (
                "upf_port_device_rx_missed_total",
                "Packets the device dropped for lack of receive descriptors",
                p.rx_missed,
            ),
            (
                "upf_port_device_rx_errors_total",
                "Erroneous packets received",
                p.rx_errors,
            ),
            (
                "upf_port_device_tx_errors_total",
                "Failed transmissions",
                p.tx_errors,
            ),
            (
                "upf_port_device_rx_nombuf_total",
                "Receive buffer allocation failures",
                p.rx_nombuf,
            ),
        ] {
            e.counter(name, help, &l, v);
        }
        for (q, (pk, by, er)) in p.rx_queues.iter().enumerate() {
            let qs = q.to_string();
            let l = [("port", p.name.as_str()), ("queue", qs.as_str())];
            e.counter(
                "upf_port_queue_rx_packets_total",
                "Packets per receive queue (as the driver counts)",
                &l,
                *pk,
            );
            e.counter(
                "upf_port_queue_rx_bytes_total",
                "Bytes per receive queue",
                &l,
                *by,
            );
            e.counter(
                "upf_port_queue_rx_errors_total",
                "Errors per receive queue",
                &l,
                *er,
            );
        }
        for (q, (pk, by)) in p.tx_queues.iter().enumerate() {
            let qs = q.to_string();
            let l = [("port", p.name.as_str()), ("queue", qs.as_str())];
            e.counter(
                "upf_port_queue_tx_packets_total",
                "Packets per transmit queue (as the driver counts)",
                &l,
                *pk,
            );
            e.counter(
                "upf_port_queue_tx_bytes_total",
                "Bytes per transmit queue",
                &l,
                *by,
            );
        }
        for (name, v) in &p.xstats {
            e.counter(
                "upf_port_xstats_total",
                "The driver's extended counters",
                &[("port", p.name.as_str()), ("name", name.as_str())],
                *v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_link_queues_and_xstats() {
        let mut e = Exposition::default();
        port_status(
            &mut e,
            &[PortStatus {
                name: "n3".into(),
                driver: "net_ring".into(),
                link_up: true,
                speed_mbps: 10000,
                rx_missed: 7,
                rx_queues: vec![(5, 300, 0), (6, 360, 1)],
                tx_queues: vec![(4, 256)],
                xstats: vec![("rx_good_packets".into(), 11)],
                ..Default::default()
            }],
        );
        let t = e.render();
        for want in [
            "upf_port_link_up{port=\"n3\",driver=\"net_ring\"} 1",
            "upf_port_link_speed_mbps{port=\"n3\",driver=\"net_ring\"} 10000",
            "upf_port_device_rx_missed_total{port=\"n3\"} 7",
            "upf_port_queue_rx_packets_total{port=\"n3\",queue=\"1\"} 6",
            "upf_port_queue_rx_errors_total{port=\"n3\",queue=\"1\"} 1",
            "upf_port_queue_tx_bytes_total{port=\"n3\",queue=\"0\"} 256",
            "upf_port_xstats_total{port=\"n3\",name=\"rx_good_packets\"} 11",
            "# TYPE upf_port_link_up gauge",
            "# TYPE upf_port_xstats_total counter",
        ] {
            assert!(t.contains(want), "missing {want} in\n{t}");
        }
    }
}
