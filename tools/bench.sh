#!/usr/bin/env bash
# `make bench`: the project's timing claims live here, never in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== provider start-up"
cargo bench --quiet --bench startup
echo
echo "== hk8s-sim: GET /servers with 500 servers (BENCH_SECONDS, BENCH_CONCURRENCY to tune)"
cargo bench --quiet -p hk8s-sim --bench list_servers
echo
echo "== hk8s_cluster: 3-node create and refresh with real Terraform against hk8s-sim (BENCH_TIME_SCALE to tune)"
HK8S_TERRAFORM="${HK8S_TERRAFORM:-$PWD/.tools/venv/bin/terraform}" CHECKPOINT_DISABLE=1 \
  cargo bench --quiet --bench cluster_create
echo
echo "== hk8s_node_pool: 50-node create and refresh with real Terraform against hk8s-sim (BENCH_TIME_SCALE to tune)"
HK8S_TERRAFORM="${HK8S_TERRAFORM:-$PWD/.tools/venv/bin/terraform}" CHECKPOINT_DISABLE=1 \
  cargo bench --quiet --bench node_pool_create
echo
echo "== cluster life at 3, 10, 50 and 100 nodes: create, refresh, scale up, Talos upgrade, destroy (BENCH_SIZES, BENCH_TIME_SCALE to tune)"
HK8S_TERRAFORM="${HK8S_TERRAFORM:-$PWD/.tools/venv/bin/terraform}" CHECKPOINT_DISABLE=1 \
  cargo bench --quiet --bench cluster_scale
# The plot needs matplotlib, in a venv of its own made here only (never by `make test`):
# HK8S_BENCH_VENV to put it elsewhere.
venv="${HK8S_BENCH_VENV:-$PWD/.tools/venv-bench}"
req="$PWD/tools/requirements-bench.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
  echo "bench: creating $venv from $(basename "$req")" >&2
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.requirements.sha256"
fi
"$venv/bin/python" tools/bench_plot.py docs/bench/scale.json docs/bench/scale.png
