# <cluster name>/<pool name>
terraform import hk8s_node_pool.general prod/general
