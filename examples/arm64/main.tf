# An all-arm64 cluster (Ampere CAX servers): the provider picks the arm64 Talos image from the
# server type, for the control plane and the pool alike.

terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

provider "hk8s" {}

resource "hk8s_cluster" "arm" {
  name               = "arm"
  location           = "hel1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"

  control_plane = {
    server_type     = "cax11"
    count           = 1
    allow_workloads = true
  }
}

resource "hk8s_node_pool" "arm" {
  cluster     = hk8s_cluster.arm.connection
  name        = "arm"
  server_type = "cax31"
  node_count  = 2
  labels      = { "example.com/arch" = "arm64" }
}
