"""The benchmark's targets and its Markdown report."""

from __future__ import annotations

from typing import Any

# The network the multiscale targets read: the 108-108 multi-scale ConvNet as users train it.
MULTISCALE = "multiscale"

# (name, how to read it from the results, comparison, threshold). ("model", name, key):
# the model's row in the precision it trains in (`trainer.precision=auto` on that host).
TARGETS = (
    ("tsr loop >= 0.95 x plain loop (lenet)", ("model", "lenet", "tsr_over_plain"), ">=", 0.95),
    (
        f"tsr loop >= 0.95 x plain loop ({MULTISCALE})",
        ("model", MULTISCALE, "tsr_over_plain"),
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
        f"{MULTISCALE} training >= 60 % of the conv peak of its precision",
        ("model", MULTISCALE, "fraction_of_peak"),
        ">=",
        0.60,
    ),
    (
        f"{MULTISCALE} training in bf16 >= 2 x fp32 (where auto picks bf16)",
        ("bf16", MULTISCALE, "bf16_over_fp32"),
        ">=",
        2.0,
    ),
    ("training run with workers <= 2 GiB (PSS)", ("memory", "peak_pss_mib"), "<=", 2048.0),
)


def _row(results: dict[str, Any], model: str) -> dict[str, Any] | None:
    return next((m for m in results.get("models", []) if m["model"] == model), None)


def _lookup(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    if path[0] in ("model", "bf16"):
        row = _row(results, path[1])
        if row is None:
            return None
        if path[0] == "bf16":  # a bf16 target means nothing where fp32 is the choice
            return row.get(path[2]) if row.get("precision") == "bf16-mixed" else None
        return row["precisions"].get(row["precision"], {}).get(path[2])
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


def _precision_name(precision: str) -> str:
    return {"32-true": "fp32", "bf16-mixed": "bf16"}.get(precision, precision)


def _cpu_id(m: dict[str, Any]) -> str:
    """`AuthenticAMD family 25 model 17, ` where the results record it (since 2026-12-07)."""
    if m.get("gpu") or not m.get("cpu_family"):
        return ""
    return f"{m.get('cpu_vendor')} family {m['cpu_family']} model {m.get('cpu_model')}, "


def markdown_report(results: dict[str, Any]) -> str:
    m = results["machine"]
    peak = results["peak"]
    features = ", ".join(k for k, v in m.get("cpu_features", {}).items() if v) or "none"
    lines = [
        f"Benchmark of {results['date']} on {m.get('gpu') or m['cpu']} "
        f"({_cpu_id(m)}{m['cpu_count']} CPU cores, {m['torch_threads']} torch threads; "
        f"CPU features: {features})",
        "",
        f"Convolution peak {_g(peak['conv_flops'])} GFLOP/s fp32, "
        f"{_g(peak['conv_flops_bf16'])} GFLOP/s bf16 ({peak['bf16_over_fp32']:.2f}x); "
        f"matmul {_g(peak['matmul_flops'])} fp32, {_g(peak['matmul_flops_bf16'])} bf16.",
        f"`trainer.precision=auto` here: **{_precision_name(results['precision'])}** "
        f"({results['precision_reason']}); the targets read each model's rows in the "
        "precision auto trains it in (marked *).",
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
        "| model | precision | params | MACs/img | plain img/s | tsr img/s | tsr/plain "
        "| GFLOP/s | of its peak | latency b=1 | batched img/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.get("models", []):
        for precision, p in r["precisions"].items():
            mark = " *" if precision == r.get("precision") else ""
            lines.append(
                f"| {r['model']} | {_precision_name(precision)}{mark} | {r['parameters']:,} | "
                f"{r['macs'] / 1e6:.1f} M | {p['plain_images_per_s']:,.0f} | "
                f"{p['tsr_images_per_s']:,.0f} | {p['tsr_over_plain']:.2f} | "
                f"{_g(p['achieved_flops'])} | {p['fraction_of_peak']:.0%} | "
                f"{p['latency_ms']:.2f} ms | {p['batched_images_per_s']:,.0f} |"
            )
    for r in results.get("models", []):
        for precision, p in r["precisions"].items():
            if "bare_lightning_over_plain" in p:
                lines.append(
                    f"\nLightning's own floor, {r['model']} {_precision_name(precision)}: a bare "
                    "LightningModule (same network and optimiser, in-memory batches, no metrics) "
                    f"runs at {p['bare_lightning_over_plain']:.2f} x the plain loop "
                    f"({p['bare_lightning_images_per_s']:,.0f} img/s); tsr at "
                    f"{p['tsr_over_plain']:.2f}."
                )
    speedups = [r for r in results.get("models", []) if "bf16_over_fp32" in r]
    if speedups:
        lines += ["", "| model | bf16 / fp32 training | bf16 / fp32 inference (batched) |"]
        lines.append("|---|---|---|")
        lines += [
            f"| {r['model']} | {r['bf16_over_fp32']:.2f}x | {r['bf16_inference_over_fp32']:.2f}x |"
            for r in speedups
        ]
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
        if t["met"] is None and "bf16" in t["name"] and results["precision"] != "bf16-mixed":
            met = f"not applicable: fp32 here (bf16 conv peak {peak['bf16_over_fp32']:.2f}x fp32)"
        lines.append(f"| {t['name']} | {value} | {met} |")
    return "\n".join(lines) + "\n"
