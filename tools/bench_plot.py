"""Draws docs/bench/scale.png from docs/bench/scale.json (written by `cargo bench --bench
cluster_scale`): wall time and Hetzner requests against node count, ours against the latency
model's critical path and the hourly budget. Every figure comes from the JSON; nothing is computed
here but the target lines the JSON states.

Usage: python tools/bench_plot.py [scale.json] [scale.png]
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/bench/scale.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "docs/bench/scale.png"
    with open(src, encoding="utf-8") as f:
        report = json.load(f)
    sizes = report["sizes"]
    if not sizes:
        sys.exit(f"{src}: no sizes measured")
    nodes = [s["nodes"] for s in sizes]
    targets = report["targets"]

    def series(op: str, key: str) -> list:
        return [s["operations"][op][key] for s in sizes]

    fig, (ax_time, ax_req) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)

    colours = {"create": "C0", "scale_up": "C2", "upgrade": "C3", "destroy": "C4"}
    labels = {
        "create": "create",
        "scale_up": "scale up by 10",
        "upgrade": "Talos upgrade",
        "destroy": "destroy",
    }
    for op, colour in colours.items():
        ax_time.plot(nodes, series(op, "wall_s"), "o-", color=colour, label=f"{labels[op]}: ours")
        ax_time.plot(
            nodes,
            series(op, "critical_path_s"),
            "--",
            color=colour,
            alpha=0.6,
            label=f"{labels[op]}: critical path",
        )
    ratio = targets["create_over_critical_path"]
    ax_time.plot(
        nodes,
        [p * ratio for p in series("create", "critical_path_s")],
        ":",
        color="C0",
        alpha=0.6,
        label=f"create target ({ratio} × critical path)",
    )
    ax_time.set_xlabel("nodes (3 control planes + pool)")
    ax_time.set_ylabel(f"wall time, s (latency × {report['time_scale']})")
    ax_time.set_title("Wall time against the latency model's critical path")
    ax_time.set_yscale("log")
    ax_time.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7, ncol=2)

    create_req = series("create", "hetzner_requests")
    ax_req.plot(nodes, create_req, "o-", color="C0", label="create: ours")
    ccm = series("create", "ccm_hetzner_requests")
    ax_req.plot(
        nodes,
        [a + b for a, b in zip(create_req, ccm)],
        "o-",
        color="C1",
        alpha=0.7,
        label="create + cloud controller",
    )
    for op, colour in (("scale_up", "C2"), ("upgrade", "C3"), ("destroy", "C4")):
        ax_req.plot(nodes, series(op, "hetzner_requests"), "o-", color=colour, label=f"{labels[op]}: ours")
    ax_req.plot(nodes, series("refresh", "hetzner_requests"), "o-", color="C7", label="refresh: ours")
    fitted = report.get("create_requests_fit")
    if fitted:
        per_node = targets["hetzner_requests_per_node"]
        ax_req.plot(
            nodes,
            [fitted["constant"] + per_node * n for n in nodes],
            ":",
            color="C0",
            label=f"target: {per_node}/node + our constant ({fitted['constant']:.0f})",
        )
    budget = targets["hourly_budget"]
    ax_req.axhline(budget, color="k", linestyle="--", label=f"hourly budget ({budget})")
    ax_req.set_xlabel("nodes (3 control planes + pool)")
    ax_req.set_ylabel("Hetzner API requests (plan + apply)")
    ax_req.set_title("Hetzner requests against the hourly budget")
    ax_req.set_yscale("log")  # the budget is 20-500 times what an operation spends
    ax_req.grid(True, which="both", alpha=0.3)
    ax_req.legend(fontsize=7, loc="center right")

    fig.tight_layout()
    fig.savefig(dst)
    print(f"plot written to {dst}")
    print()
    print(markdown_table(report))


def markdown_table(report: dict) -> str:
    """The README's table of the numbers, straight from the JSON."""
    rows = [
        "| nodes | create (critical path) | scale up +10 | Talos upgrade | destroy | refresh "
        "| create requests (per node) | 429s | Talos / kube calls, create | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["sizes"]:
        ops = s["operations"]

        def timing(op: str) -> str:
            o = ops[op]
            return f"{o['wall_s']:.1f} s ({o['critical_path_s']:.1f} s, {o['ratio']:.2f} ×)"

        create = ops["create"]
        peak = max(o["peak_rss_kib"] for o in ops.values()) / 1024
        limited = sum(o["rate_limited"] for o in ops.values())
        rows.append(
            f"| {s['nodes']} | {timing('create')} | {timing('scale_up')} | {timing('upgrade')} "
            f"| {timing('destroy')} | {ops['refresh']['hetzner_requests']} requests, "
            f"{ops['refresh']['wall_s']:.1f} s "
            f"| {create['hetzner_requests']} ({create['hetzner_requests_per_node']:.2f}) "
            f"| {limited} | {create['talos_calls']} / {create['kube_calls']} | {peak:.1f} MiB |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
