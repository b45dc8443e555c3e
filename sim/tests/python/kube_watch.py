"""Watches the ConfigMaps of a namespace with the official Kubernetes Python client's watch helper
(`watch.Watch().stream`), as controllers and scripts written in Python do.

Usage: python kube_watch.py KUBECONFIG NAMESPACE NAME

Prints one line per event, `TYPE name value-of-data.k` (flushed at once, so that the Rust test
`sim/tests/kube/watch.rs` knows the watch is open when it sees the first line), and stops after
the DELETED event of NAME.
"""

import sys

from kubernetes import client, config, watch


def main() -> None:
    kubeconfig, namespace, name = sys.argv[1:4]
    config.load_kube_config(kubeconfig)
    api = client.CoreV1Api()
    w = watch.Watch()
    for event in w.stream(api.list_namespaced_config_map, namespace=namespace, timeout_seconds=600):
        obj = event["object"]
        value = (obj.data or {}).get("k", "-")
        print(event["type"], obj.metadata.name, value, flush=True)
        if event["type"] == "DELETED" and obj.metadata.name == name:
            w.stop()


if __name__ == "__main__":
    main()
