"""Patches the Deployment `default/web` with the official Kubernetes Python client (PyPI
`kubernetes`): a dict body (the client sends it as a strategic merge patch) changing the image of
container `app`, then a list body (JSON patch) setting the replicas.

Usage: python kube_patch.py KUBECONFIG

Prints the containers (name, image) and replicas of the patched Deployment as JSON, for the Rust
test `sim/tests/kube/openapi.rs`.
"""

import json
import sys

from kubernetes import client, config


def main() -> None:
    config.load_kube_config(sys.argv[1])
    apps = client.AppsV1Api()
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.29"}]}}}},
    )
    patched = apps.patch_namespaced_deployment(
        "web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    )
    print(
        json.dumps(
            {
                "containers": [[c.name, c.image] for c in patched.spec.template.spec.containers],
                "replicas": patched.spec.replicas,
            }
        )
    )


if __name__ == "__main__":
    main()
