terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

# Every argument is optional: the token and endpoint fall back to HCLOUD_TOKEN and HCLOUD_ENDPOINT,
# the Image Factory to HK8S_IMAGE_FACTORY, then https://factory.talos.dev.
provider "hk8s" {}
