"""Reading IDX files (gzip-compressed or raw) and Keras-style ``.npz`` archives; numpy only.

The IDX format (LeCun): two zero bytes, a type code, the number of dimensions, then one
big-endian ``int32`` per dimension, then the data in C order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

import numpy as np

from greenbench.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> numpy dtype (big-endian where it matters).
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}


def decompress(raw: bytes, path: Path | str) -> bytes:
    """The IDX payload of a file's bytes: gunzipped when the bytes are gzip, else as they are.

    Decides by the gzip magic bytes, not the file name, so a raw file named ``.gz`` (or a
    compressed one without the suffix) still reads.
    """
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip file ({exc}); delete it and provide or fetch it again") from None


def parse_idx(payload: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a read-only array (a view of ``payload``; native byte order for uint8).

    Raises :class:`DataError` naming ``path`` for a bad magic number, an unknown type code or a
    size that does not match the header.
    """
    if len(payload) < 4:
        raise DataError(f"{path}: not an IDX file: only {len(payload)} bytes")
    zero0, zero1, code, ndim = payload[0], payload[1], payload[2], payload[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_TYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file: bad magic number 0x{payload[:4].hex()} "
            f"(expected 0x0000TTNN with type TT in {', '.join(f'{c:02x}' for c in IDX_TYPES)} and NN >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(payload)}")
    shape = tuple(int(d) for d in np.frombuffer(payload, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) != expected:
        raise DataError(
            f"{path}: IDX size mismatch: header declares shape {shape} of {dtype.name} "
            f"({expected} bytes with the header) but the data has {len(payload)} bytes"
        )
    arr = np.frombuffer(payload, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
        arr.flags.writeable = False
    return arr


def encode_idx(arr: np.ndarray) -> bytes:
    """The canonical IDX bytes of ``arr`` (inverse of :func:`parse_idx`).

    Used to verify arrays from an ``.npz`` against the published IDX payload hashes, and by
    tests to generate tiny IDX files.
    """
    arr = np.asarray(arr)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"dtype {arr.dtype} has no IDX type code")
    code = _CODES[native]
    dims = np.asarray(arr.shape, dtype=">u4").tobytes()
    data = np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    return bytes([0, 0, code, arr.ndim]) + dims + data


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an ``.npz`` file, loaded with ``allow_pickle=False`` (never unpickles).

    Raises :class:`DataError` for a file that is not an npz, lacks a key, or holds an object
    (pickled) array.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: npz lacks array(s) {', '.join(missing)}; it has {', '.join(npz.files) or 'none'} "
                    f"(expected {', '.join(keys)})"
                )
            out = {}
            for k in keys:
                try:
                    out[k] = npz[k]
                except ValueError as exc:  # object arrays need pickle, which is refused
                    raise DataError(
                        f"{path}: array {k!r} is a pickled object array, which greenbench refuses to load "
                        f"(allow_pickle=False): {exc}"
                    ) from None
            return out
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable npz archive ({exc})") from None
