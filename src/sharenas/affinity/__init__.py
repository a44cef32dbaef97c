"""Which tasks help which: inter-task affinity measured during one hard-sharing training (TAG's
lookahead affinity, Fifty et al., NeurIPS 2021, and per-stage gradient cosines), and task groups
read from it."""

from sharenas.affinity.groups import adjusted_rand_index, group_tasks
from sharenas.affinity.lookahead import AffinityStep

__all__ = ["AffinityStep", "adjusted_rand_index", "group_tasks"]
