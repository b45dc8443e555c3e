"""Drives hk8s-sim with the official Hetzner Cloud Python client (PyPI `hcloud`), unchanged.

Every resource kind goes through create -> poll its actions -> list -> delete. If the client
cannot parse a reply, that is a bug in the sim.

The sim binary comes from $HK8S_SIM_BIN (default: target/debug/hk8s-sim under the repo root); it
is started on port 0 and the test reads the HCLOUD_ENDPOINT it prints.
"""

import base64
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from hcloud import APIException, Client
from hcloud.firewalls import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.images import Image
from hcloud.load_balancer_types import LoadBalancerType
from hcloud.load_balancers import (
    LoadBalancerHealthCheck,
    LoadBalancerService,
    LoadBalancerTarget,
    LoadBalancerTargetLabelSelector,
)
from hcloud.locations import Location
from hcloud.networks import NetworkSubnet
from hcloud.placement_groups import PlacementGroup
from hcloud.server_types import ServerType
from hcloud.servers import Server

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN = "python-client-token"
TALOS = "v1.13.9"
SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"


def sim_binary() -> str:
    return os.environ.get("HK8S_SIM_BIN", str(REPO_ROOT / "target" / "debug" / "hk8s-sim"))


@pytest.fixture()
def sim():
    """Starts the sim on port 0 and yields (endpoint, process); stops it with SIGTERM."""
    proc = subprocess.Popen(
        [sim_binary(), "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--talos-snapshots", TALOS],
        stdout=subprocess.PIPE,
        text=True,
    )
    exports = dict(proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(2))
    assert exports["HCLOUD_TOKEN"] == TOKEN
    endpoint = exports["HCLOUD_ENDPOINT"]
    assert endpoint.startswith("http://127.0.0.1:") and endpoint.endswith("/v1")
    yield endpoint
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0, "SIGTERM stops the sim cleanly"


@pytest.fixture()
def client(sim):
    return Client(token=TOKEN, api_endpoint=sim, poll_interval=0.01, poll_max_retries=50)


def fake_ssh_key(seed: int) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + seed.to_bytes(32, "big")
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + f" key-{seed}"


def wait_all(actions):
    for action in actions:
        action.wait_until_finished()
        assert action.status == "success", (action.command, action.error)


# The datacenters client warns that Hetzner deprecated datacenters (2026-06); the sim still serves them.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_catalog(client):
    names = {t.name for t in client.server_types.get_all()}
    assert {"cx23", "cpx51", "cax41", "ccx63"} <= names
    assert client.server_types.get_by_name("cax11").architecture == "arm"
    assert [l.name for l in client.locations.get_all()] == ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"]
    assert client.locations.get_by_name("ash").network_zone == "us-east"
    dcs = client.datacenters.get_all()
    assert {dc.location.name for dc in dcs} == {"fsn1", "nbg1", "hel1", "ash", "hil", "sin"}
    assert [t.name for t in client.load_balancer_types.get_all()] == ["lb11", "lb21", "lb31"]
    debian_arm = client.images.get_by_name_and_architecture("debian-12", "arm")
    assert debian_arm.architecture == "arm" and debian_arm.type == "system"
    talos = client.images.get_all(label_selector=f"hk8s.io/talos-version={TALOS},hk8s.io/schematic={SCHEMATIC[:63]}")
    assert sorted(i.architecture for i in talos) == ["arm", "x86"]


def test_pricing(client):
    """The price list as the official client reads it. The client has no pricing module, so the
    request goes through its generic `Client.request` (auth, error envelope, retries included);
    the prices it embeds in server and load balancer types are read through the typed clients."""
    pricing = client.request("GET", "/pricing")["pricing"]
    assert pricing["currency"] == "EUR"
    vat = Decimal(pricing["vat_rate"])
    ipv4 = next(p for p in pricing["primary_ips"] if p["type"] == "ipv4")
    assert {p["location"] for p in ipv4["prices"]} == {l.name for l in client.locations.get_all()}
    for entry in ipv4["prices"]:
        net, gross = (Decimal(entry["price_monthly"][k]) for k in ("net", "gross"))
        assert gross == net * (1 + vat / 100), entry
        assert len(entry["price_monthly"]["net"].split(".")[1]) == 10
    assert Decimal(pricing["server_backup"]["percentage"]) == 20
    assert Decimal(pricing["volume"]["price_per_gb_month"]["net"]) > 0
    assert {f["type"] for f in pricing["floating_ips"]} == {"ipv4", "ipv6"}
    priced = {t["name"]: t["prices"] for t in pricing["server_types"]}
    for server_type in client.server_types.get_all():
        assert priced[server_type.name] == server_type.prices, server_type.name
        for entry in server_type.prices:
            hourly, monthly = (Decimal(entry[k]["net"]) for k in ("price_hourly", "price_monthly"))
            assert hourly * 730 > monthly, "the monthly price caps hourly billing"
    assert {p["location"] for p in priced["cx23"]} == {"fsn1", "nbg1", "hel1"}
    lb_priced = {t["name"]: t["prices"] for t in pricing["load_balancer_types"]}
    for lb_type in client.load_balancer_types.get_all():
        assert lb_priced[lb_type.name] == lb_type.prices, lb_type.name


def test_errors_are_api_exceptions(client, sim):
    with pytest.raises(APIException) as excinfo:
        client.servers.get_by_id(424242)
    assert excinfo.value.code == "not_found"
    client.ssh_keys.create(name="k", public_key=fake_ssh_key(1))
    with pytest.raises(APIException) as excinfo:
        client.ssh_keys.create(name="k", public_key=fake_ssh_key(2))
    assert excinfo.value.code == "uniqueness_error"
    with pytest.raises(APIException) as excinfo:
        client.servers.create(name="big", server_type=ServerType(name="cx23"), image=Image(name="debian-12"), user_data="x" * (32 * 1024 + 1))
    assert excinfo.value.code == "invalid_input"
    assert excinfo.value.details["fields"][0]["name"] == "user_data"
    with pytest.raises(APIException) as excinfo:
        Client(token="wrong", api_endpoint=sim).servers.get_all()
    assert excinfo.value.code == "unauthorized"


def test_full_lifecycle_of_every_resource_kind(client):
    labels = {"hk8s.io/cluster": "py"}

    # SSH key
    key = client.ssh_keys.create(name="admin", public_key=fake_ssh_key(7), labels=labels)
    assert client.ssh_keys.get_by_fingerprint(key.fingerprint).id == key.id

    # Network with a subnet and a route
    network = client.networks.create(
        name="py-net",
        ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")],
        labels=labels,
    )
    wait_all([network.add_subnet(NetworkSubnet(ip_range=None, type="cloud", network_zone="us-east"))])
    wait_all([network.change_protection(delete=False)])
    assert len(client.networks.get_by_id(network.id).subnets) == 2

    # Firewall applied by label selector
    fw_response = client.firewalls.create(
        name="py-fw",
        rules=[FirewallRule(direction="in", protocol="tcp", port="6443", source_ips=["0.0.0.0/0", "::/0"])],
        resources=[FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="hk8s.io/cluster=py"))],
        labels=labels,
    )
    wait_all(fw_response.actions)
    firewall = fw_response.firewall

    # Placement group
    pg = client.placement_groups.create(name="py-pg", type="spread", labels=labels).placement_group

    # Servers in the network, the placement group, with the key
    servers = []
    for i in range(3):
        created = client.servers.create(
            name=f"py-{i}",
            server_type=ServerType(name="cax21"),
            image=Image(name="debian-12"),
            location=Location(name="nbg1"),
            networks=[network],
            placement_group=PlacementGroup(id=pg.id),
            ssh_keys=[key],
            user_data="#cloud-config\n",
            labels={**labels, "role": "cp"},
        )
        assert created.root_password is None
        wait_all([created.action, *created.next_actions])
        servers.append(created.server)
    server = client.servers.get_by_id(servers[0].id)
    assert server.status == Server.STATUS_RUNNING
    assert server.private_net[0].ip.startswith("10.0.1.")
    assert server.public_net.ipv4.ip.startswith("127.")
    assert server.public_net.firewalls[0].firewall.id == firewall.id
    assert server.placement_group.id == pg.id
    assert len(client.placement_groups.get_by_id(pg.id).servers) == 3
    assert {s.name for s in client.servers.get_all(label_selector="role=cp,hk8s.io/cluster in (py)")} == {"py-0", "py-1", "py-2"}

    # Server actions
    wait_all([server.power_off()])
    assert client.servers.get_by_id(server.id).status == Server.STATUS_OFF
    snapshot = server.create_image(description="py snapshot", labels={"hk8s.io/talos-version": TALOS})
    wait_all([snapshot.action])
    image = client.images.get_by_id(snapshot.image.id)
    assert image.status == "available" and image.architecture == "arm" and image.labels["hk8s.io/talos-version"] == TALOS
    image.update(description="renamed", labels={"kept": "yes"})
    assert client.images.get_by_id(image.id).description == "renamed"
    rescue = server.enable_rescue(type="linux64")
    assert rescue.root_password
    wait_all([rescue.action])
    wait_all([server.power_on()])
    wait_all([server.reboot(), ])
    wait_all([server.detach_from_network(network)])
    wait_all([server.attach_to_network(network, ip="10.0.1.200")])
    assert client.servers.get_by_id(server.id).private_net[0].ip == "10.0.1.200"
    server.update(name="py-0-renamed", labels={**labels, "role": "cp", "extra": "1"})
    assert client.servers.get_by_name("py-0-renamed").labels["extra"] == "1"
    actions = client.servers.get_actions_list(server).actions
    assert "create_server" in [a.command for a in actions]

    # Load balancer on the network, targets by label selector over private IPs
    lb_response = client.load_balancers.create(
        name="py-lb",
        load_balancer_type=LoadBalancerType(name="lb11"),
        location=Location(name="nbg1"),
        network=network,
        services=[
            LoadBalancerService(
                protocol="tcp",
                listen_port=6443,
                destination_port=6443,
                proxyprotocol=False,
                health_check=LoadBalancerHealthCheck(protocol="tcp", port=6443, interval=5, timeout=3, retries=3),
            )
        ],
        targets=[LoadBalancerTarget(type="label_selector", label_selector=LoadBalancerTargetLabelSelector(selector="role=cp"), use_private_ip=True)],
        labels=labels,
    )
    wait_all([lb_response.action])
    lb = client.load_balancers.get_by_id(lb_response.load_balancer.id)
    assert lb.public_net.ipv4.ip.startswith("127.") and lb.public_net.ipv4.ip != server.public_net.ipv4.ip
    assert lb.private_net[0].network.id == network.id
    matched = lb.targets[0].targets
    assert len(matched) == 3 and all(t.health_status[0].status == "healthy" for t in matched)
    wait_all([lb.add_service(LoadBalancerService(protocol="tcp", listen_port=50000, destination_port=50000, proxyprotocol=False,
                                                 health_check=LoadBalancerHealthCheck(protocol="tcp", port=50000, interval=5, timeout=3, retries=3)))])
    wait_all([lb.change_algorithm(algorithm=lb.algorithm.__class__(type="least_connections"))])
    assert len(client.load_balancers.get_by_id(lb.id).services) == 2

    # Listing by label finds everything; then delete in reverse order.
    assert [l.name for l in client.load_balancers.get_all(label_selector="hk8s.io/cluster=py")] == ["py-lb"]
    assert [f.name for f in client.firewalls.get_all(label_selector="hk8s.io/cluster=py")] == ["py-fw"]
    # Deleting a network detaches what is attached to it ("Attached resources will be detached
    # automatically").
    assert network.delete()
    assert client.load_balancers.get_by_id(lb.id).private_net == []
    assert all(s.private_net == [] for s in client.servers.get_all(label_selector="hk8s.io/cluster=py"))

    wait_all([lb.delete().action])
    for s in client.servers.get_all(label_selector="hk8s.io/cluster=py"):
        wait_all([s.delete()])
    wait_all(firewall.remove_from_resources([FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="hk8s.io/cluster=py"))]))
    assert firewall.delete()
    assert pg.delete()
    assert key.delete()
    assert client.images.get_by_id(image.id).delete()
    for kind in (client.servers, client.networks, client.firewalls, client.load_balancers, client.placement_groups, client.ssh_keys):
        assert kind.get_all(label_selector="hk8s.io/cluster=py") == []


def test_get_all_follows_pagination(client):
    for i in range(55):
        client.servers.create(name=f"many-{i}", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"), start_after_create=False)
    servers = client.servers.get_all()
    assert len(servers) == 55
    assert len({s.public_net.ipv4.ip for s in servers}) == 55
    page = client.servers.get_list(page=2, per_page=50)
    assert len(page.servers) == 5
    assert page.meta.pagination.previous_page == 1 and page.meta.pagination.next_page is None


def test_volume_lifecycle(client):
    """Volumes through the client's own models: create in a location and for a server (with the
    attach in next_actions), list by label and status, update, attach/detach/resize/protection,
    the refusal to delete an attached volume, and the server's `volumes` field."""
    server_created = client.servers.create(
        name="vol-host", server_type=ServerType(name="cx23"), image=Image(name="debian-12"), location=Location(name="fsn1")
    )
    wait_all([server_created.action, *server_created.next_actions])
    server = client.servers.get_by_id(server_created.server.id)

    loose = client.volumes.create(size=10, name="loose", location=Location(name="fsn1"), labels={"hk8s.io/cluster": "py"}, format="xfs")
    assert loose.volume.status == "creating" or loose.volume.status == "available"
    assert loose.next_actions == []
    wait_all([loose.action])
    bound = client.volumes.create(size=20, name="bound", server=server, automount=False, labels={"hk8s.io/cluster": "py"})
    assert [a.command for a in bound.next_actions] == ["attach_volume"]
    wait_all([bound.action, *bound.next_actions])

    volumes = client.volumes.get_all(label_selector="hk8s.io/cluster=py", status=["available"])
    assert sorted(v.name for v in volumes) == ["bound", "loose"]
    got = client.volumes.get_by_name("bound")
    assert got.server.id == server.id and got.size == 20 and got.location.name == "fsn1"
    assert got.linux_device == f"/dev/disk/by-id/scsi-0HC_Volume_{got.id}"
    assert [v.id for v in client.servers.get_by_id(server.id).volumes] == [got.id]

    with pytest.raises(APIException) as excinfo:
        client.volumes.delete(got)
    assert excinfo.value.code == "service_error"

    wait_all([got.detach()])
    wait_all([got.resize(30)])
    wait_all([got.change_protection(delete=True)])
    updated = got.update(name="bound-1", labels={"tier": "db"})
    assert updated.name == "bound-1" and updated.labels == {"tier": "db"}
    got = client.volumes.get_by_id(got.id)
    assert got.server is None and got.size == 30 and got.protection["delete"] is True
    with pytest.raises(APIException) as excinfo:
        got.delete()
    assert excinfo.value.code == "protected"
    wait_all([got.change_protection(delete=False)])
    assert [a.command for a in got.get_actions()] == [
        "create_volume", "attach_volume", "detach_volume", "resize_volume", "change_protection", "change_protection"
    ]
    loose_volume = client.volumes.get_by_id(loose.volume.id)
    wait_all([loose_volume.attach(server, automount=False)])
    assert client.volumes.get_by_id(loose_volume.id).server.id == server.id
    wait_all([loose_volume.detach()])
    assert got.delete() is True and loose_volume.delete() is True
    assert client.volumes.get_all() == []
