# Minted on every run and never stored in state or plan (Terraform 1.10+).
ephemeral "hk8s_kubeconfig" "ci" {
  cluster  = hk8s_cluster.main.connection
  ttl      = "30m"
  username = "ci"
  groups   = ["ci-deployers"]
}
