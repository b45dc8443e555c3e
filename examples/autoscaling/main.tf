# A pool sized by the Kubernetes cluster-autoscaler (Hetzner provider) between 1 and 10 nodes.
# The pool configures the autoscaler; the cluster-autoscaler addon runs it.

terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

provider "hk8s" {}

resource "hk8s_cluster" "main" {
  name               = "scale"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"

  control_plane = {
    server_type = "cx23"
    count       = 3
  }
}

resource "hk8s_node_pool" "elastic" {
  cluster     = hk8s_cluster.main.connection
  name        = "elastic"
  server_type = "cx33"

  autoscaling = {
    min = 1
    max = 10
  }
}

resource "hk8s_addon" "autoscaler" {
  cluster = hk8s_cluster.main.connection
  name    = "cluster-autoscaler"

  depends_on = [hk8s_node_pool.elastic]
}
