# Addons from the hk8s catalog (versions pinned by the provider unless given) and one arbitrary
# Helm chart. Values are YAML merged over the catalog defaults derived from the cluster.

terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

provider "hk8s" {}

resource "hk8s_cluster" "main" {
  name               = "addons"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  cni                = "cilium"

  control_plane = {
    server_type = "cx33"
    count       = 3
  }
}

resource "hk8s_node_pool" "workers" {
  cluster     = hk8s_cluster.main.connection
  name        = "workers"
  server_type = "cx33"
  node_count  = 3
}

resource "hk8s_addon" "cilium" {
  cluster = hk8s_cluster.main.connection
  name    = "cilium"
  values  = yamlencode({ hubble = { relay = { enabled = true } } })
}

resource "hk8s_addon" "ccm" {
  cluster = hk8s_cluster.main.connection
  name    = "hcloud-ccm"
}

resource "hk8s_addon" "csi" {
  cluster = hk8s_cluster.main.connection
  name    = "hcloud-csi"
}

resource "hk8s_addon" "metrics" {
  cluster = hk8s_cluster.main.connection
  name    = "metrics-server"
}

resource "hk8s_addon" "cert_manager" {
  cluster = hk8s_cluster.main.connection
  name    = "cert-manager"
  values  = yamlencode({ crds = { enabled = true } })
}

resource "hk8s_addon" "ingress" {
  cluster   = hk8s_cluster.main.connection
  name      = "ingress-nginx"
  namespace = "ingress-nginx"
  version   = "4.12.1"

  chart = {
    repository = "https://kubernetes.github.io/ingress-nginx"
    name       = "ingress-nginx"
  }

  values = yamlencode({
    controller = {
      service = {
        annotations = { "load-balancer.hetzner.cloud/location" = "fsn1" }
      }
    }
  })

  depends_on = [hk8s_addon.ccm]
}
