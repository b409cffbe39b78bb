"""The benchmark's targets and its Markdown report."""

from __future__ import annotations

from typing import Any

# (name, how to read it from the results, comparison, threshold)
TARGETS = (
    ("tsr loop >= 0.95 x plain loop (lenet)", ("model", "lenet", "tsr_over_plain"), ">=", 0.95),
    (
        "tsr loop >= 0.95 x plain loop (multiscale)",
        ("model", "multiscale_plain", "tsr_over_plain"),
        ">=",
        0.95,
    ),
    (
        "epoch with jitter <= 1.25 x without (lenet)",
        ("jitter", "jitter_over_no_jitter"),
        "<=",
        1.25,
    ),
    ("warm data load <= 1 s", ("data", "warm_load_s"), "<=", 1.0),
    ("cold preparation <= 15 s", ("data", "cold_preparation_s"), "<=", 15.0),
    (
        "multiscale training >= 60 % of conv peak",
        ("model", "multiscale_plain", "fraction_of_conv_peak"),
        ">=",
        0.60,
    ),
    ("training run with workers <= 2 GiB (PSS)", ("memory", "peak_pss_mib"), "<=", 2048.0),
)


def _lookup(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    if path[0] == "model":
        row = next((m for m in results.get("models", []) if m["model"] == path[1]), None)
        return None if row is None else row.get(path[2])
    section = results.get(path[0]) or {}
    return section.get(path[1])


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checked = []
    for name, path, op, threshold in TARGETS:
        value = _lookup(results, path)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        checked.append({"name": name, "value": value, "threshold": threshold, "met": met})
    return checked


def _g(value: float) -> str:
    return f"{value / 1e9:.1f}"


def markdown_report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Benchmark of {results['date']} on {m.get('gpu') or m['cpu']} "
        f"({m['cpu_count']} CPU cores, {m['torch_threads']} torch threads)",
        "",
        f"Convolution peak {_g(results['peak']['conv_flops'])} GFLOP/s "
        f"(matmul {_g(results['peak']['matmul_flops'])} GFLOP/s).",
        "",
    ]
    d = results.get("data", {})
    if d:
        lines += ["| data path | value |", "|---|---|"]
        if "cold_preparation_s" in d:
            lines.append(
                f"| cold preparation (archives to cache) | {d['cold_preparation_s']:.2f} s |"
            )
        lines.append(f"| warm load (cache to in-memory splits) | {d['warm_load_s']:.2f} s |")
        lines.append(
            "| training loader alone (jitter, rebalancing) | "
            f"{d['loader_images_per_s']:,.0f} img/s |"
        )
        lines.append("")
    lines += [
        "| model | params | MACs/img | plain img/s | tsr img/s | tsr/plain | GFLOP/s "
        "| of conv peak | latency b=1 | batched img/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.get("models", []):
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['macs'] / 1e6:.1f} M | "
            f"{r['plain_images_per_s']:,.0f} | {r['tsr_images_per_s']:,.0f} | "
            f"{r['tsr_over_plain']:.2f} | {_g(r['achieved_flops'])} | "
            f"{r['fraction_of_conv_peak']:.0%} | {r['latency_ms']:.2f} ms | "
            f"{r['batched_images_per_s']:,.0f} |"
        )
    j = results.get("jitter")
    if j:
        lines += [
            "",
            f"Epoch of {j['model']}: {j['epoch_s_jitter']:.2f} s with jitter, "
            f"{j['epoch_s_no_jitter']:.2f} s without ({j['jitter_over_no_jitter']:.2f}x); "
            f"{j['epoch_s_jitter_per_image']:.2f} s with the jitter as one albumentations call "
            "per image (data.jitter.batched=false).",
        ]
    mem = results.get("memory")
    if mem:
        lines.append(
            f"Training run with workers ({mem['processes']} processes): peak PSS "
            f"{mem['peak_pss_mib']:,.0f} MiB, main process RSS {mem['peak_main_rss_mib']:,.0f} MiB."
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in results.get("targets", []):
        value = "n/a" if t["value"] is None else f"{t['value']:.3g}"
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['name']} | {value} | {met} |")
    return "\n".join(lines) + "\n"
