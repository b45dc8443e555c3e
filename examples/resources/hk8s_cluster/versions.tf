# Not shown in the docs: what the example needs to validate on its own.
terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}
