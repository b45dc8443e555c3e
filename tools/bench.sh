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
