"""Guards against damaged and hostile files, so the textbook can read and write files plainly.

``scratchcnn.py`` reads IDX files, pictures and model files, and writes model files;
each time it calls one function here, in one line, and this module refuses what
would otherwise crash late, fill the memory or leave a half-written file:

  data files    find_idx_file, open_idx (SHA256SUMS, unreadable or corrupt gzip),
                check_idx_size (a header declaring gigabytes, a gzip bomb),
                read_in_chunks, check_idx_complete (a truncated or padded file); for CIFAR-10
                find_cifar10_files and check_cifar10_sizes (a 1.5 GB sparse file);
                check_dataset_folder (--data-dir holding another data set than --dataset)
  pictures      read_picture_file (a picture declaring 60,000 x 60,000 pixels, in any format;
                EXIF orientation), check_png_size, reduce_by_blocks (resizing in bounded memory)
  model files   check_writable, atomic_write (a crash never leaves half a file),
                check_model_file (pickles, oversized members, shapes the architecture
                does not need: all from the zip directory and the .npy headers, before
                anything is read), check_finite_weights, model_file_errors

Every guard has its test in tests/test_bad_input.py, tests/test_data.py, tests/test_pictures.py
or tests/test_cli.py.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or does not match its partner."""


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated or not a ScratchCNN model."""


# =============================================================================
# Data files (IDX)
# =============================================================================

# The largest IDX file read_idx accepts: 1 GiB, 20 times MNIST's training images.
# A header can promise anything; we refuse to allocate more than this on its word.
MAX_IDX_BYTES = 2 ** 30


def find_idx_file(data_dir: Path, stem: str) -> Path:
    """The file ``stem`` in the folder ``data_dir``, gzipped or plain."""
    if not data_dir.is_dir():
        problem = f"{data_dir} is a file, not a folder" if data_dir.exists() else f"missing data folder {data_dir}"
        raise DataFileError(
            f"{problem}. Pass data_dir= (or --data-dir) pointing at a folder with the four IDX "
            f"files (the repository ships MNIST in data/mnist/, Fashion-MNIST in data/fashion-mnist/).")
    for candidate in (data_dir / (stem + ".gz"), data_dir / stem):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise DataFileError(f"{candidate} is a folder (or another special file), not a data file. "
                                f"Put the IDX file itself there.")
    raise DataFileError(
        f"missing data file: neither {data_dir / (stem + '.gz')} nor {data_dir / stem} exists. "
        f"Pass data_dir= (or --data-dir) pointing at a folder with the four IDX files, or, if "
        f"{data_dir} is the repository's own folder, restore it with `git checkout -- {data_dir}`.")


def read_sha256sums(sums_file: Path) -> dict[str, str]:
    """{file name: SHA-256} from a SHA256SUMS file in ``sha256sum``'s format ("<64 hex digits>  name")."""
    expected = {}
    for number, line in enumerate(sums_file.read_text(errors="replace").splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-fA-F]{64})\s+\*?(\S.*)", line.strip())
        if match is None and line.strip():
            raise DataFileError(
                f"{sums_file} line {number} is malformed: {line[:80]!r}. Each line must be a 64-digit "
                f"SHA-256 in hex, two spaces and a file name (what `sha256sum FILE` prints). Fix or "
                f"delete the line (or the file, to skip the check).")
        if match is not None:
            expected[match.group(2)] = match.group(1).lower()
    return expected


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file in hex, read in chunks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: Path) -> None:
    """Compare the SHA-256 of ``path`` with the SHA256SUMS beside it, if any (read in chunks)."""
    sums_file = path.parent / "SHA256SUMS"
    if not sums_file.is_file():
        return
    expected = read_sha256sums(sums_file)
    if path.name not in expected:
        return  # e.g. an un-gzipped copy: SHA256SUMS lists the .gz files only
    actual = file_sha256(path)
    if actual != expected[path.name]:
        raise DataFileError(
            f"checksum mismatch for {path}: SHA-256 is {actual}, but {sums_file} expects "
            f"{expected[path.name]}. The file is corrupt or was replaced; restore it with "
            f"`git checkout -- {path.name}` in {path.parent} (or copy a fresh one).")


# Folder names that say which data set a folder holds (a guess: a copy may be renamed).
DATASET_FOLDER_NAMES = {"mnist": {"mnist"}, "fashion-mnist": {"fashion-mnist", "fashion_mnist", "fashionmnist"},
                        "cifar10": {"cifar10", "cifar-10", "cifar-10-batches-bin"}}


def check_dataset_folder(dataset: str, data_dir, shipped_dirs: dict, names: dict) -> None:
    """Refuse a data folder that holds another data set than ``dataset`` says.

    MNIST and Fashion-MNIST have the same file names and shapes, so a mix-up would train
    on digits labelled as clothes without a word. The rule: the label files' SHA-256 are
    compared with each shipped data set's SHA256SUMS (``shipped_dirs``: name -> folder);
    a match with another data set is proof, and refused. Failing proof, a folder named
    after another data set (``data/mnist`` for fashion-mnist) gets a warning, since a copy
    may be renamed. ``names`` gives each data set's name for people."""
    if data_dir is None or not Path(data_dir).is_dir():
        return                                   # the data set's own folder, or the loader explains
    data_dir = Path(data_dir)
    for other, folder in shipped_dirs.items():
        sums_file = folder / "SHA256SUMS"
        if other == dataset or not sums_file.is_file():
            continue
        known = read_sha256sums(sums_file)
        for name in ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
            if name in known and (data_dir / name).is_file() and file_sha256(data_dir / name) == known[name]:
                raise DataFileError(
                    f"{data_dir} holds {names[other]}, not {names[dataset]}: its {name} is {names[other]}'s "
                    f"(the same SHA-256 as in {sums_file}), so the model would learn {names[other]} under "
                    f"{names[dataset]}'s class names. "
                    + (f"Use --data-dir {shipped_dirs[dataset]} (or leave --data-dir out)" if dataset in shipped_dirs
                       else f"Point --data-dir at your {names[dataset]} folder")
                    + f", or --dataset {other}.")
    named_after = [other for other, folder_names in DATASET_FOLDER_NAMES.items()
                   if other != dataset and data_dir.resolve().name.lower() in folder_names]
    if named_after and data_dir.resolve().name.lower() not in DATASET_FOLDER_NAMES.get(dataset, ()):
        warnings.warn(f"--data-dir {data_dir} is named like {names[named_after[0]]}'s folder, but --dataset is "
                      f"{dataset} ({names[dataset]}); check that it holds {names[dataset]} (its files' checksums "
                      f"match no shipped data set, so this cannot be told for sure).", stacklevel=2)


@contextlib.contextmanager
def open_idx(path: Path):
    """Open an IDX file for reading, through gzip if it ends in .gz, after checking it
    against SHA256SUMS; an unreadable or corrupt file becomes a DataFileError."""
    check_sha256(path)
    compressed = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as file:
            yield file
    except PermissionError:
        raise DataFileError(f"cannot read {path}: permission denied. Check the file's permissions "
                            f"(`ls -l {path}`).") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(
            f"{path} is not a valid {'gzip' if compressed else 'IDX'} file ({type(error).__name__}: {error}); "
            f"it is probably truncated or corrupt. Replace it with a complete copy.") from None


def gzip_declared_size(path: Path) -> int:
    """The uncompressed size (mod 2**32) a gzip file records in its last four bytes."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < 18:                       # 10-byte gzip header + 8-byte trailer
            return -1
        file.seek(-4, os.SEEK_END)
        return int.from_bytes(file.read(4), "little")


def check_idx_size(path: Path, shape: tuple, max_bytes: int = MAX_IDX_BYTES, count: int | None = None) -> None:
    """Before anything is allocated: refuse a header declaring more than ``max_bytes``, other
    than ``count`` items (as many images as its labels file holds), or a size the file cannot
    hold (a plain file's length, the size a gzip records), so a small gzip that inflates to
    gigabytes is refused without inflating it."""
    header_size, size = 4 + 4 * len(shape), math.prod(shape)
    if count is not None and (not shape or shape[0] != count):
        raise DataFileError(
            f"count mismatch: {path} declares {shape[0] if shape else 0:,} images but its labels file holds "
            f"{count:,} labels. The two files must come from the same split and release.")
    if size > max_bytes:
        raise DataFileError(
            f"{path}: its header declares shape {shape}, {size:,} bytes, more than the "
            f"{max_bytes:,} read_idx accepts. A corrupt header or a gzip bomb? If the data set "
            f"really is that large, pass a larger max_bytes to read_idx.")
    compressed = path.suffix == ".gz"
    recorded = gzip_declared_size(path) if compressed else path.stat().st_size
    if recorded != (header_size + size) % (2 ** 32 if compressed else 2 ** 64):
        raise DataFileError(
            f"{path} is truncated or padded: its header promises shape {shape} "
            f"({header_size + size:,} bytes in all) but the file holds "
            f"{'an inflated size (mod 2**32) of ' if compressed else ''}{recorded:,} bytes. "
            f"Replace it with a complete copy.")


READ_CHUNK_BYTES = 2 ** 24


def read_in_chunks(file, size: int) -> bytearray:
    """Read ``size`` bytes in chunks of 16 MiB, stopping at the first chunk that comes up
    short: memory grows with the data really there, never on a header's (or a forged
    gzip trailer's) word. ``file.read(size)`` would allocate all ``size`` bytes first."""
    data = bytearray()
    while len(data) < size:
        wanted = min(READ_CHUNK_BYTES, size - len(data))
        chunk = file.read(wanted)
        data += chunk                              # grows in place (realloc), no second copy
        if len(chunk) < wanted:
            break                                  # the file ends here
    return data


def check_idx_complete(path: Path, file, shape: tuple, bytes_read: int) -> None:
    """After reading the data: it must be exactly what the header promised, no byte
    missing and none left over (one byte more is read to find out, and no more: a gzip
    whose recorded size was forged is inflated only that far)."""
    size = math.prod(shape)
    padded = bytes_read == size and bool(file.read(1))
    if bytes_read < size or padded:
        raise DataFileError(
            f"{path} is truncated or padded: its header promises shape {shape} ({4 + 4 * len(shape) + size:,} "
            f"bytes in all) but the data {'ends early' if bytes_read < size else 'goes on beyond them'}. "
            f"Replace it with a complete copy.")


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def find_cifar10_files(data_dir: Path, names: list) -> list:
    """The paths of CIFAR-10's batch files ``names`` in ``data_dir``/cifar-10-batches-bin
    or in ``data_dir`` itself; if any is missing, say how to download them."""
    folder = data_dir / "cifar-10-batches-bin" if (data_dir / "cifar-10-batches-bin").is_dir() else data_dir
    paths = [folder / name for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DataFileError(
            f"CIFAR-10 is not there: missing {', '.join(missing)}. Download the binary version "
            f"{CIFAR10_URL} (162 MB) and unpack it with `tar xzf cifar-10-binary.tar.gz -C {data_dir}`, "
            f"which creates {data_dir / 'cifar-10-batches-bin'}; or pass data_dir= (--data-dir) "
            f"pointing at your cifar-10-batches-bin folder.")
    return paths


# An official CIFAR-10 batch file holds 10,000 records; we accept up to 10 times that.
MAX_CIFAR10_RECORDS = 100_000


def check_cifar10_sizes(paths: list, record_bytes: int) -> list:
    """Before reading: each batch file must be a whole number of ``record_bytes`` records, and
    no more than MAX_CIFAR10_RECORDS (a 1.5 GB sparse file is refused, not read). Returns the
    number of records in each."""
    counts = []
    for path in paths:
        size = path.stat().st_size
        if size == 0 or size % record_bytes:
            raise DataFileError(
                f"{path} holds {size:,} bytes, not a whole number of {record_bytes}-byte "
                f"CIFAR-10 records (an official batch is 10,000 records, {10_000 * record_bytes:,} bytes): "
                f"it is truncated or not the binary version. Download {CIFAR10_URL} again.")
        if size // record_bytes > MAX_CIFAR10_RECORDS:
            raise DataFileError(
                f"{path} holds {size:,} bytes, {size // record_bytes:,} records: more than the "
                f"{MAX_CIFAR10_RECORDS:,} load_cifar10 reads from one file (an official batch holds 10,000). "
                f"It is not a CIFAR-10 batch file; download {CIFAR10_URL} again.")
        counts.append(size // record_bytes)
    return counts


# =============================================================================
# Pictures
# =============================================================================

# The largest picture read_picture decodes: 50 megapixels, more than any photo of a digit.
# One limit for every format, checked from the header before decoding.
MAX_PICTURE_PIXELS = 50_000_000

# read_picture gives at most this many pixels a side (a larger picture is reduced by
# averaging blocks as it is read), and resize_image's matrices take at most this many
# columns: plenty for a 28 x 28 digit, and a 2048 x 2048 RGBA picture in floats is 128 MB.
MAX_PICTURE_SIDE = 2048


def check_picture_pixels(width: int, height: int, name: str) -> None:
    """Refuse a picture declaring more than MAX_PICTURE_PIXELS, before decoding it: a 12 kB
    file can claim 60,000 x 60,000 pixels, 17 GB once decoded."""
    if width * height > MAX_PICTURE_PIXELS:
        raise ValueError(f"{name} says it is {width:,} x {height:,} pixels, more than the "
                         f"{MAX_PICTURE_PIXELS:,} read_picture decodes. Scale the picture down.")


def check_png_size(header: bytes, name: str) -> None:
    """check_picture_pixels for a PNG's first 24 bytes (the signature, then the IHDR chunk:
    width and height as big-endian uint32 at bytes 16-24), for PNG data not in a file."""
    if header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR":
        check_picture_pixels(int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big"), name)


def read_picture_file(path: Path) -> np.ndarray:
    """The pixels of a picture file as float32 in [0, 1] (16-bit pictures too; 32-bit ones
    keep their values): (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA (when it has
    transparency). Pillow (which matplotlib reads pictures with) decodes it:

      - the pixel count is checked from the header (Pillow's open reads no more), for
        every format, before anything is decoded;
      - a JPEG's EXIF orientation is applied: a phone stores an upright photo sideways
        with an Orientation tag, and a 7 read sideways looks like a 2 or an L;
      - a side longer than MAX_PICTURE_SIDE is reduced by averaging blocks of pixels
        (a JPEG decodes at 1/2, 1/4 or 1/8 scale directly), so what follows stays small.

    A missing file, a folder or a file no decoder reads is a ValueError saying so."""
    from PIL import Image, ImageOps                     # installed with matplotlib
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a picture. Name the picture file itself.")
    if not path.is_file():
        raise ValueError(f"picture {path} does not exist.")
    with open(path, "rb") as file:
        check_png_size(file.read(24), str(path))        # before Pillow, which refuses only above 179 M pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # our own limit is lower
            with Image.open(path) as picture:
                check_picture_pixels(*picture.size, str(path))
                picture.draft(None, (MAX_PICTURE_SIDE, MAX_PICTURE_SIDE))   # JPEG: decode at 1/2, 1/4, 1/8
                return _picture_pixels(ImageOps.exif_transpose(_reduced(picture)))
    except ValueError as error:
        if "read_picture decodes" in str(error):
            raise
        problem = error
    except Exception as error:                          # each image decoder has its own exceptions
        problem = error
    raise ValueError(f"cannot read picture {path} ({type(problem).__name__}: {problem}). "
                     f"Save it as a PNG or JPEG.")


def _reduced(picture):
    """A decoded Pillow image in a mode its pixels keep (L, RGB, RGBA, or F for 16- and 32-bit
    grey), reduced to at most MAX_PICTURE_SIDE a side; converted and copied only if need be."""
    if picture.mode.startswith("I"):                   # 16- or 32-bit grey
        picture.info["scale"] = 65535.0 if picture.mode.startswith("I;16") else 1.0
        picture = picture.convert("I").convert("F") if picture.mode != "I" else picture.convert("F")
    elif picture.mode != "F":
        transparent = "A" in picture.mode or "transparency" in picture.info
        mode = "RGBA" if transparent else "L" if picture.mode in ("1", "L") else "RGB"
        picture = picture.convert(mode) if picture.mode != mode else picture
    factor = math.ceil(max(picture.size) / MAX_PICTURE_SIDE)
    return picture.reduce(factor) if factor > 1 else picture     # the mean of each factor x factor block


def _picture_pixels(picture) -> np.ndarray:
    """The pixels of a Pillow image from _reduced as float32 in [0, 1] (32-bit: as they are)."""
    scale = picture.info.get("scale", 1.0) if picture.mode == "F" else 255.0
    return np.asarray(picture, dtype=np.float32) / np.float32(scale)


def reduce_by_blocks(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """For resize_image, whose matrices are (new size x old size): an axis longer than
    max(MAX_PICTURE_SIDE, 2 x its new size) is first reduced by averaging blocks of k pixels
    (np.add.reduceat, which copies nothing), so a 1 x 50,000,000 picture needs kilobytes of
    matrices, not 24 GB. The area resize after it is exact when k divides the side, else
    off by at most one block (a 2048th of the side) at the far end."""
    for axis, new_size in ((0, height), (1, width)):
        size, limit = image.shape[axis], max(MAX_PICTURE_SIDE, 2 * new_size)
        if size > limit:
            k = size // limit + 1
            starts = np.arange(0, size, k)
            counts = np.diff(np.append(starts, size)).reshape((-1, 1) if axis == 0 else (1, -1))
            image = np.add.reduceat(image, starts, axis=axis) / counts
    return image


# =============================================================================
# Writing files: atomically, to a place that can be written
# =============================================================================

def _temporary_name(path: Path) -> str:
    """The prefix of atomic_write's temporary files for ``path``: hidden, beside it, with our process id."""
    return f".{path.name}.{os.getpid()}."


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that earlier saves to ``path`` left behind when they were
    killed (kill -9, power cut): those whose process is gone, or untouched for an hour."""
    prefix = f".{path.name}."
    for candidate in path.parent.glob(".*.tmp"):
        owner = candidate.name[len(prefix):].split(".")[0]
        if not candidate.name.startswith(prefix) or not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            stale = time.time() - candidate.stat().st_mtime > 3600
            if not stale and os.name == "posix":
                try:
                    os.kill(int(owner), 0)           # signal 0: only asks whether the process exists
                except ProcessLookupError:
                    stale = True
                except PermissionError:
                    pass                             # alive, another user's
            if stale:
                candidate.unlink()
        except OSError:
            pass                                     # another save removed it first


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file) on a temporary file beside ``path``, then rename it into place,
    so a crash or Ctrl-C never leaves a half-written file at ``path``.

    The temporary file is named ``.NAME.PID.XXXX.tmp``; an error removes it at once,
    and a save killed outright (kill -9) leaves one that the next save to ``path``
    removes, since its process no longer exists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_name(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); give it the usual mode (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_writable(path: str | os.PathLike) -> None:
    """Raise ModelFileError unless a file can be saved at ``path``: check it before
    training, not after (the trained model would be lost)."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"cannot save to {path}: it is a folder. Give a file name, e.g. {path / 'model.npz'}.")
    parent = path.parent
    if not parent.exists():
        raise ModelFileError(f"cannot save to {path}: the folder {parent} does not exist. "
                             f"Create it first (`mkdir -p {parent}`) or save elsewhere.")
    if not parent.is_dir():
        raise ModelFileError(f"cannot save to {path}: {parent} is a file, not a folder.")
    try:                                             # the only sure test: write a file there
        fd, probe = tempfile.mkstemp(dir=parent, prefix=_temporary_name(path), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ModelFileError(f"cannot save to {path}: the folder {parent} is not writable "
                             f"({error.strerror}). Save somewhere you can write, e.g. your home folder.") from None


# =============================================================================
# Model files: checked from the zip directory and the .npy headers before reading
# =============================================================================

MODEL_FORMAT = "scratchcnn-model-1"

# Limits checked from the zip directory before any member is read: the reference CNN's
# weights take 0.1 MB, its architecture entry a few kB.
MAX_MODEL_BYTES = 2 ** 30
MAX_ARCHITECTURE_BYTES = 2 ** 20

# The parameter shapes of each layer type with weights, from its config, so a file's
# arrays can be checked before a layer is built (a 30,000 x 30,000 Dense would
# allocate and initialise 7 GB first). A layer type missing here is built to find out.
PARAM_SHAPES = {
    "Conv2D": lambda c: {"W": (c["out_channels"], c["in_channels"], c["kernel_size"], c["kernel_size"]),
                         "b": (c["out_channels"],)},
    "Dense": lambda c: {"W": (c["in_features"], c["out_features"]), "b": (c["out_features"],)},
    # batch norm: its parameters and its running statistics (saved beside them)
    "BatchNorm1D": lambda c: dict.fromkeys(("gamma", "beta", "running_mean", "running_var"), (c["num_features"],)),
    "BatchNorm2D": lambda c: dict.fromkeys(("gamma", "beta", "running_mean", "running_var"), (c["num_channels"],)),
}


def what_file_is_this(path: Path) -> str:
    """A few words on what a file that is not a zip archive looks like it is."""
    with open(path, "rb") as file:
        head = file.read(64)
    if not head:
        return "an empty file"
    if head.startswith(b"PK"):
        return "a zip archive"
    if head.startswith(b"\x93NUMPY"):
        return "a single NumPy array (.npy, from np.save)"
    if head[:1] == b"\x80":
        return "a Python pickle (which can run code: never load one you do not trust)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown kind"
    return f"a text file (it starts {text[:30]!r})" if text.isprintable() or "\n" in text else "binary data"


@contextlib.contextmanager
def model_file_errors(path: Path):
    """Around reading a model file: what zipfile, zlib and NumPy raise for a damaged
    archive becomes a ModelFileError saying the file is corrupt or truncated."""
    try:
        yield
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is corrupt or truncated ({type(error).__name__}: {error}). "
                             f"Re-create it with `python scratchcnn.py train`.") from None


def check_model_file(path: Path, layer_types: dict, build_layer) -> dict:
    """Check a model file before a single weight is read, and return its architecture.

    Member names and sizes come from the zip directory, then the architecture entry
    (JSON, format MODEL_FORMAT), then every array's shape and dtype from its .npy header
    against what the architecture needs. ``layer_types`` maps type names to layer
    classes; ``build_layer(path, i, spec)`` builds a layer of a type without a
    PARAM_SHAPES entry, to learn its parameter shapes."""
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file. Pass the .npz file itself "
                             f"(e.g. {path / 'scratchcnn_model.npz'}).")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist. Train one with "
                             f"`python scratchcnn.py train --model-out {path}`.")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if what_file_is_this(path) == "a zip archive":
            raise ModelFileError(f"{path} is corrupt or truncated: it starts like an .npz (zip) archive but "
                                 f"its directory is missing or damaged. Re-create it with "
                                 f"`python scratchcnn.py train`.") from None
        raise ModelFileError(f"{path} is not a ScratchCNN model file: it is {what_file_is_this(path)}, "
                             f"not an .npz archive (or it is truncated). Train a model with "
                             f"`python scratchcnn.py train`.") from None
    with archive, model_file_errors(path):
        return _check_archive(path, archive, layer_types, build_layer)


def _check_archive(path: Path, archive: zipfile.ZipFile, layer_types: dict, build_layer) -> dict:
    members = {info.filename: info for info in archive.infolist()}
    strangers = sorted(name for name in members
                       if name != "architecture.npy" and not re.fullmatch(r"layer\d+(\.\d+)*\.\w+\.npy", name))
    if "architecture.npy" not in members:
        raise ModelFileError(f"{path} is an .npz file but not a ScratchCNN model (no 'architecture' entry).")
    if strangers:
        raise ModelFileError(f"{path}: unexpected entries {strangers[:5]}; not a file save_model wrote.")
    total = sum(info.file_size for info in members.values())
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path} would inflate to {total:,} bytes, more than the {MAX_MODEL_BYTES:,} "
                             f"a ScratchCNN model may take. Refusing it.")
    architecture = _read_architecture(path, archive)
    expected = {key: shape for i, spec in enumerate(architecture["layers"])
                for key, shape in _expected_arrays(path, str(i), spec, layer_types, build_layer).items()}
    stored = {name[:-4] for name in members} - {"architecture"}
    if expected.keys() - stored:
        raise ModelFileError(f"{path}: missing weights {sorted(expected.keys() - stored)[0]!r}; "
                             f"the file is incomplete.")
    if stored - expected.keys():
        raise ModelFileError(f"{path}: unexpected entries {sorted(stored - expected.keys())[:5]}; "
                             f"not a file save_model wrote.")
    for key, shape in expected.items():
        stored_shape, stored_dtype = _npy_header(path, archive, members[key + ".npy"])
        if stored_dtype.kind != "f":
            raise ModelFileError(f"{path}: {key} holds {stored_dtype} numbers; weights must be floats "
                                 f"(float32 or float64). Save the model with save_model.")
        if stored_shape != shape:
            raise ModelFileError(f"{path}: {key} has shape {stored_shape}, the architecture needs {shape}.")
    return architecture


def _npy_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """(shape, dtype) of one .npy member, reading only its header; refuses pickles
    and a member whose size does not match the shape its header declares."""
    with archive.open(info) as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(file)
        header_bytes = file.tell()
    if dtype.hasobject:
        raise ModelFileError(f"{path}: {info.filename} holds pickled Python objects; ScratchCNN model files "
                             f"never do, and loading pickles can run arbitrary code. Refusing it.")
    if info.file_size != header_bytes + math.prod(shape) * dtype.itemsize:
        raise ModelFileError(f"{path}: {info.filename} is truncated or padded: its size does not match its shape.")
    return shape, dtype


def _read_architecture(path: Path, archive: zipfile.ZipFile) -> dict:
    """The architecture entry as a dict, checked for the structure load_model relies on."""
    not_ours = (f"{path} is an .npz file but not a ScratchCNN model (no valid 'architecture' entry of "
                f"format {MODEL_FORMAT!r}).")
    info = archive.getinfo("architecture.npy")
    if info.file_size > MAX_ARCHITECTURE_BYTES:
        raise ModelFileError(f"{not_ours[:-1]}: its architecture entry takes {info.file_size:,} bytes.")
    _npy_header(path, archive, info)
    with archive.open(info) as file:
        entry = np.lib.format.read_array(file, allow_pickle=False)
    try:
        architecture = json.loads(str(entry[()])) if entry.dtype.kind == "U" and entry.ndim == 0 else None
    except (json.JSONDecodeError, RecursionError):        # RecursionError: nested thousands deep
        architecture = None
    if not (isinstance(architecture, dict) and architecture.get("format") == MODEL_FORMAT
            and isinstance(architecture.get("layers"), list) and isinstance(architecture.get("metadata", {}), dict)
            and all(isinstance(spec, dict) and isinstance(spec.get("config", {}), dict)
                    for spec in architecture["layers"])):
        raise ModelFileError(not_ours)
    return architecture


def _expected_param_shapes(path: Path, i: str, spec: dict, layer_types: dict, build_layer) -> dict:
    """{name: shape} of layer i's parameters, from its type and config; builds the layer
    only for a type without a PARAM_SHAPES entry."""
    kind, config = spec.get("type"), spec.get("config", {})
    if kind not in layer_types:
        raise ModelFileError(f"{path}: layer {i} has unknown type {kind!r}; known: {sorted(layer_types)}.")
    invalid = ModelFileError(f"{path}: layer {i} ({kind}) has an invalid config {json.dumps(config)[:200]}.")
    for value in config.values():                  # JSON allows true, NaN and Infinity where sizes belong
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            raise invalid
    if kind not in PARAM_SHAPES:
        return {name: param.shape for name, param in build_layer(path, i, spec).params.items()}
    try:
        shapes = PARAM_SHAPES[kind](config)
    except KeyError:
        raise invalid from None
    if not all(isinstance(size, int) and size >= 1 for shape in shapes.values() for size in shape):
        raise invalid
    return shapes


def _expected_arrays(path: Path, i: str, spec: dict, layer_types: dict, build_layer) -> dict:
    """{"layer<i>.<name>": shape} of every array stored for layer i (parameters and running
    statistics); a nested model's (Sequential's, Residual's) inner layer j is layer "<i>.<j>"."""
    if spec.get("type") not in ("Residual", "Sequential"):
        return {f"layer{i}.{name}": shape
                for name, shape in _expected_param_shapes(path, i, spec, layer_types, build_layer).items()}
    inner = spec.get("layers")
    if not (isinstance(inner, list) and all(isinstance(s, dict) and isinstance(s.get("config", {}), dict) for s in inner)):
        raise ModelFileError(f"{path}: layer {i} ({spec['type']}) has no valid list of inner layers.")
    return {key: shape for j, s in enumerate(inner)
            for key, shape in _expected_arrays(path, f"{i}.{j}", s, layer_types, build_layer).items()}


def check_finite_weights(path: Path, key: str, value: np.ndarray) -> None:
    """Refuse NaN or infinite weights: every prediction would be nonsense."""
    if not np.isfinite(value).all():
        raise ModelFileError(f"{path}: {key} contains {int((~np.isfinite(value)).sum())} NaN or infinite "
                             f"weights, so every prediction would be nonsense. The training that made "
                             f"it diverged (lower the learning rate) or the file is damaged: retrain.")
