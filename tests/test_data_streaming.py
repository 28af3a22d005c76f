"""The streaming path: splits read one example at a time through a DataLoader with worker
processes train exactly like the same data in memory, resume exactly, and report a bad
example's error on one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _data_helpers import TensorSamples, as_samples
from _interrupt import StopAt
from overtone._io import read_jsonl
from overtone.config import TrainConfig
from overtone.data import DataError, DatasetSplits, SampleSplit, get_dataset
from overtone.engine import TIME_KEYS, RunInterrupted, resume, train
from overtone.engine.distributed import Topology
from overtone.engine.loading import BatchReader


def _without_times(history):
    return [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in history]


# dropout draws from the global RNG between batches: the loader must not draw from it
CONFIG = {
    "model": "mlp", "data": "digits", "epochs": 3, "batch_size": 100, "lr": 1e-2,
    "model_args": {"widths": [32], "dropout": 0.2}, "device": "cpu", "seed": 5,
}  # fmt: skip


def _config(tmp_path, name: str, **changes) -> TrainConfig:
    return TrainConfig.from_dict({**CONFIG, "out": str(tmp_path / name), **changes})


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    return get_dataset("digits")


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_training_equals_in_memory_training(tmp_path, digits, workers):
    memory = train(_config(tmp_path, "memory"), data=digits, progress=False)
    streamed = train(
        _config(tmp_path, "streamed", data_workers=workers), data=as_samples(digits), progress=False
    )
    assert _without_times(streamed.history) == _without_times(memory.history)
    assert streamed.final["test_acc"] == memory.final["test_acc"]
    for key, value in memory.model.state_dict().items():
        assert torch.equal(streamed.model.state_dict()[key], value), key


def test_resume_with_two_workers_equals_the_uninterrupted_run(tmp_path, digits):
    """Per-sample random draws in two workers, interrupted mid-epoch and resumed."""
    data = as_samples(digits, noise=0.1)
    config = _config(tmp_path, "full", data_workers=2)
    full = train(config, data=data, progress=False)
    with pytest.raises(RunInterrupted):
        train(config.replace(out=str(tmp_path / "cut")), data=data, progress=False,
              callbacks=[StopAt(epoch=2, step=4)])  # fmt: skip
    assert len(read_jsonl(tmp_path / "cut" / "metrics.jsonl")) == 1
    # resumed with the examples read in the training process: the same draws
    resumed = resume(tmp_path / "cut", data=data, progress=False, overrides={"data_workers": 0})
    assert _without_times(resumed.history) == _without_times(full.history)
    assert resumed.final["test_acc"] == full.final["test_acc"]
    # the noise is real: another seed of the same data reads other examples
    other = train(config.replace(out=str(tmp_path / "other"), seed=6), data=data, progress=False)
    assert other.history[0]["train_loss"] != full.history[0]["train_loss"]


def test_per_sample_draws_follow_seed_epoch_and_batch_not_the_workers(digits):
    split = as_samples(digits, noise=1.0).train
    batches = list(torch.arange(40).split(8))
    cpu = torch.device("cpu")
    readers = {w: BatchReader(Topology(0, 1, 0), cpu, w, seed=1, splits=[split]) for w in (0, 2)}

    def read(workers: int, epoch: int) -> list[torch.Tensor]:
        return [x for x, _, _ in readers[workers].train(split, batches, epoch)]

    torch.manual_seed(123)
    first = read(0, epoch=1)
    assert torch.equal(torch.rand(3), torch.manual_seed(123) and torch.rand(3))  # untouched
    for again in (read(0, epoch=1), read(2, epoch=1), read(2, epoch=1)):  # workers persist
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(read(2, epoch=2)[0], first[0])
    assert not torch.equal(first[1] - first[0], torch.zeros_like(first[0]))  # batches differ
    for reader in readers.values():
        reader.close()


def test_each_process_reads_its_share_of_every_batch(digits):
    split = as_samples(digits).train
    batches = [torch.tensor([5, 1, 9, 3, 7]), torch.tensor([2, 8])]
    cpu = torch.device("cpu")
    for rank in (0, 1):
        reader = BatchReader(Topology(rank, 2, rank), cpu, workers=0, seed=0, splits=[split])
        loaded = list(reader.train(split, batches, epoch=1))
        for (x, y, size), batch in zip(loaded, batches, strict=True):
            mine = batch[rank::2]
            assert size == len(batch)
            assert torch.equal(x, digits.train.x[mine]) and torch.equal(y, digits.train.y[mine])
        shares = list(reader.evaluate(split, 4))
        assert torch.equal(torch.cat([y for _, y in shares]), digits.train.y[rank::2])


def test_a_bad_example_in_a_worker_is_one_line_naming_it(tmp_path, digits):
    data = as_samples(digits)
    data.train = SampleSplit(TensorSamples(digits.train.x, digits.train.y, bad=17))
    with pytest.raises(DataError) as caught:
        train(_config(tmp_path, "bad", data_workers=2, epochs=1), data=data, progress=False)
    assert str(caught.value) == "example 17: cannot be decoded"


def test_a_sample_split_needs_a_map_style_data_set_with_matching_targets():
    with pytest.raises(DataError, match="map-style data set"):
        SampleSplit(iter([1, 2]))
    with pytest.raises(DataError, match="disagree in length: 3 vs 2"):
        SampleSplit(TensorSamples(torch.zeros(3, 2), torch.zeros(3)), targets=torch.zeros(2))


def test_plots_of_2d_data_read_a_sample_split(tmp_path):
    """The decision-boundary plot (report, demo) of 2-D data held as a SampleSplit."""
    from overtone import viz
    from overtone.data import split_tensors
    from overtone.models import build_mlp

    data = get_dataset("moons")
    split = as_samples(data).test
    x, y = split_tensors(split)
    assert torch.equal(x, data.test.x) and torch.equal(y, data.test.y)
    model = build_mlp(data.info, widths=[8])
    path = viz.plot_decision_boundaries({"mlp": model}, split, tmp_path / "b.png")
    assert path.stat().st_size > 0


def test_a_worker_error_keeps_its_whole_message():
    from overtone.engine.loading import _worker_message

    message = "img.png: cannot be read\nsecond line: details"
    wrapped = (
        "Caught DataError in DataLoader worker process 1.\nOriginal Traceback (most recent call "
        'last):\n  File "x.py", line 3, in f\n    raise DataError(m)\n'
        f"overtone.data.containers.DataError: {message}\n"
    )
    assert _worker_message(wrapped) == message
    assert _worker_message(message) == message


def test_workers_send_batches_as_arrays_and_keep_every_dtype():
    """Batches cross from a worker as numpy arrays (no shared-memory handles); labels given
    as Python ints are stacked; bfloat16, which numpy lacks, stays a tensor."""
    from overtone.engine.loading import _stack_as_arrays

    x, y = _stack_as_arrays([(torch.ones(2), 1), (torch.zeros(2), 0)])
    assert isinstance(x, np.ndarray) and x.shape == (2, 2) and y.tolist() == [1, 0]
    (half,) = _stack_as_arrays([(torch.ones(3, dtype=torch.bfloat16),)] * 2)
    assert isinstance(half, torch.Tensor) and half.dtype == torch.bfloat16
