terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

# Every argument is optional: the token and endpoint fall back to HCLOUD_TOKEN and HCLOUD_ENDPOINT.
provider "hk8s" {}
