# A production-shaped cluster: five control-plane nodes over three locations, a private address
# plan of your own, a bigger API load balancer, direct API access only from an office range, and
# two worker pools (one tainted for batch work).

terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

provider "hk8s" {}

variable "admin_cidr" {
  description = "Range allowed to reach the Kubernetes and Talos APIs of the nodes directly."
  type        = string
  default     = "203.0.113.0/24"
}

resource "hk8s_cluster" "ha" {
  name               = "ha"
  location           = "nbg1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  delete_protection  = true

  control_plane = {
    server_type = "ccx23"
    count       = 5
    locations   = ["fsn1", "nbg1", "hel1"]
    labels      = { "example.com/tier" = "control-plane" }
  }

  network = {
    cidr         = "10.10.0.0/16"
    node_subnet  = "10.10.0.0/20"
    pod_cidr     = "10.128.0.0/14"
    service_cidr = "10.96.0.0/16"
  }

  api_load_balancer = {
    type     = "lb21"
    location = "nbg1"
  }

  firewall = {
    kube_api_sources  = [var.admin_cidr]
    talos_api_sources = [var.admin_cidr]
  }

  config_patches = [yamlencode({
    machine = { time = { servers = ["ntp1.hetzner.de", "ntp2.hetzner.com"] } }
  })]

  timeouts = {
    create = "45m"
    update = "2h"
  }
}

resource "hk8s_node_pool" "general" {
  cluster     = hk8s_cluster.ha.connection
  name        = "general"
  server_type = "cpx41"
  node_count  = 6
  locations   = ["fsn1", "nbg1", "hel1"]

  update_strategy = {
    max_unavailable = 2
    drain_timeout   = "10m"
  }
}

resource "hk8s_node_pool" "batch" {
  cluster     = hk8s_cluster.ha.connection
  name        = "batch"
  server_type = "ccx33"
  node_count  = 2
  labels      = { "example.com/workload" = "batch" }
  taints      = ["example.com/workload=batch:NoSchedule"]
}
