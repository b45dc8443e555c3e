"""Lists the Nodes of a cluster with the official Kubernetes Python client (PyPI `kubernetes`).

Usage: python kube_nodes.py KUBECONFIG

Prints the nodes as the client parsed them (its models serialized back to the API's JSON), so
that the Rust test `sim/tests/kube/python.rs` can check what a real client makes of the sim's
Node objects: architecture, capacity, allocatable and pod CIDRs.
"""

import json
import sys

from kubernetes import client, config


def main() -> None:
    config.load_kube_config(sys.argv[1])
    api = client.ApiClient()
    nodes = client.CoreV1Api(api).list_node().items
    print(json.dumps([api.sanitize_for_serialization(n) for n in nodes]))


if __name__ == "__main__":
    main()
