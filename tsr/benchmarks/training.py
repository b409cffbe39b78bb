"""Training throughput: tsr's full Lightning loop against a minimal plain-PyTorch loop on
the same model, data and batch size, and epoch time with jitter on and off.

The plain loop is what a researcher would write by hand: the training images as one
in-memory uint8 tensor, a random permutation per epoch, index a batch, forward (the same
module, normalisation included), cross-entropy, backward, optimiser step. No data loader,
no metrics, no hooks. tsr's loop runs exactly what `python -m tsr.train` runs (data
module, loader, metrics, logging), minus checkpoints, loggers and validation.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf, open_dict

from tsr.benchmarks.timing import synchronize
from tsr.config.devices import resolve_device
from tsr.models.optim import build_optimizer
from tsr.training.run import build


@dataclass
class Throughput:
    images_per_s: float
    steps: int
    batch_size: int


class StepWindowTimer(L.Callback):
    """Times optimiser steps `warmup + 1 .. warmup + steps`, then stops the fit."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.start: float | None = None
        self.seconds: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is not None and trainer.global_step == self.warmup + self.steps:
            synchronize(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            trainer.should_stop = True


def bench_config(cfg: DictConfig, **trainer_overrides: Any) -> DictConfig:
    """`cfg` stripped of everything a timing run should not pay for."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.callbacks = {}
        cfg.logger = {}
        cfg.test = False
        cfg.trainer.enable_progress_bar = False
        cfg.trainer.enable_model_summary = False
        cfg.trainer.enable_checkpointing = False
        cfg.trainer.num_sanity_val_steps = 0
        cfg.trainer.limit_val_batches = 0
        cfg.trainer.plugins = None
        for key, value in trainer_overrides.items():
            cfg.trainer[key] = value
    return cfg


def prepared(cfg: DictConfig):
    """Data module (set up), model and trainer for `cfg`."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model.set_input_stats(datamodule.mean, datamodule.std)
    return datamodule, model, trainer


def lightning_throughput(cfg: DictConfig, warmup: int, steps: int) -> Throughput:
    cfg = bench_config(cfg, max_steps=warmup + steps, max_epochs=-1)
    timer = StepWindowTimer(warmup, steps)
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build(cfg, callbacks=[timer])
    trainer.fit(model, datamodule=datamodule)
    if timer.seconds is None:
        raise RuntimeError(f"the epoch ended before {warmup + steps} steps; use fewer steps")
    return Throughput(steps * datamodule.batch_size / timer.seconds, steps, datamodule.batch_size)


def plain_throughput(cfg: DictConfig, warmup: int, steps: int) -> Throughput:
    """The hand-written loop; with `trainer.precision=bf16-mixed` the forward pass and the
    loss run under bf16 autocast and the backward pass outside it, as Lightning does."""
    datamodule, model, _ = prepared(bench_config(cfg))
    device = resolve_device(cfg.trainer.get("accelerator"), "trainer.accelerator")
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=cfg.trainer.precision == "bf16-mixed"
    )
    model = model.to(device).train()
    optimizer = build_optimizer(model.parameters(), model.optimizer_config)
    images = torch.from_numpy(datamodule.train_set.images).permute(0, 3, 1, 2).to(device)
    labels = torch.from_numpy(datamodule.train_set.labels).to(device)
    batch = datamodule.batch_size
    order = torch.randperm(len(labels), device=device)
    if (warmup + steps) * batch > len(labels):
        raise RuntimeError(f"{warmup + steps} steps of {batch} exceed one epoch; use fewer")
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            synchronize(device)
            start = time.perf_counter()
        index = order[step * batch : (step + 1) * batch]
        with autocast:
            loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return Throughput(steps * batch / (time.perf_counter() - start), steps, batch)


class _BareModule(L.LightningModule):
    """Lightning with nothing of tsr's: the same network (normalisation included) and
    optimiser, cross-entropy, no metrics, no hooks; fed from in-memory tensors."""

    def __init__(self, network: torch.nn.Module, optimizer_config) -> None:
        super().__init__()
        self.network = network
        self.optimizer_config = optimizer_config

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(self.network(images), labels)

    def configure_optimizers(self):
        return build_optimizer(self.parameters(), self.optimizer_config)


class _TensorBatches(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]):
        index = torch.as_tensor(indices)
        return self.images[index], self.labels[index]


def bare_lightning_throughput(cfg: DictConfig, warmup: int, steps: int) -> Throughput:
    """Lightning's own floor: `trainer.fit` of a bare LightningModule around the same
    network, batches indexed from one in-memory tensor as in the plain loop."""
    datamodule, model, _ = prepared(bench_config(cfg))
    cfg = bench_config(cfg, max_steps=warmup + steps, max_epochs=-1)
    timer = StepWindowTimer(warmup, steps)
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    options.pop("_target_")
    trainer = L.Trainer(**options, callbacks=[timer], logger=False)
    images = torch.from_numpy(datamodule.train_set.images).permute(0, 3, 1, 2)
    labels = torch.from_numpy(datamodule.train_set.labels)
    loader = torch.utils.data.DataLoader(
        _TensorBatches(images, labels),
        batch_size=datamodule.batch_size,
        shuffle=True,
        collate_fn=lambda batch: batch,
    )
    trainer.fit(_BareModule(model, model.optimizer_config), loader)
    if timer.seconds is None:
        raise RuntimeError(f"the epoch ended before {warmup + steps} steps; use fewer steps")
    return Throughput(steps * datamodule.batch_size / timer.seconds, steps, datamodule.batch_size)


def epoch_seconds(cfg: DictConfig) -> float:
    """Wall time of one full training epoch in tsr's loop (no validation)."""
    cfg = bench_config(cfg, max_epochs=1)
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    return time.perf_counter() - start
