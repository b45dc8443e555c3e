resource "hk8s_addon" "csi" {
  cluster = hk8s_cluster.main.connection
  name    = "hcloud-csi"
  values  = yamlencode({ storageClasses = [{ name = "hcloud-volumes", defaultStorageClass = true }] })
}
