"""Issue-level acceptance on real data (skipped with a reason when the files are absent)."""

from __future__ import annotations

import pytest

from conftest import REAL_DATA
from overtone.config import TrainConfig
from overtone.engine import train

MNIST_T10K = REAL_DATA / "mnist-t10k" / "t10k-images-idx3-ubyte.gz"


@pytest.mark.skipif(
    not MNIST_T10K.exists(),
    reason=f"real MNIST t10k not found at {MNIST_T10K} "
    "(set OVERTONE_DATA to the folder holding mnist-t10k/)",
)
def test_default_mlp_reaches_96_percent_on_mnist_t10k(tmp_path):
    """`overtone train --model mlp --data mnist-t10k --epochs 15` with every other default."""
    config = TrainConfig(
        model="mlp",
        data="mnist-t10k",
        epochs=15,
        data_dir=str(REAL_DATA),
        out=str(tmp_path / "run"),
    )
    result = train(config, progress=False)
    assert result.final["test_acc"] >= 0.96, result.final
