"""A LoRA adapter GGUF checked against its base model before llama.cpp opens it.

llama-cpp-python 0.3.x segfaults on any adapter llama.cpp refuses (random bytes, a full
model, a truncated file, shapes of another model) and on F32 LoRA tensors, so every
adapter is checked here first. The GGUF header is read by a small bounded parser of its
own: the `gguf` package is not part of the `local` extra, and its reader slows to tens of
seconds on a base model's vocabulary.

GGUF lists a tensor's dimensions innermost first (ggml's `ne`): a matrix stored as
numpy (out, in) is (in, out) here. llama.cpp wants, for each adapted `W` of (in, out),
`W.lora_a` of (in, r) and `W.lora_b` of (r, out) (numpy: (r, in) and (out, r)).
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..paths import display_path

__all__ = [
    "GGML_F16",
    "GGML_TYPES",
    "GgufArray",
    "GgufFile",
    "GgufTensor",
    "check_lora_adapter",
    "read_gguf",
]

GGML_F16 = 1
# ggml type id -> (name, values per block, bytes per block); gguf.GGML_QUANT_SIZES agrees.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}  # fmt: skip

# GGUF value types: the fixed-size ones by struct format; 8 is a string, 9 an array.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY, _FLOAT32 = 8, 9, 6
_MAX_NAME = 64  # ggml's GGML_MAX_NAME: a longer tensor name is refused by llama.cpp
_MAX_DIMS = 4


class _Corrupt(Exception):
    """The bytes are not a well-formed GGUF file; the text says where."""


@dataclass(frozen=True)
class GgufArray:
    """An array field, skipped: its item type and length."""

    item_type: int
    length: int


@dataclass(frozen=True)
class GgufTensor:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is a matrix's row length (its inputs)
    type: int
    offset: int  # from the start of the data section
    nbytes: int | None  # None for a ggml type this module does not know

    @property
    def type_name(self) -> str:
        known = GGML_TYPES.get(self.type)
        return known[0] if known else f"type {self.type}"


@dataclass(frozen=True)
class GgufFile:
    path: Path
    size: int
    data_start: int
    # key -> (GGUF value type, value); an array's value is a GgufArray.
    fields: Mapping[str, tuple[int, object]]
    tensors: Mapping[str, GgufTensor]  # in file order
    misplaced: str | None = None  # the first tensor not where ggml's layout puts it

    def text(self, key: str) -> str | None:
        """A string field; None when absent. A field of another type is refused, as
        llama.cpp aborts reading it as a string."""
        entry = self.fields.get(key)
        if entry is None:
            return None
        if entry[0] != _STRING:
            raise InputError(f"{display_path(self.path)}: {key} is not a string")
        return str(entry[1])

    def integer(self, key: str) -> int | None:
        """An integer field; None when absent or of another type."""
        entry = self.fields.get(key)
        value = None if entry is None or entry[0] == 7 else entry[1]  # 7: bool
        return value if isinstance(value, int) else None

    def truncated(self) -> GgufTensor | None:
        """The first tensor whose data runs past the end of the file."""
        for tensor in self.tensors.values():
            end = None if tensor.nbytes is None else self.data_start + tensor.offset + tensor.nbytes
            if end is not None and end > self.size:
                return tensor
        return None


class _Cursor:
    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> int:
        if size < 0 or self.pos + size > len(self.data):
            raise _Corrupt(f"the file ends inside its header, after {len(self.data)} bytes")
        start, self.pos = self.pos, self.pos + size
        return start

    def unpack(self, fmt: str) -> Any:
        start = self.take(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.data, start)[0]

    def u32(self) -> int:
        value: int = self.unpack("<I")
        return value

    def u64(self) -> int:
        value: int = self.unpack("<Q")
        return value

    def string(self) -> str:
        size = self.u64()
        start = self.take(size)
        return bytes(self.data[start : start + size]).decode("utf-8", "replace")

    def skip_string(self) -> None:
        self.take(self.u64())

    def value(self, kind: int) -> object:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.u32(), self.u64()
            if item in _SCALARS:
                self.take(count * struct.calcsize(_SCALARS[item]))
            elif item == _STRING:
                if count * 8 > len(self.data) - self.pos:
                    raise _Corrupt("an array is longer than the file")
                for _ in range(count):
                    self.skip_string()
            else:  # nested arrays: ggml refuses them too
                raise _Corrupt(f"an array of value type {item}")
            return GgufArray(item, count)
        raise _Corrupt(f"unknown value type {kind}")


def read_gguf(path: Path, *, role: str) -> GgufFile:
    """The header of a GGUF file; InputError naming the file (as `role`) when it is not
    one or its header is cut short. Tensor data is not read."""
    shown = display_path(path)
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size == 0:
                raise InputError(f"{shown}: the {role} file is empty; is it a GGUF {role}?")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(path, data, size)
    except _Corrupt as exc:
        raise InputError(f"{shown}: not a readable GGUF {role} ({exc})") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read the {role} file ({exc.strerror})") from None


def _parse(path: Path, data: mmap.mmap, size: int) -> GgufFile:
    cursor = _Cursor(data)
    if data[:4] != b"GGUF":
        raise _Corrupt("it does not start with the GGUF magic bytes")
    cursor.take(4)
    version = cursor.u32()
    if version not in (2, 3):
        raise _Corrupt(f"GGUF version {version} (llama.cpp reads 2 and 3)")
    n_tensors, n_fields = cursor.u64(), cursor.u64()
    fields: dict[str, tuple[int, object]] = {}
    for _ in range(n_fields):
        key = cursor.string()
        kind = cursor.u32()
        if key in fields:
            raise _Corrupt(f"the field {key} appears twice")
        fields[key] = (kind, cursor.value(kind))
    alignment = _alignment(fields)
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(n_tensors):
        name = cursor.string()
        if len(name.encode()) >= _MAX_NAME:
            raise _Corrupt(f"a tensor name of {len(name.encode())} bytes")
        n_dims = cursor.u32()
        if not 1 <= n_dims <= _MAX_DIMS:
            raise _Corrupt(f"tensor {name} has {n_dims} dimensions")
        shape = tuple(cursor.u64() for _ in range(n_dims))
        if any(d >= 2**62 for d in shape) or math.prod(shape) >= 2**62:
            raise _Corrupt(f"tensor {name} has an impossible shape {shape}")
        infos.append((name, shape, cursor.u32(), cursor.u64()))
    data_start = _padded(cursor.pos, alignment)
    tensors: dict[str, GgufTensor] = {}
    # ggml lays tensors out in order, each padded to the alignment; an adapter laid out
    # otherwise is refused (a model is left to llama.cpp's own loader).
    expected: int | None = 0
    misplaced = None
    for name, shape, kind, offset in infos:
        if name in tensors:
            raise _Corrupt(f"the tensor {name} appears twice")
        nbytes = _nbytes(name, shape, kind)
        if expected is not None and misplaced is None:
            if offset != expected:
                misplaced = f"tensor {name} is at offset {offset}, expected {expected}"
            expected = None if nbytes is None else expected + _padded(nbytes, alignment)
        tensors[name] = GgufTensor(name, shape, kind, offset, nbytes)
    return GgufFile(path, size, data_start, fields, tensors, misplaced)


def _padded(size: int, alignment: int) -> int:
    return -(-size // alignment) * alignment


def _alignment(fields: Mapping[str, tuple[int, object]]) -> int:
    entry = fields.get("general.alignment")
    if entry is None:
        return 32
    value = entry[1]
    if entry[0] != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
        raise _Corrupt(f"general.alignment {value!r} is not a power of two")
    return value


def _nbytes(name: str, shape: tuple[int, ...], kind: int) -> int | None:
    known = GGML_TYPES.get(kind)
    if known is None:
        return None
    _, block, block_bytes = known
    if shape[0] % block:
        raise _Corrupt(f"tensor {name} has rows of {shape[0]}, not whole {known[0]} blocks")
    return math.prod(shape) // block * block_bytes


# -- the adapter check ---------------------------------------------------------------


def check_lora_adapter(adapter: Path, base: Path) -> int:
    """Raise InputError, naming `adapter` and what is wrong, unless llama.cpp can load it
    on the model `base`. Returns the number of adapted tensors."""
    shown = display_path(adapter)
    lora = read_gguf(adapter, role="LoRA adapter")
    model = read_gguf(base, role="model")
    try:
        return _check(lora, model)
    except _Corrupt as exc:
        raise InputError(f"{shown}: {exc}") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read the LoRA adapter file ({exc.strerror})") from None


_CONVERT = "convert the PEFT adapter with `tunegate convert-lora`"


def _check(lora: GgufFile, model: GgufFile) -> int:
    kind = lora.text("general.type")
    if kind != "adapter":
        found = f"general.type is {kind!r}: a full model?" if kind else "no general.type"
        raise _Corrupt(f"not a LoRA adapter GGUF ({found}); {_CONVERT}")
    if lora.text("adapter.type") != "lora":
        raise _Corrupt(f"adapter.type is {lora.text('adapter.type')!r}, not 'lora'")
    alpha = lora.fields.get("adapter.lora.alpha")
    # llama.cpp reads alpha as float32 and aborts on any other type.
    value = None if alpha is None or alpha[0] != _FLOAT32 else alpha[1]
    if not isinstance(value, float) or not math.isfinite(value):
        raise _Corrupt("adapter.lora.alpha is missing or not a finite float32")
    arch, base_arch = lora.text("general.architecture"), model.text("general.architecture")
    if arch != base_arch:
        raise _Corrupt(
            f"an adapter for {arch or 'no architecture'}, but the base model is {base_arch}"
        )
    pairs = _pairs(lora)
    for stem, (a, b) in pairs.items():
        _check_pair(stem, a, b, model)
    if lora.misplaced:
        raise _Corrupt(f"a corrupt tensor layout ({lora.misplaced})")
    cut = lora.truncated()
    if cut is not None:
        raise _Corrupt(
            f"the file is truncated (the data of {cut.name} runs past its end); copy or "
            "convert it again"
        )
    _check_finite(lora)
    return len(pairs)


def _pairs(lora: GgufFile) -> dict[str, tuple[GgufTensor, GgufTensor]]:
    sides: dict[str, dict[str, GgufTensor]] = {}
    for tensor in lora.tensors.values():
        stem, _, side = tensor.name.rpartition(".")
        if side not in ("lora_a", "lora_b") or not stem:
            raise _Corrupt(f"unexpected tensor {tensor.name} (an adapter holds only "
                           "<tensor>.lora_a and <tensor>.lora_b)")  # fmt: skip
        sides.setdefault(stem, {})[side] = tensor
    if not sides:
        raise _Corrupt("the adapter holds no LoRA tensors")
    pairs = {}
    for stem, pair in sides.items():
        if len(pair) != 2:
            raise _Corrupt(f"{stem} has lora_a or lora_b but not both")
        pairs[stem] = (pair["lora_a"], pair["lora_b"])
    return pairs


def _check_pair(stem: str, a: GgufTensor, b: GgufTensor, model: GgufFile) -> None:
    for tensor in (a, b):
        if tensor.type != GGML_F16:
            raise _Corrupt(
                f"{tensor.name} is {tensor.type_name}; llama-cpp-python loads only F16 LoRA "
                f"tensors safely; {_CONVERT}"
            )
    target = model.tensors.get(stem)
    if target is None:
        raise _Corrupt(f"the base model has no tensor {stem}; is the adapter for another model?")
    if stem.startswith("token_embd."):  # llama.cpp lays these out differently
        raise _Corrupt(f"LoRA on {stem} (the embeddings) is not supported")
    if len(target.shape) != 2:
        raise _Corrupt(f"LoRA on {stem}, a {len(target.shape)}-D tensor, is not supported")
    n_in, n_out = target.shape
    rank = a.shape[-1]
    if a.shape != (n_in, rank) or b.shape != (rank, n_out) or rank < 1:
        raise _Corrupt(
            f"{stem}: lora_a is {_numpy(a.shape)} and lora_b {_numpy(b.shape)}, but this "
            f"base model needs (r, {n_in}) and ({n_out}, r) with one r; is the adapter for "
            "another model?"
        )


def _numpy(shape: tuple[int, ...]) -> str:
    """A shape as numpy and PEFT write it (outermost first)."""
    return str(tuple(reversed(shape)))


def _check_finite(lora: GgufFile) -> None:
    # NaN or infinity in an adapter makes every output garbage.
    with lora.path.open("rb") as handle:
        for tensor in lora.tensors.values():
            handle.seek(lora.data_start + tensor.offset)
            values = np.frombuffer(handle.read(tensor.nbytes or 0), dtype="<f2")
            if not np.isfinite(values).all():
                raise _Corrupt(f"{tensor.name} holds NaN or infinite values")
