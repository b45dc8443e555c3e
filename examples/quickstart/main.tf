# Quickstart: a highly available three-node control plane spread over Falkenstein, Nuremberg and
# Helsinki, and an admin kubeconfig minted locally. Worker pools (`hk8s_node_pool`, see
# examples/ha and examples/arm64) build on it; addons (examples/addons) plan but do not apply yet.
#
# Against hk8s-sim (offline):
#   hk8s-sim serve --listen 127.0.0.1:8080 --token dev --talos-snapshots v1.13.9 --latency realistic --time-scale 0.05 &
#   export HCLOUD_ENDPOINT=http://127.0.0.1:8080/v1 HCLOUD_TOKEN=dev   # as it prints
#   terraform apply           # `make demo` does all of this for you (and shows the nodes)
# Against Hetzner Cloud: export HCLOUD_TOKEN only.

terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

# hcloud_token and hcloud_endpoint fall back to HCLOUD_TOKEN and HCLOUD_ENDPOINT.
provider "hk8s" {}

resource "hk8s_cluster" "main" {
  name               = "prod"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"

  control_plane = {
    server_type = "cax21"
    count       = 3
    locations   = ["fsn1", "nbg1", "hel1"]
  }
}

data "hk8s_kubeconfig" "admin" {
  cluster = hk8s_cluster.main.connection
  ttl     = "8h"
}

output "endpoint" {
  value = hk8s_cluster.main.endpoint
}

output "nodes" {
  value = [for n in hk8s_cluster.main.nodes : "${n.name} ${n.location} ${n.private_ipv4} ${n.talos_version}"]
}

output "kubeconfig" {
  value     = data.hk8s_kubeconfig.admin.kubeconfig
  sensitive = true
}
