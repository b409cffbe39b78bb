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
    with pytest.raises(ConfigError, match=r"unknown key 'widht'; valid keys: dropout"):
        create_model("lenet", in_channels=1, num_classes=43, widht=3)
    with pytest.raises(ConfigError, match="activation"):
        create_model("lenet", in_channels=1, num_classes=43, activation="swish")
    with pytest.raises(ConfigError, match="dropout"):
        create_model("lenet", in_channels=1, num_classes=43, dropout=1.0)
    with pytest.raises(ConfigError, match="valid choices: max, avg"):
        create_model("lenet", in_channels=1, num_classes=43, pool="median")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": {"name": "adagrad", "lr": 1e-3}}, "valid choices: adam, adamw"),
        ({"optimizer": {"name": "adam", "lr": -1}}, "lr=-1 must be a number > 0"),
        ({"scheduler": {"name": "warmup"}}, "valid choices: cosine, step"),
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


def _train_steps(module: SignClassifier, images, labels, steps: int) -> list[float]:
    """Adam 3e-3 on one batch: the training loss after each step."""
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(module(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# every backbone, and one behind the spatial-transformer front end
MODEL_CASES = [(name, False) for name in list_models()] + [("lenet", True)]
MODEL_IDS = [f"{name}{'+stn' if stn else ''}" for name, stn in MODEL_CASES]


@pytest.mark.parametrize(("name", "stn"), MODEL_CASES, ids=MODEL_IDS)
def test_few_steps_decrease_the_loss(gtsrb: Gtsrb, name: str, stn: bool) -> None:
    torch.manual_seed(0)
    array, images, labels = _real_batch(gtsrb, 64)
    module = SignClassifier(name, in_channels=1, backbone_options={"dropout": 0.0}, stn=stn)
    module.set_input_stats(*channel_stats(array))
    losses = _train_steps(module, images, labels, 40)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(("name", "stn"), MODEL_CASES, ids=MODEL_IDS)
def test_checkpoint_round_trip(gtsrb: Gtsrb, tmp_path: Path, name: str, stn: bool) -> None:
    array, images, labels = _real_batch(gtsrb, 64)
    module = SignClassifier(
        name, in_channels=1, backbone_options={"dropout": 0.2}, class_names=["a"] * 43, stn=stn
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
    assert restored.hparams.stn == stn
    torch.testing.assert_close(restored.input_std, module.input_std)


def test_lenet_classic_is_the_seed_keras_variant() -> None:
    model = create_model("lenet_classic", in_channels=1, num_classes=43)
    assert sum(p.numel() for p in model.parameters()) == 64_511  # as the seed reports
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_multiscale_feeds_both_stages_to_the_classifier() -> None:
    def first_linear(model: torch.nn.Module) -> torch.nn.Linear:
        return next(m for m in model.classifier if isinstance(m, torch.nn.Linear))

    model = create_model("multiscale", in_channels=1, num_classes=43)
    # 108 maps of 7x7 (stage 1 pooled again) + 108 maps of 5x5 (stage 2)
    assert first_linear(model).in_features == 108 * 7 * 7 + 108 * 5 * 5
    small = create_model("multiscale", in_channels=1, num_classes=43, stage1=38, stage2=64)
    assert first_linear(small).in_features == 38 * 7 * 7 + 64 * 5 * 5
    # feature_norm: batch norm over exactly those features, before the classifier
    normed = create_model("multiscale", in_channels=1, num_classes=43, feature_norm=True)
    assert isinstance(normed.classifier[0], torch.nn.BatchNorm1d)
    assert normed.classifier[0].num_features == first_linear(normed).in_features


def test_inception_modules_concatenate_four_branches() -> None:
    from tsr.models.inception import InceptionModule

    module = InceptionModule(32, 8, 8, 16, 4, 8, 8, activation="relu")
    assert module(torch.randn(2, 32, 16, 16)).shape == (2, 8 + 16 + 8 + 8, 16, 16)
    model = create_model("inception", in_channels=3, num_classes=43)
    assert isinstance(model.head[0], torch.nn.AdaptiveAvgPool2d)
    half = create_model("inception", in_channels=3, num_classes=43, width=0.5)
    assert sum(p.numel() for p in half.parameters()) < sum(p.numel() for p in model.parameters())


def test_resnet_downsamples_with_projection_shortcuts() -> None:
    from tsr.models.resnet import BasicBlock

    model = create_model("resnet", in_channels=1, num_classes=43, widths=[16, 32], blocks=[1, 2])
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3
    first = blocks[0]
    assert isinstance(first.shortcut[0], torch.nn.Conv2d) and first.shortcut[0].stride == (2, 2)
    assert isinstance(blocks[2].shortcut, torch.nn.Identity)  # same width, stride 1
    assert model.features(torch.randn(1, 1, 32, 32)).shape == (1, 32, 8, 8)
    with pytest.raises(ConfigError, match="same length"):
        create_model("resnet", in_channels=1, num_classes=43, widths=[16, 32], blocks=[1])


def test_spatial_transformer_starts_as_identity(gtsrb: Gtsrb) -> None:
    from tsr.models.stn import SpatialTransformer

    _, images, _ = _real_batch(gtsrb, 8)
    stn = SpatialTransformer(in_channels=1)
    x = images.float() / 255
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(8, 2, 3)
    torch.testing.assert_close(stn.transform(x), identity)
    torch.testing.assert_close(stn(x), x, atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match=r"model\.stn"):
        SignClassifier(stn="yes")


def test_feature_map_transformer_starts_as_identity_and_learns(gtsrb: Gtsrb) -> None:
    """`multiscale`'s feature_stn (a second transformer, on stage 1's maps): at initialisation
    the net computes what the same weights compute without it, then it trains on real images."""
    array, images, labels = _real_batch(gtsrb, 64)
    torch.manual_seed(0)
    narrow = {"stage1": 32, "stage2": 32}  # the recipe's 108-108 behaves alike, 5x slower
    plain = SignClassifier("multiscale", in_channels=1, stn=True, backbone_options=narrow).eval()
    plain.set_input_stats(*channel_stats(array))
    with_it = SignClassifier(
        "multiscale", in_channels=1, stn=True, backbone_options={**narrow, "feature_stn": True}
    ).eval()
    missing, unexpected = with_it.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and missing and all("feature_stn" in k for k in missing)
    with torch.no_grad():
        torch.testing.assert_close(with_it(images), plain(images), atol=1e-4, rtol=1e-4)
    with_it.train()
    losses = _train_steps(with_it, images, labels, 30)
    assert losses[-1] < 0.5 * losses[0]
    moved = with_it.backbone.feature_stn.affine.weight.abs().sum().item()
    assert moved > 0  # the transformer itself learns (its last layer starts at zero)


def test_cost_counts_parameters_and_macs() -> None:
    lenet = SignClassifier("lenet", in_channels=1).cost()
    # conv1 28*28*6*25 + conv2 10*10*16*6*25 + fc 400*200 + 200*84 + 84*43
    assert lenet["macs"] == 117_600 + 240_000 + 80_000 + 16_800 + 3_612
    assert lenet["parameters"] == 156 + 2_416 + 80_200 + 16_884 + 3_655
    with_stn = SignClassifier("lenet", in_channels=1, stn=True).cost()
    assert with_stn["macs"] > lenet["macs"] and with_stn["parameters"] > lenet["parameters"]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pooling_before_the_activation_is_exact(activation: str, dtype: torch.dtype) -> None:
    """Where the stages pool before activating (a quarter of the activation work), outputs
    and gradients equal activate-then-pool bit for bit, zeros (ties) included; GELU, which
    is not monotonic, keeps its order."""
    from tsr.models.layers import activation_and_pool, make_activation

    torch.manual_seed(0)
    x = torch.randn(4, 8, 28, 28, dtype=dtype)
    x = torch.where(torch.rand(x.shape) < 0.1, torch.zeros_like(x), x)
    x = x.contiguous(memory_format=torch.channels_last)
    layers = activation_and_pool(activation, torch.nn.MaxPool2d(2))
    assert isinstance(layers[0], torch.nn.MaxPool2d) == (activation != "gelu")
    reference = torch.nn.Sequential(make_activation(activation), torch.nn.MaxPool2d(2))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = reference(a), torch.nn.Sequential(*layers)(b)
    grad = torch.randn_like(out_a)
    out_a.backward(grad)
    out_b.backward(grad)
    assert torch.equal(out_a, out_b) and torch.equal(a.grad, b.grad)
