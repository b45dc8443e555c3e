# A cluster is imported by its name: every Hetzner object labelled hk8s.io/cluster=<name> is found
# and the state rebuilt. Give `secrets` in the configuration to adopt the cluster's PKI.
terraform import hk8s_cluster.main prod
