"""The names of a run folder's files, in one place: the engine writes some of them (checkpoint,
best weights, history), :mod:`sharenas.runs.folder` owns the rest and every operation on a run
folder."""

CONFIG = "config.yaml"  # the resolved config
ARCH = "arch.json"  # the architecture: a hand-designed name or a searched genotype
INPUTS = "inputs.json"  # the task set and its fitted preprocessing
BEST = "best.pt"  # the delivered weights
CHECKPOINT = "checkpoint.pt"  # the last epoch's state, for --resume
HISTORY = "history.jsonl"  # one line per epoch
METRICS = "metrics.json"  # written last: the run is finished
LOCK = ".lock"  # held while a command uses the folder
ARCH_FORMAT = "sharenas-arch/1"  # the arch.json format
