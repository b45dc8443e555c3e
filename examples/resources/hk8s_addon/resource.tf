resource "hk8s_addon" "csi" {
  cluster = hk8s_cluster.main.connection
  name    = "hcloud-csi"
  # Merged over the derived defaults; lists replace, so this keeps only one storage class.
  values = yamlencode({ storageClasses = [{ name = "hcloud-volumes", defaultStorageClass = true, reclaimPolicy = "Retain" }] })
}
