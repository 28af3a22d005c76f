"""Write tests/data/run-v0.1: an interrupted run of overtone 0.1 (moons MLP, 4 epochs, stopped
in epoch 3), for the test that a run directory from before 0.2 still resumes exactly.

Made with the 0.1 sources on the path (``git archive aece4e5 src | tar -x -C /tmp/old``):
``PYTHONPATH=/tmp/old/src python tests/data/make_run_v0_1.py tests/data/run-v0.1``.
"""

import contextlib
import shutil
import sys
from pathlib import Path

from overtone.callbacks import Callback
from overtone.config import TrainConfig
from overtone.engine import train  # the 0.1 engine module


class Stop(Callback):
    def after_optimizer_step(self, trainer):
        if trainer.epoch == 3 and trainer.step == 2:
            raise KeyboardInterrupt


out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
config = TrainConfig(
    model="mlp", data="moons", epochs=4, batch_size=32, lr=1e-2, optimizer="sgd",
    optim_args={"momentum": 0.9}, model_args={"widths": [16, 16], "dropout": 0.1,
    "batch_norm": True}, data_args={"n_samples": 300}, seed=5, device="cpu", out="run-v0.1",
)  # fmt: skip
with contextlib.suppress(KeyboardInterrupt):
    train(config, callbacks=[Stop()], progress=False)
shutil.move("run-v0.1", out)
