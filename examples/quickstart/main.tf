# Quickstart: a three-node control plane spread over Falkenstein, Nuremberg and Helsinki, one
# pool of three x86 workers, the Hetzner CSI driver and an admin kubeconfig.
#
# Against hk8s-sim (offline):
#   hk8s-sim serve --listen 127.0.0.1:8080 --token dev --talos-snapshots v1.13.9 &
#   export HCLOUD_ENDPOINT=http://127.0.0.1:8080/v1 HCLOUD_TOKEN=dev   # as it prints
#   terraform plan            # `make demo` does all of this for you
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

resource "hk8s_node_pool" "general" {
  cluster     = hk8s_cluster.main.connection
  name        = "general"
  server_type = "cx33"
  node_count  = 3
}

resource "hk8s_addon" "csi" {
  cluster = hk8s_cluster.main.connection
  name    = "hcloud-csi"
  values  = yamlencode({ storageClasses = [{ name = "hcloud-volumes", defaultStorageClass = true }] })
}

data "hk8s_kubeconfig" "admin" {
  cluster = hk8s_cluster.main.connection
  ttl     = "8h"
}

output "endpoint" {
  value = hk8s_cluster.main.endpoint
}

output "kubeconfig" {
  value     = data.hk8s_kubeconfig.admin.kubeconfig
  sensitive = true
}
