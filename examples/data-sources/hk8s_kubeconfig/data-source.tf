data "hk8s_kubeconfig" "admin" {
  cluster = hk8s_cluster.main.connection
  ttl     = "8h"
}
