"""What each dataset consists of: file names, verified checksums, class names, mirrors.

Checksums are SHA-256 of the *decompressed* IDX payload, so any container holding the same
bytes verifies: the canonical ``.gz`` from a mirror, a re-compressed copy (``gzip -9 -n``,
Debian's package), the raw IDX file, or an ``.npz`` holding the same arrays.

MNIST
    Payload SHA-256 and sizes as published in the project's dataset README. The canonical
    compressed files on the mirrors have these SHA-256 values (what a download gets):
    train-images 440fcabf..., train-labels 3552534a..., t10k-images 8d422c7b..., t10k-labels f7ae60f9...
    Keras' ``mnist.npz`` (same arrays, other container) has the file SHA-256 in
    :data:`MNIST_NPZ_SHA256`.

Fashion-MNIST
    Zalando publishes MD5 checksums of its canonical ``.gz`` files only
    (train-images 8d4fb7e6c68d591d4c3dfef9ec88bf0d, train-labels 25c81989df183df01b3e8a0aad5dffbe,
    t10k-images bef4ecab320f06d8554ea6380940ec79, t10k-labels bb300cfdad3c16e7a12a480ee83cd310).
    Debian's ``dataset-fashion-mnist`` package re-compresses the files (its ``.gz`` MD5s differ),
    so the payload hashes below were computed from the decompressed Debian files and cross-checked
    against the same values published independently in public code that derived them from
    archives matching Zalando's MD5s. The payload hash is what greenbench verifies, for every
    container alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
# Keys of the arrays inside a Keras-style ``.npz``, by role.
NPZ_KEYS = {"train_images": "x_train", "train_labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a dataset."""

    role: str  # one of ROLES
    filename: str  # canonical name, e.g. "train-images-idx3-ubyte.gz"
    payload_sha256: str  # SHA-256 of the decompressed IDX bytes
    payload_size: int  # bytes of the decompressed IDX file

    @property
    def stem(self) -> str:
        """The name without ``.gz``: ``train-images-idx3-ubyte``."""
        return self.filename[:-3] if self.filename.endswith(".gz") else self.filename

    def local_names(self) -> tuple[str, ...]:
        """File names accepted in a directory, in order of preference (gzip first, then raw IDX).

        Besides the canonical names, the dotted spelling some distributions use
        (``train-images.idx3-ubyte``) is accepted.
        """
        dotted = self.stem.replace("-idx", ".idx", 1)
        names = [f"{self.stem}.gz", self.stem, f"{dotted}.gz", dotted]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset greenbench knows how to find, download and verify."""

    name: str  # "mnist", "fashion-mnist"
    title: str  # "MNIST", "Fashion-MNIST"
    classes: tuple[str, ...]
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]  # base URLs ending with "/", tried in order
    npz_names: tuple[str, ...] = ()  # accepted npz file names in a directory
    npz_sha256: frozenset[str] = field(default_factory=frozenset)  # known SHA-256 of whole npz files
    system_dirs: tuple[str, ...] = ()  # read-only locations packaged by the OS

    def file(self, role: str) -> FileSpec:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)


MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    classes=tuple(str(d) for d in range(10)),
    files=(
        FileSpec("train_images", "train-images-idx3-ubyte.gz",
                 "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
        FileSpec("train_labels", "train-labels-idx1-ubyte.gz",
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
        FileSpec("test_images", "t10k-images-idx3-ubyte.gz",
                 "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
        FileSpec("test_labels", "t10k-labels-idx1-ubyte.gz",
                 "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    npz_names=("mnist.npz",),
    npz_sha256=frozenset({MNIST_NPZ_SHA256}),
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    files=(
        FileSpec("train_images", "train-images-idx3-ubyte.gz",
                 "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
        FileSpec("train_labels", "train-labels-idx1-ubyte.gz",
                 "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
        FileSpec("test_images", "t10k-images-idx3-ubyte.gz",
                 "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
        FileSpec("test_labels", "t10k-labels-idx1-ubyte.gz",
                 "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
    ),
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        # S3 website endpoints serve plain HTTP only; integrity comes from the payload SHA-256.
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    npz_names=("fashion-mnist.npz", "fashion_mnist.npz"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: apt-get install dataset-fashion-mnist
)

# name -> spec. Tests register tiny generated datasets here (monkeypatch.setitem).
DATASETS: dict[str, DatasetSpec] = {MNIST.name: MNIST, FASHION_MNIST.name: FASHION_MNIST}


def recognize(payload_sha256: str) -> tuple[str, str] | None:
    """``(dataset name, role)`` of a known payload hash, or ``None``."""
    for spec in DATASETS.values():
        for f in spec.files:
            if f.payload_sha256 == payload_sha256:
                return spec.name, f.role
    return None
