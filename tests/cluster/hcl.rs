//! HCL for the cluster tests.

/// Provider block pointing at the sim, with fast polling for the scaled-down latency.
pub fn provider(endpoint: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    hk8s = {{ source = "hk8s/hk8s" }}
  }}
}}
provider "hk8s" {{
  hcloud_endpoint = "{endpoint}"
  hcloud_token    = "{token}"
  poll_interval   = "100ms"
}}
"#,
        token = super::world::TOKEN
    )
}

/// A cluster `name` with `count` control planes; `extra` goes inside the resource block.
pub fn cluster(
    endpoint: &str,
    name: &str,
    count: u32,
    talos: &str,
    kubernetes: &str,
    extra: &str,
) -> String {
    format!(
        r#"{provider}
resource "hk8s_cluster" "main" {{
  name               = "{name}"
  location           = "fsn1"
  talos_version      = "{talos}"
  kubernetes_version = "{kubernetes}"
  control_plane = {{
    server_type = "cax21"
    count       = {count}
  }}
  timeouts = {{ create = "3m", update = "3m", delete = "3m" }}
{extra}
}}

output "endpoint" {{
  value = hk8s_cluster.main.endpoint
}}
output "nodes" {{
  value = hk8s_cluster.main.nodes
}}
output "kubeconfig" {{
  value     = hk8s_cluster.main.kubeconfig
  sensitive = true
}}
"#,
        provider = provider(endpoint)
    )
}

/// A node pool `name` of cluster `hk8s_cluster.main`; `extra` goes inside the resource block.
pub fn pool(name: &str, server_type: &str, count: u32, extra: &str) -> String {
    format!(
        r#"
resource "hk8s_node_pool" "{name}" {{
  cluster     = hk8s_cluster.main.connection
  name        = "{name}"
  server_type = "{server_type}"
  node_count  = {count}
  timeouts    = {{ create = "3m", update = "3m", delete = "3m" }}
{extra}
}}
"#
    )
}
