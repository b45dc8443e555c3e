# A Cilium cluster with storage, metrics, certificates and ingress from the hk8s catalog, plus one
# arbitrary Helm chart. The cluster itself installs what it cannot live without (helm-controller,
# Cilium, the hcloud cloud controller, the kubelet serving-certificate approver); addons are
# Helm releases served by that helm-controller, with versions pinned by the provider unless given
# and values merged over defaults derived from the cluster.

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

  # Tuning of what the cluster installs (both optional).
  cilium = {
    values = yamlencode({ hubble = { enabled = true } })
  }
  cloud_controller = {
    values = yamlencode({ replicaCount = 2 })
  }
}

resource "hk8s_node_pool" "workers" {
  cluster     = hk8s_cluster.main.connection
  name        = "workers"
  server_type = "cx33"
  node_count  = 2
}

# Hetzner volumes as PersistentVolumes: storage classes `hcloud-volumes` (default) and
# `hcloud-volumes-encrypted` (LUKS, passphrase generated once and kept in state).
resource "hk8s_addon" "csi" {
  cluster    = hk8s_cluster.main.connection
  name       = "hcloud-csi"
  depends_on = [hk8s_node_pool.workers]
}

resource "hk8s_addon" "metrics" {
  cluster    = hk8s_cluster.main.connection
  name       = "metrics-server"
  depends_on = [hk8s_node_pool.workers]
}

resource "hk8s_addon" "cert_manager" {
  cluster    = hk8s_cluster.main.connection
  name       = "cert-manager"
  depends_on = [hk8s_node_pool.workers]
}

# Traefik behind a Hetzner load balancer made by the cloud controller.
resource "hk8s_addon" "ingress" {
  cluster    = hk8s_cluster.main.connection
  name       = "traefik"
  values     = yamlencode({ deployment = { replicas = 2 } })
  depends_on = [hk8s_node_pool.workers]
}

# Any chart: `chart = { repository, name }` and a pinned `version`.
resource "hk8s_addon" "podinfo" {
  cluster   = hk8s_cluster.main.connection
  name      = "podinfo"
  namespace = "demo"
  version   = "6.9.2"

  chart = {
    repository = "https://stefanprodan.github.io/podinfo"
    name       = "podinfo"
  }

  values     = yamlencode({ replicaCount = 2 })
  depends_on = [hk8s_node_pool.workers]
}
