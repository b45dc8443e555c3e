#!/usr/bin/env bash
# `make demo`: an HA Talos cluster created with real Terraform against hk8s-sim, all on loopback.
#
#   tools/demo.sh            start hk8s-sim, apply examples/quickstart, show the cluster, and KEEP
#                            it: the sim stays up in the background so that you can look around
#                            (kubectl/terraform with the printed commands) and destroy it yourself.
#   tools/demo.sh destroy    `terraform destroy` the kept cluster, then stop the sim.
#   tools/demo.sh --destroy  both in one go (apply, show, destroy, stop): nothing is left running.
#
# Why keep by default: destroying is half of the story and a user should see it work with their
# own `terraform destroy`; the sim must still run for that, so it is left in the background with
# its pid in .demo/sim.pid and its world saved to .demo/sim-state.json when it stops.
#
# The sim runs with `--latency realistic --time-scale 0.05`: every Hetzner action and Talos boot
# takes 5% of its real duration, so a create that takes minutes on Hetzner takes seconds here.
# Its Hetzner API listens on a free 127.0.0.1 port; nodes and the load balancer get addresses from
# 127.10.0.1 on with the nominal ports (Talos API 50000, Kubernetes API 6443).
#
# Everything the demo keeps lives in .demo/ (git-ignored): work/ (the Terraform work dir and
# state), kubeconfig, env (HCLOUD_ENDPOINT/TOKEN and TF_CLI_CONFIG_FILE), sim.pid, sim.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

demo="$root/.demo"
work="$demo/work"
time_scale="${HK8S_DEMO_TIME_SCALE:-0.05}"
python="$root/.tools/venv/bin/python"
sim="$root/target/release/hk8s-sim"
terraform="$(command -v terraform || true)"
[[ -n "$terraform" ]] || terraform="$root/.tools/venv/bin/terraform"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

sim_running() { [[ -f "$demo/sim.pid" ]] && kill -0 "$(cat "$demo/sim.pid")" 2>/dev/null; }

stop_sim() {
  if sim_running; then
    local pid
    pid="$(cat "$demo/sim.pid")"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "hk8s-sim (pid $pid) stopped; its world is saved in $demo/sim-state.json"
  fi
  rm -f "$demo/sim.pid"
}

destroy() {
  [[ -f "$demo/env" ]] || die "no demo cluster to destroy ($demo/env is missing)"
  sim_running || die "the demo's hk8s-sim is not running; nothing can be destroyed (rm -rf .demo to start over)"
  # shellcheck source=/dev/null
  source "$demo/env"
  say "terraform destroy (in $work)"
  (cd "$work" && "$terraform" destroy -input=false -auto-approve)
  say "what is left in the simulated Hetzner project"
  for kind in servers load_balancers networks firewalls placement_groups; do
    curl -fsS -H "Authorization: Bearer $HCLOUD_TOKEN" "$HCLOUD_ENDPOINT/$kind" |
      "$python" -c "import json,sys; print(len(json.load(sys.stdin)['$kind']), '$kind')"
  done
  stop_sim
}

case "${1:-}" in
  destroy) destroy; exit 0 ;;
  --destroy) destroy_at_end=1 ;;
  "") destroy_at_end=0 ;;
  *) die "usage: tools/demo.sh [destroy|--destroy]" ;;
esac

[[ -x "$sim" && -x "$root/target/release/terraform-provider-hk8s" ]] ||
  die "release binaries missing: run 'make demo' (it builds them) or 'cargo build --release --workspace'"
[[ -x "$python" ]] || bash tools/bootstrap.sh
"$python" -c 'import kubernetes' 2>/dev/null || die "the tools venv has no kubernetes client: run 'make tools'"

if sim_running; then
  say "a previous demo is still running: destroying it first"
  destroy
fi
rm -rf "$demo"
mkdir -p "$work"
echo '*' > "$demo/.gitignore"  # nothing the demo keeps belongs in git

cat > "$demo/terraformrc" <<RC
provider_installation {
  dev_overrides { "registry.terraform.io/hk8s/hk8s" = "$root/target/release" }
  direct {}
}
disable_checkpoint = true
RC

say "starting hk8s-sim: realistic latency x $time_scale, Talos v1.13.9 snapshots, loopback only"
token="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
# setsid: the sim outlives this script (and a Ctrl-C of it) on purpose; see the header.
setsid "$sim" serve --listen 127.0.0.1:0 --token "$token" \
  --latency realistic --time-scale "$time_scale" \
  --talos-snapshots v1.13.9 --state-file "$demo/sim-state.json" \
  > "$demo/sim.out" 2> "$demo/sim.log" < /dev/null &
echo $! > "$demo/sim.pid"
for _ in $(seq 100); do grep -q HCLOUD_TOKEN "$demo/sim.out" 2>/dev/null && break; sleep 0.1; done
if ! grep -q HCLOUD_TOKEN "$demo/sim.out"; then
  cat "$demo/sim.log" >&2
  stop_sim
  die "hk8s-sim did not start (log above)"
fi
{
  cat "$demo/sim.out"
  echo "export TF_CLI_CONFIG_FILE=$demo/terraformrc CHECKPOINT_DISABLE=1"
} > "$demo/env"
# shellcheck source=/dev/null
source "$demo/env"
# Stop the sim again if the apply fails: a half-made demo is not worth keeping.
trap 'status=$?; if (( status != 0 )); then echo "demo failed; sim log: $demo/sim.log" >&2; stop_sim; fi' EXIT
echo "Hetzner API at $HCLOUD_ENDPOINT (pid $(cat "$demo/sim.pid"), log $demo/sim.log)"

cp examples/quickstart/*.tf "$work/"
cd "$work"
say "terraform apply examples/quickstart ($terraform, provider from target/release via dev_overrides)"
started=$SECONDS
"$terraform" apply -input=false -auto-approve
echo "apply took $((SECONDS - started)) s with every cloud action and boot at ${time_scale} x its Hetzner duration"

# The outputs were printed by apply above; the kubeconfig is sensitive, so it goes to a file.
"$terraform" output -raw kubeconfig > "$demo/kubeconfig"
chmod 600 "$demo/kubeconfig"

say "kubectl get nodes -o wide (official Python kubernetes client, kubeconfig output)"
"$python" - "$demo/kubeconfig" <<'PY'
import sys
from kubernetes import client, config

config.load_kube_config(sys.argv[1])
rows = [("NAME", "STATUS", "ROLES", "VERSION", "INTERNAL-IP", "OS-IMAGE")]
for node in sorted(client.CoreV1Api().list_node().items, key=lambda n: n.metadata.name):
    ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
    status = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if node.spec.unschedulable:
        status += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = ",".join(sorted(k[len(prefix):] for k in node.metadata.labels or {} if k.startswith(prefix)))
    internal = next((a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "<none>")
    info = node.status.node_info
    rows.append((node.metadata.name, status, roles or "<none>", info.kubelet_version, internal, info.os_image))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
PY

say "helm releases the cluster installed (kube-system HelmCharts) and node initialisation"
"$python" - "$demo/kubeconfig" <<'PY'
import sys
from kubernetes import client, config

config.load_kube_config(sys.argv[1])
charts = client.CustomObjectsApi().list_namespaced_custom_object(
    "helm.cattle.io", "v1", "kube-system", "helmcharts")["items"]
secrets = client.CoreV1Api().list_namespaced_secret(
    "kube-system", label_selector="owner=helm,status=deployed").items
revision = {s.metadata.labels["name"]: s.metadata.labels["version"] for s in secrets}
rows = [("RELEASE", "CHART", "VERSION", "REVISION")]
for c in sorted(charts, key=lambda c: c["metadata"]["name"]):
    name = c["metadata"]["name"]
    rows.append((name, c["spec"]["chart"], c["spec"].get("version", ""), revision.get(name, "-")))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
for node in sorted(client.CoreV1Api().list_node().items, key=lambda n: n.metadata.name):
    print(f"{node.metadata.name}: providerID {node.spec.provider_id or '<none>'}")
PY

if (( destroy_at_end )); then
  cd "$root"
  destroy
  trap - EXIT
  say "done: cluster destroyed and hk8s-sim stopped"
  exit 0
fi

trap - EXIT
say "the cluster keeps running"
cat <<MSG
kubeconfig (admin, valid 8 h):  $demo/kubeconfig
  e.g. KUBECONFIG=$demo/kubeconfig kubectl get nodes     (if you have kubectl)
Terraform work dir and state:   $work
hk8s-sim: pid $(cat "$demo/sim.pid"), log $demo/sim.log

To destroy the cluster and stop the sim:
  make demo-destroy                       (= bash tools/demo.sh destroy)
or by hand:
  source $demo/env
  (cd $work && $terraform destroy)
  kill $(cat "$demo/sim.pid")
MSG
