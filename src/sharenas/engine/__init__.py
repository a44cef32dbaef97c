"""The engine: the trainer (the one epoch/step loop of sharenas), the step contract a method
implements, evaluation, checkpoints, loss weighting, optimisers and data parallelism."""

from sharenas.engine.step import PlainStep, StepInfo, TrainingStep
from sharenas.engine.trainer import Trainer, TrainOutcome

__all__ = ["PlainStep", "StepInfo", "TrainOutcome", "Trainer", "TrainingStep"]
