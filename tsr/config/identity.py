"""What identifies a run's configuration: its resolved config without what names the run.

`resume=true` continues the run whose configuration equals this command's; `tsr.report`
groups the runs whose configuration is the same apart from the seed (the repeats of one
configuration). Both use `comparable`, so "the same configuration" means one thing.
"""

from __future__ import annotations

from typing import Any

# the keys that pick the random draws, not the configuration
SEED_KEYS = ("seed", "data.seed")


def _replace_in_strings(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {key: _replace_in_strings(value, old, new) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_in_strings(value, old, new) for value in node]
    return node.replace(old, new) if isinstance(node, str) and old else node


def comparable(
    config: dict[str, Any], without_seed: bool = False, without_locations: bool = False
) -> dict[str, Any]:
    """`config` without what names the run: its folder (also inside other paths such as
    the checkpoint folder), its TensorBoard version and the resume settings; with
    `without_seed`, the seeds too; with `without_locations`, where the data, the archive
    mirror and the logs are (runs of one configuration made from other folders or other
    machines: the archives' content is checked by SHA-256 wherever they are)."""
    config = _replace_in_strings(
        config, str((config.get("paths") or {}).get("output_dir") or ""), "<run>"
    )
    dropped = {"resume", "ckpt_path"} | ({"paths"} if without_locations else set())
    config = {key: value for key, value in config.items() if key not in dropped}
    config["paths"] = {k: v for k, v in (config.get("paths") or {}).items() if k != "output_dir"}
    if without_locations and isinstance(config.get("data"), dict):
        config["data"] = {
            k: v for k, v in config["data"].items() if k not in ("data_dir", "mirror")
        }
    logger_keys = {"version"} | ({"save_dir"} if without_locations else set())
    config["logger"] = {
        name: {k: v for k, v in node.items() if k not in logger_keys}
        if isinstance(node, dict)
        else node
        for name, node in (config.get("logger") or {}).items()
    }
    if without_seed:
        config.pop("seed", None)
        if isinstance(config.get("data"), dict):
            config["data"] = {k: v for k, v in config["data"].items() if k != "seed"}
    return config


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out
