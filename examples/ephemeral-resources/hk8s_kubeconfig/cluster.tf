# Not shown in the docs: what the example above needs to validate on its own.
terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

resource "hk8s_cluster" "main" {
  name               = "prod"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"

  control_plane = {
    server_type = "cax21"
  }
}
