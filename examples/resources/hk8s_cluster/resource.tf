resource "hk8s_cluster" "main" {
  name               = "prod"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"

  control_plane = {
    server_type = "cax21"
    count       = 3
    locations   = ["fsn1", "nbg1", "hel1"]
  }
}
