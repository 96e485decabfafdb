#!/usr/bin/env bash
# Deployment files: the systemd units pass `systemd-analyze verify` against
# the binaries install.sh stages; the Kubernetes manifests pass strict schema
# validation; the configurations they carry pass every process's `check`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked -q --bins
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
scripts/deploy/install.sh --destdir "$stage/root" --bins target/debug >/dev/null
# Point the staged units at the staged binaries, then verify them.
mkdir -p "$stage/units"
for u in "$stage"/root/etc/systemd/system/*; do
  sed "s|/usr/local/bin/|$stage/root/usr/local/bin/|g; s|/etc/edge-upf/upf.toml|$PWD/scripts/configs/dpdk-host.toml|g" \
    "$u" > "$stage/units/$(basename "$u")"
done
systemd-analyze verify --man=no --recursive-errors=no "$stage"/units/*
echo "deploy: systemd units verified"
# Every example configuration passes every process's check (the one the
# units start with included).
for c in scripts/configs/*.toml; do
  for b in upf-dataplane pfcp-ctl mec-services; do
    "$stage/root/usr/local/bin/$b" check --config "$c"
  done
done
# ...and refuse a broken one, naming the key (so ExecStartPre stops a bad start).
sed 's/^workers = 4/workrs = 4/' scripts/configs/dpdk-host.toml > "$stage/bad.toml"
for b in upf-dataplane pfcp-ctl mec-services; do
  if out=$("$stage/root/usr/local/bin/$b" check --config "$stage/bad.toml" 2>&1); then
    echo "deploy: $b accepted a broken configuration" >&2; exit 1
  fi
  grep -q "dataplane.workrs" <<<"$out" || { echo "deploy: $b did not name the bad key: $out" >&2; exit 1; }
done
echo "deploy: broken configuration refused by every process"

# Kubernetes: strict schema validation (kubernetes-validate carries the
# schemas, no cluster needed) of the built-in kinds; the Multus network
# definitions (a CRD) are checked for their shape and their CNI JSON.
k8s=scripts/deploy/k8s
kubernetes-validate --strict --quiet "$k8s/upf.yaml" "$k8s/configmap.yaml" "$k8s/upf-hostnetwork.yaml"
python3 - "$k8s" "$stage" <<'PY'
import json, sys, yaml
k8s, stage = sys.argv[1], sys.argv[2]
for d in yaml.safe_load_all(open(f"{k8s}/sriov-networks.yaml")):
    assert d["kind"] == "NetworkAttachmentDefinition", d
    cni = json.loads(d["spec"]["config"])
    assert cni["type"] == "sriov" and cni["name"] == d["metadata"]["name"], cni
    assert d["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"].startswith("edge-upf.io/")
# Every network the pod asks for exists, and every ConfigMap it mounts.
docs = [d for f in ("upf.yaml", "configmap.yaml", "upf-hostnetwork.yaml") for d in yaml.safe_load_all(open(f"{k8s}/{f}"))]
nads = {d["metadata"]["name"] for d in yaml.safe_load_all(open(f"{k8s}/sriov-networks.yaml"))}
cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
for d in docs:
    if d["kind"] != "Deployment":
        continue
    pod = d["spec"]["template"]
    nets = pod["metadata"].get("annotations", {}).get("k8s.v1.cni.cncf.io/networks", "")
    for n in filter(None, (x.strip() for x in nets.split(","))):
        assert n.split("/")[-1] in nads, f"network {n} not defined"
    for v in pod["spec"]["volumes"]:
        if "configMap" in v:
            name = v["configMap"]["name"]
            assert name in cms, f"ConfigMap {name} not defined"
            open(f"{stage}/{name}.toml", "w").write(cms[name]["data"]["upf.toml"])
    # Guaranteed QoS: requests == limits with whole CPUs in every container.
    for c in pod["spec"]["containers"]:
        r = c["resources"]
        assert r["requests"] == r["limits"], c["name"]
        assert str(r["requests"]["cpu"]).isdigit(), c["name"]
print("deploy: manifests consistent (networks, ConfigMaps, Guaranteed QoS)")
PY
# The configurations the ConfigMaps carry pass every process's check, with
# the variables the SR-IOV device plugin would set.
export PCIDEVICE_EDGE_UPF_IO_SRIOV_N3=0000:3b:02.0 PCIDEVICE_EDGE_UPF_IO_SRIOV_N6=0000:3b:0a.0
for c in "$stage"/edge-upf-config*.toml; do
  for b in upf-dataplane pfcp-ctl mec-services; do
    "$stage/root/usr/local/bin/$b" check --config "$c" >/dev/null
  done
done
echo "deploy: Kubernetes manifests and their configurations checked"
