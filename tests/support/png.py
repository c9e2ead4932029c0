"""Check that a screenshot shows something (not a blank or single-colour page)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def assert_not_blank(data: bytes, *, min_colors: int = 16) -> None:
    """Fail unless the PNG has real content: many colours and visible contrast."""
    with Image.open(io.BytesIO(data)) as picture:
        image = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    colors = np.unique(image[:: max(1, image.shape[0] // 50_000)], axis=0).shape[0]
    assert colors >= min_colors, f"screenshot looks blank ({colors} colours)"
    assert float(image.std()) > 8.0, "screenshot has no contrast"
