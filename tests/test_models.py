"""Backbones through the registry, and the LightningModule that wraps them."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from tsr.data.gtsrb import Gtsrb
from tsr.data.preprocessing import channel_stats, preprocess
from tsr.errors import ConfigError
from tsr.models import SignClassifier, create_model, list_models


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_model_gives_logits(name: str, channels: int) -> None:
    model = create_model(name, in_channels=channels, num_classes=43)
    assert model(torch.randn(4, channels, 32, 32)).shape == (4, 43)


def test_lenet_is_the_seed_variant() -> None:
    model = create_model("lenet", in_channels=1, num_classes=43)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [6, 16]
    assert [(f.in_features, f.out_features) for f in fcs] == [(400, 200), (200, 84), (84, 43)]


def test_registry_errors_list_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"registered models: .*lenet"):
        create_model("alexnet", in_channels=1, num_classes=43)
    with pytest.raises(ConfigError, match=r"no option.*widht.*valid: .*dropout"):
        create_model("lenet", in_channels=1, num_classes=43, widht=3)
    with pytest.raises(ConfigError, match="activation"):
        create_model("lenet", in_channels=1, num_classes=43, activation="swish")
    with pytest.raises(ConfigError, match="dropout"):
        create_model("lenet", in_channels=1, num_classes=43, dropout=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": {"name": "adagrad", "lr": 1e-3}}, "valid choices: adam, adamw"),
        ({"optimizer": {"name": "adam", "lr": -1}}, "lr=-1 must be a number > 0"),
        ({"scheduler": {"name": "warmup"}}, "valid choices: none, cosine"),
    ],
)
def test_module_config_errors(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        SignClassifier(**kwargs)


def _real_batch(gtsrb: Gtsrb, n: int = 256):
    idx = torch.randperm(len(gtsrb.train), generator=torch.Generator().manual_seed(0))[:n].numpy()
    images = preprocess(gtsrb.train.images[idx], "gray")
    return (
        images,
        torch.from_numpy(images).permute(0, 3, 1, 2),
        torch.from_numpy(gtsrb.train.labels[idx]),
    )


def test_module_normalizes_uint8_with_training_stats(gtsrb: Gtsrb) -> None:
    array, images, _ = _real_batch(gtsrb)
    module = SignClassifier(in_channels=1)
    module.set_input_stats(*channel_stats(array))
    normalized = module.normalize(images)
    assert abs(normalized.mean().item()) < 1e-4
    assert abs(normalized.std().item() - 1) < 1e-2


def test_few_steps_decrease_the_loss(gtsrb: Gtsrb) -> None:
    torch.manual_seed(0)
    array, images, labels = _real_batch(gtsrb)
    module = SignClassifier(
        in_channels=1, backbone_options={"dropout": 0.0}, optimizer={"name": "adam", "lr": 3e-3}
    )
    module.set_input_stats(*channel_stats(array))
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(module(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip(gtsrb: Gtsrb, tmp_path: Path) -> None:
    array, images, labels = _real_batch(gtsrb, 64)
    module = SignClassifier(
        in_channels=1, backbone_options={"dropout": 0.2}, class_names=["a"] * 43
    )
    module.set_input_stats(*channel_stats(array))
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    loader = torch.utils.data.DataLoader(list(zip(images, labels, strict=True)), batch_size=32)
    trainer.fit(module, loader)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    restored = SignClassifier.load_from_checkpoint(path)
    module.eval()
    restored.eval()
    torch.testing.assert_close(restored(images), module(images))
    assert restored.hparams.backbone_options == {"dropout": 0.2}
    torch.testing.assert_close(restored.input_std, module.input_std)
