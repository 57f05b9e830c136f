"""Import Keras pinned to the TensorFlow backend (the only way this package imports Keras)."""

from __future__ import annotations

import os
from typing import Any


def keras() -> Any:
    """The ``keras`` module, running on TensorFlow.

    Keras 3 chooses its backend once, at import, from ``KERAS_BACKEND`` (or ~/.keras/keras.json);
    this sets it to ``tensorflow`` first and refuses to go on if Keras was already imported with
    another backend in this process.
    """
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras as k

    if k.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Keras was imported with the {k.backend.backend()!r} backend before greenbench's TensorFlow "
            f"backend; run it in its own process (greenbench's runner does) or set KERAS_BACKEND=tensorflow"
        )
    return k
