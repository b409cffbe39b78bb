"""A spatial-transformer front end (Jaderberg et al. 2015) for any backbone.

A small localisation network regresses an affine transform from the image;
the image is resampled with it before the backbone sees it, so the network
learns to centre, scale and de-rotate signs. Put it before any model with
`model.stn=true`. The last layer starts at zero with an identity bias, so
training begins from the untransformed image.

`feature_map_transformer` builds the same module for a backbone's feature maps (a
lighter localisation net sized for ~14x14 maps): Arcos-Garcia et al. 2018 (99.71 %)
put one transformer before each convolution stage, not only in front of the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsr.models.layers import make_activation


class SpatialTransformer(nn.Module):
    """Localisation net conv5 8 -> pool -> conv5 10 -> pool -> fc 32 -> fc 6 (affine);
    `localization` replaces the first part (anything that maps the input to `hidden`
    features, as `feature_map_transformer` does)."""

    def __init__(
        self,
        in_channels: int,
        image_size: int = 32,
        hidden: int = 32,
        activation: str = "relu",
        localization: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if localization is None:  # not `or`: an nn.Sequential's truth is its length
            side = ((image_size - 4) // 2 - 4) // 2
            localization = nn.Sequential(
                nn.Conv2d(in_channels, 8, 5),
                nn.MaxPool2d(2),
                make_activation(activation),
                nn.Conv2d(8, 10, 5),
                nn.MaxPool2d(2),
                make_activation(activation),
                nn.Flatten(),
                nn.Linear(10 * side * side, hidden),
                make_activation(activation),
            )
        self.localization = localization
        self.affine = nn.Linear(hidden, 6)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, 2, 3) affine matrices the localisation net predicts for x."""
        return self.affine(self.localization(x)).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(self.transform(x), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def feature_map_transformer(
    channels: int, side: int, hidden: int = 32, activation: str = "relu"
) -> SpatialTransformer:
    """A spatial transformer for `channels` feature maps of `side` x `side` pixels.

    Localisation net: pool 2 -> conv3 32 -> pool 2 -> fc `hidden`: on `multiscale`'s 108
    maps of 14x14 it adds 0.78 M multiply-adds per image (2.4 % of the 108-108 net's
    32.4 M) and 35 k weights (`SignClassifier.cost()`), but ~15 % more time per training
    step (resampling 108 maps and its backward; batch 128, one thread of a 2-core AMD EPYC,
    0.80 against 0.69 s, measured beside other work); the image transformer's 5x5 layers
    would leave no pixel of a 14x14 map. Maps under 10x10 fail the classifier's input-size
    check with its message (`out` kept >= 1 so that nothing zero-sized is built first).
    """
    out = max((side // 2 - 2) // 2, 1)
    localization = nn.Sequential(
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 32, 3),
        nn.MaxPool2d(2),
        make_activation(activation),
        nn.Flatten(),
        nn.Linear(32 * out * out, hidden),
        make_activation(activation),
    )
    return SpatialTransformer(channels, hidden=hidden, localization=localization)
