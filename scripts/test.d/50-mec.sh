#!/usr/bin/env bash
# mec-services (the Mp1 sidecar): schemathesis conformance against ETSI's
# OpenAPI files, the etcd-shared registry with a real etcd, mTLS, and the
# end-to-end steering test in network namespaces. Bounded: three
# schemathesis runs of at most SCHEMATHESIS_MAX_TIME (default 60) seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# The ETSI files live in the shared folder beside the project.
specs="${MEC_SPECS_DIR:-$root/../shared/specs/etsi-mec011}"
[ -f "$specs/MecAppSupportApi.yaml" ] || specs=/work/shared/specs/etsi-mec011
if [ ! -f "$specs/MecAppSupportApi.yaml" ] || [ ! -f "$specs/MecServiceMgmtApi.yaml" ]; then
  echo "50-mec: ETSI MEC 011 OpenAPI files not found (set MEC_SPECS_DIR)" >&2
  exit 1
fi
cargo build --locked -q -p mec-services --bin mec-services
MP1_REQUIRE_ETCD=1 cargo test --locked -q -p mec-services --test etcd --test mtls --test netns_e2e 2>&1
python3 scripts/tests/mp1_conformance.py target/debug/mec-services "$specs"
