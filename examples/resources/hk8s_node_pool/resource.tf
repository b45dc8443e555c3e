resource "hk8s_node_pool" "general" {
  cluster     = hk8s_cluster.main.connection
  name        = "general"
  server_type = "cx33"
  node_count  = 3
  labels      = { "example.com/pool" = "general" }
  taints      = ["example.com/dedicated=general:PreferNoSchedule"]
}
