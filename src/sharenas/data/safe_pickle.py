"""Reading pickled arrays without running code: an unpickler that builds numpy arrays, tuples,
lists, dicts and numbers, and refuses every other global a pickle could name (the way a pickle
runs code)."""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

from sharenas.errors import DatasetError

ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a file of arrays never does")


def load_arrays(handle: IO[bytes], what: str, encoding: str = "latin1") -> Any:
    """The object pickled in ``handle`` when it is made of arrays and containers only; a
    DatasetError naming ``what`` otherwise (nothing in the file is run)."""
    try:
        return _ArraysOnly(handle, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"{what}: not a pickle of arrays ({exc}); refused unread.") from None


def loads_arrays(data: bytes, what: str) -> Any:
    return load_arrays(io.BytesIO(data), what)
