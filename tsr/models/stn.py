"""A spatial-transformer front end (Jaderberg et al. 2015) for any backbone.

A small localisation network regresses an affine transform from the image;
the image is resampled with it before the backbone sees it, so the network
learns to centre, scale and de-rotate signs. Put it before any model with
`model.stn=true`. The last layer starts at zero with an identity bias, so
training begins from the untransformed image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsr.models.layers import make_activation


class SpatialTransformer(nn.Module):
    """Localisation net conv5 8 -> pool -> conv5 10 -> pool -> fc 32 -> fc 6 (affine)."""

    def __init__(
        self,
        in_channels: int,
        image_size: int = 32,
        hidden: int = 32,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        self.localization = nn.Sequential(
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
