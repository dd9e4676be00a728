"""openWakeWord's embedding model computed incrementally in numpy.

``embedding_model.tflite`` turns 76 mel frames into 96 features with a chain of convolutions
(3x3, then alternating 1x3 across the mel bands and 3x1 across time), LeakyReLU(0.2) and a floor
after each, and four 2x2 / 1x2 max pools; the output has one row in time. openWakeWord runs it
once per 80 ms step on a window moved by 8 frames, so at every layer all but the newest rows of
the window's activations are those of the previous step. ``IncrementalEmbedding`` keeps, for
each convolution that spans time, its last ``kernel height - 1`` input rows and computes only the
new rows of every layer (8 at the input, 4 after the first pool, 2 after the second, 1 after the
third): about an eighth of the arithmetic, as numpy matrix products (im2col).

The weights and the layer graph are read from the model file when the engine starts (a small
flatbuffer reader, ``_Table``; nothing derived from the model is stored in this repository). The
TFLite C library gives the constant tensors but not the operators, and the ``tflite`` package on
PyPI (generated from one TensorFlow version's schema, plus ``flatbuffers``) would add two
dependencies on the Pi for the dozen fields read here; a test checks every constant read against
the runtime's own copy (``TfLiteModel.tensors()``). The graph is checked against what is
implemented: a chain of PAD (mel bands only), CONV_2D
(stride 1, no dilation, no fused activation, padding only across mel bands), LEAKY_RELU,
MAXIMUM with a constant, MAX_POOL_2D (windows that do not overlap and pair rows the same way at
every step), every shape as the file declares it. Anything else raises ``EmbeddingModelError``
(the engine then logs it and runs the model with TFLite).

Results: within float32 rounding of TFLite (about 1e-5 of the features; ``tests/satellite/
wakeword/test_embedding.py`` bounds it). An embedding without the previous step's state (the first, or
after the quiet gate skipped more steps than it catches up) is computed by streaming its window
from zeroed state in the same 8-frame groups (the first one padded in front): the rows its result
depends on then go through exactly the same matrix products, shape for shape, as when streamed
step by step, so it is bit-identical to the incremental result, as long as the BLAS computes a
row the same way in calls of the same shape (OpenBLAS does). The largest product of a step
(m*n*k = 0.44 M) is below the size at which OpenBLAS spreads a product over threads (about 1 M
here), which for matrices this small would cost more CPU than it saves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .engine import WakeWordError

# TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs): the field ids used here
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 1, 2, 4
_CODE_DEPRECATED_BUILTIN, _CODE_BUILTIN = 0, 3
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS, _SUBGRAPH_OPERATORS = 0, 1, 2, 3
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_BUFFER, _TENSOR_NAME, _TENSOR_SPARSITY = 0, 1, 2, 3, 6
_OP_OPCODE, _OP_INPUTS, _OP_OUTPUTS, _OP_OPTIONS_TYPE, _OP_OPTIONS = 0, 1, 2, 3, 4
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2
# BuiltinOperator
_PAD, _CONV_2D, _MAX_POOL_2D, _MAXIMUM, _LEAKY_RELU = 34, 3, 17, 55, 98
_OP_NAMES = {_PAD: "PAD", _CONV_2D: "CONV_2D", _MAX_POOL_2D: "MAX_POOL_2D"}
_OP_NAMES |= {_MAXIMUM: "MAXIMUM", _LEAKY_RELU: "LEAKY_RELU"}
# BuiltinOptions union types, and their fields
_CONV_OPTIONS, _POOL_OPTIONS, _PAD_OPTIONS, _LEAKY_OPTIONS = 1, 5, 22, 75
_CONV_PADDING, _CONV_STRIDE_W, _CONV_STRIDE_H, _CONV_ACTIVATION = 0, 1, 2, 3
_CONV_DILATION_W, _CONV_DILATION_H = 4, 5
_POOL_PADDING, _POOL_STRIDE_W, _POOL_STRIDE_H = 0, 1, 2
_POOL_FILTER_W, _POOL_FILTER_H, _POOL_ACTIVATION = 3, 4, 5
_LEAKY_ALPHA = 0
_SAME, _VALID = 0, 1  # Padding
_FLOAT32, _INT32 = 0, 2  # TensorType


class EmbeddingModelError(WakeWordError):
    """The embedding model file is not the structure ``IncrementalEmbedding`` implements."""


class _Table:
    """A flatbuffer table: a position in the file's bytes and the field accessors TFLite needs.

    A table starts with the signed offset back to its vtable; the vtable lists, per field id, the
    field's offset inside the table (0: absent, the schema's default). Tables, vectors and strings
    are stored as unsigned offsets relative to the position of the offset itself; a vector starts
    with its length.
    """

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos

    def _field(self, i: int) -> int | None:
        vtable = self.pos - struct.unpack_from("<i", self.buf, self.pos)[0]
        size = struct.unpack_from("<H", self.buf, vtable)[0]
        if 4 + 2 * i >= size:
            return None
        offset = struct.unpack_from("<H", self.buf, vtable + 4 + 2 * i)[0]
        return self.pos + offset if offset else None

    def _target(self, i: int) -> int | None:
        at = self._field(i)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def scalar(self, i: int, fmt: str, default: float = 0) -> float:
        at = self._field(i)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def table(self, i: int) -> _Table | None:
        at = self._target(i)
        return None if at is None else _Table(self.buf, at)

    def tables(self, i: int) -> list[_Table]:
        at = self._target(i)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        slots = (at + 4 + 4 * k for k in range(n))
        return [_Table(self.buf, s + struct.unpack_from("<I", self.buf, s)[0]) for s in slots]

    def ints(self, i: int) -> list[int]:
        at = self._target(i)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        return list(struct.unpack_from(f"<{n}i", self.buf, at + 4))

    def bytes(self, i: int) -> bytes:
        at = self._target(i)
        if at is None:
            return b""
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4 : at + 4 + n]

    def string(self, i: int) -> str:
        return self.bytes(i).decode("utf-8", "replace")


@dataclass(slots=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    type: int
    data: bytes | None  # constant tensors only
    sparse: bool


@dataclass(slots=True)
class _Operator:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: int
    options: _Table | None


def read_graph(path: Path) -> tuple[list[_Tensor], list[_Operator], list[int], list[int]]:
    """The first subgraph of a TFLite file: tensors, operators, input and output tensor ids."""
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise EmbeddingModelError(f"{path}: not a TFLite model")
    try:
        model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
        codes = [
            max(int(c.scalar(_CODE_DEPRECATED_BUILTIN, "b")), int(c.scalar(_CODE_BUILTIN, "i")))
            for c in model.tables(_MODEL_OPERATOR_CODES)
        ]
        buffers = model.tables(_MODEL_BUFFERS)
        subgraphs = model.tables(_MODEL_SUBGRAPHS)
        if len(subgraphs) != 1:
            raise EmbeddingModelError(f"{path}: {len(subgraphs)} subgraphs, expected 1")
        graph = subgraphs[0]
        tensors = []
        for t in graph.tables(_SUBGRAPH_TENSORS):
            data: bytes | None = None
            index = int(t.scalar(_TENSOR_BUFFER, "I"))
            if 0 < index < len(buffers):
                data = buffers[index].bytes(_BUFFER_DATA)
                offset = int(buffers[index].scalar(_BUFFER_OFFSET, "Q"))
                if not data and offset > 1:  # stored after the flatbuffer (files over 2 GB)
                    data = buf[offset : offset + int(buffers[index].scalar(_BUFFER_SIZE, "Q"))]
            tensors.append(
                _Tensor(
                    t.string(_TENSOR_NAME),
                    tuple(t.ints(_TENSOR_SHAPE)),
                    int(t.scalar(_TENSOR_TYPE, "b")),
                    data or None,
                    t.table(_TENSOR_SPARSITY) is not None,
                )
            )
        operators = [
            _Operator(
                codes[int(op.scalar(_OP_OPCODE, "I"))],
                op.ints(_OP_INPUTS),
                op.ints(_OP_OUTPUTS),
                int(op.scalar(_OP_OPTIONS_TYPE, "B")),
                op.table(_OP_OPTIONS),
            )
            for op in graph.tables(_SUBGRAPH_OPERATORS)
        ]
        return tensors, operators, graph.ints(_SUBGRAPH_INPUTS), graph.ints(_SUBGRAPH_OUTPUTS)
    except (struct.error, IndexError) as err:
        raise EmbeddingModelError(f"{path}: not a readable TFLite model ({err})") from err


@dataclass(slots=True)
class _Layer:
    """A convolution (with its bias, LeakyReLU and floor) or a max pool; all sizes are of the
    whole window (``rows``) and of one step (``new``)."""

    kind: int  # _CONV_2D or _MAX_POOL_2D
    kh: int  # rows (time) of the kernel or pool window
    kw: int  # columns (mel bands)
    rows: int  # input rows for a whole window
    width: int  # input columns, without padding
    channels: int
    out_width: int
    out_channels: int
    pad: tuple[int, int] = (0, 0)  # zero columns before and after the input's
    weights: np.ndarray | None = None  # (kh * kw * channels, out_channels)
    bias: np.ndarray | None = None
    alpha: float | None = None  # LeakyReLU
    floor: float | None = None  # MAXIMUM with a constant
    new: int = 0  # input rows per step
    history: int = 0  # input rows kept from the previous step
    # buffers of one step
    input: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    patches: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    scratch: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def out_rows(self) -> int:
        return self.rows - self.kh + 1 if self.kind == _CONV_2D else self.rows // self.kh

    def describe(self) -> str:
        if self.kind == _MAX_POOL_2D:
            return f"max pool {self.kh}x{self.kw}"
        extra = "".join(
            (f", pad {self.pad}" if any(self.pad) else "")
            + (f", LeakyReLU({self.alpha:g})" if self.alpha is not None else "")
            + (f", max(., {self.floor:g})" if self.floor is not None else "")
        )
        return f"conv {self.kh}x{self.kw} {self.channels}->{self.out_channels}{extra}"


def _constant(
    tensors: list[_Tensor], index: int, what: str, path: Path, kind: int = _FLOAT32
) -> np.ndarray:
    tensor = tensors[index] if 0 <= index < len(tensors) else None
    if tensor is None or tensor.data is None or tensor.sparse:
        raise EmbeddingModelError(f"{path}: the {what} is not a constant tensor")
    dtype = {_FLOAT32: np.float32, _INT32: np.int32}[kind]
    if tensor.type != kind:
        raise EmbeddingModelError(
            f"{path}: the {what} is of TFLite type {tensor.type}, not {np.dtype(dtype).name}"
        )
    values = np.frombuffer(tensor.data, dtype=np.dtype(dtype).newbyteorder("<"))
    if values.size != int(np.prod(tensor.shape)):
        raise EmbeddingModelError(f"{path}: the {what} has {values.size} values for {tensor.shape}")
    return values.reshape(tensor.shape).astype(dtype)


def compile_layers(path: Path) -> tuple[list[_Layer], tuple[int, int], int]:
    """The model's layers, checked against the file: -> (layers, (input rows, input columns),
    output features). Raises ``EmbeddingModelError`` naming what differs."""
    tensors, operators, inputs, outputs = read_graph(path)

    def fail(message: str) -> EmbeddingModelError:
        return EmbeddingModelError(
            f"{path}: {message}; not the structure of openWakeWord's embedding model "
            "(a chain of PAD, CONV_2D, LEAKY_RELU, MAXIMUM and MAX_POOL_2D)"
        )

    if len(inputs) != 1 or len(outputs) != 1:
        raise fail(f"{len(inputs)} inputs and {len(outputs)} outputs")
    shape = tensors[inputs[0]].shape
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 1 or tensors[inputs[0]].type != _FLOAT32:
        raise fail(f"input {shape}, not float32 [1, frames, bands, 1]")
    rows, width, channels = shape[1], shape[2], shape[3]
    current = inputs[0]
    pad = (0, 0)
    layers: list[_Layer] = []
    for number, op in enumerate(operators):
        name = _OP_NAMES.get(op.code, f"operator {op.code}")
        where = f"operator {number} ({name})"
        if not op.inputs or op.inputs[0] != current or len(op.outputs) != 1:
            raise fail(f"{where} does not continue the chain")
        if op.code == _PAD:
            pads = _constant(tensors, op.inputs[1], "padding", path, _INT32)
            if pads.shape != (4, 2) or pads[0].any() or pads[1].any() or pads[3].any():
                raise fail(f"{where} pads {pads.tolist()}, only the bands may be padded")
            if any(pad):
                raise fail(f"{where} follows another PAD")
            pad = (int(pads[2, 0]), int(pads[2, 1]))
            width += sum(pad)  # until the convolution takes it over
        elif op.code == _CONV_2D:
            opts = op.options
            if op.options_type != _CONV_OPTIONS or opts is None:
                raise fail(f"{where} has no convolution options")
            weights = _constant(tensors, op.inputs[1], f"{where} filter", path)
            if weights.ndim != 4 or weights.shape[3] != channels:
                raise fail(f"{where} filter {weights.shape} for {channels} input channels")
            out_channels, kh, kw = weights.shape[:3]
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias = _constant(tensors, op.inputs[2], f"{where} bias", path).reshape(-1)
            else:
                bias = np.zeros(out_channels, np.float32)
            if bias.shape != (out_channels,):
                raise fail(f"{where} bias {bias.shape} for {out_channels} outputs")
            settings = (
                opts.scalar(_CONV_STRIDE_W, "i"),
                opts.scalar(_CONV_STRIDE_H, "i"),
                opts.scalar(_CONV_DILATION_W, "i", 1),
                opts.scalar(_CONV_DILATION_H, "i", 1),
            )
            if settings != (1, 1, 1, 1) or opts.scalar(_CONV_ACTIVATION, "b") != 0:
                raise fail(f"{where}: strides/dilations {settings} or a fused activation")
            padding = opts.scalar(_CONV_PADDING, "b")
            if padding == _SAME:
                if kh != 1 or kw % 2 == 0:
                    raise fail(f"{where}: SAME padding of a {kh}x{kw} kernel (only across bands)")
                if any(pad):
                    raise fail(f"{where}: SAME padding after a PAD")
                pad = ((kw - 1) // 2, (kw - 1) // 2)
                width += kw - 1
            elif padding != _VALID:
                raise fail(f"{where}: padding {padding}")
            layer = _Layer(
                _CONV_2D,
                kh,
                kw,
                rows,
                width - sum(pad),
                channels,
                width - kw + 1,
                out_channels,
                pad,
                np.ascontiguousarray(weights.reshape(out_channels, -1).T),
                bias,
            )
            layers.append(layer)
            pad = (0, 0)
            rows, width, channels = layer.out_rows, layer.out_width, out_channels
        elif op.code == _LEAKY_RELU:
            alpha = op.options.scalar(_LEAKY_ALPHA, "f") if op.options is not None else None
            last = layers[-1] if layers else None
            if op.options_type != _LEAKY_OPTIONS or alpha is None or not 0.0 <= alpha <= 1.0:
                raise fail(f"{where}: alpha {alpha} (0 to 1 implemented)")
            if last is None or last.kind != _CONV_2D or any(pad):
                raise fail(f"{where} does not follow a convolution")
            if last.alpha is not None or last.floor is not None:
                raise fail(f"{where} follows another activation")
            last.alpha = float(alpha)
        elif op.code == _MAXIMUM:
            last = layers[-1] if layers else None
            if len(op.inputs) != 2 or last is None or last.kind != _CONV_2D or any(pad):
                raise fail(f"{where} is not a floor after a convolution")
            floor = _constant(tensors, op.inputs[1], f"{where} constant", path)
            if floor.size != 1 or last.floor is not None:
                raise fail(f"{where}: a constant of shape {floor.shape}, or a second floor")
            last.floor = float(floor.reshape(-1)[0])
        elif op.code == _MAX_POOL_2D:
            opts = op.options
            if op.options_type != _POOL_OPTIONS or opts is None or any(pad):
                raise fail(f"{where} has no pool options, or follows a PAD")
            kw, kh = int(opts.scalar(_POOL_FILTER_W, "i")), int(opts.scalar(_POOL_FILTER_H, "i"))
            strides = (int(opts.scalar(_POOL_STRIDE_W, "i")), int(opts.scalar(_POOL_STRIDE_H, "i")))
            if strides != (kw, kh) or opts.scalar(_POOL_ACTIVATION, "b") != 0:
                raise fail(f"{where}: {kh}x{kw} windows with strides {strides[::-1]} overlap")
            padding = opts.scalar(_POOL_PADDING, "b")
            if rows % kh or (padding == _SAME and width % kw) or padding not in (_SAME, _VALID):
                raise fail(f"{where}: {rows}x{width} input not whole {kh}x{kw} windows")
            layer = _Layer(_MAX_POOL_2D, kh, kw, rows, width, channels, width // kw, channels)
            layers.append(layer)
            rows, width = layer.out_rows, layer.out_width
        else:
            raise fail(f"{where} is not implemented")
        current = op.outputs[0]
        declared = tensors[current].shape
        if declared != (1, rows, width, channels) or tensors[current].type != _FLOAT32:
            raise fail(
                f"{where} gives {declared}, computed float32 (1, {rows}, {width}, {channels})"
            )
    if current != outputs[0] or rows != 1 or width != 1 or not layers:
        raise fail(f"the chain ends in {tensors[current].shape}, not the output [1, 1, 1, N]")
    return layers, (shape[1], shape[2]), channels


class IncrementalEmbedding:
    """``embedding_model.tflite`` on a window of ``window`` mel frames that moves by ``step``.

    ``embed(mels, position)``: ``mels`` is the window (``window`` x bands), ``position`` the
    index of its first frame in the stream; when it is the previous call's plus ``step``, only the
    new rows are computed. Returns (features,), a buffer that the next call overwrites.
    """

    def __init__(self, path: str | Path, step: int = 8) -> None:
        self.path = Path(path)
        self.layers, (self.window, self.bands), self.features = compile_layers(self.path)
        self.step = step
        new = step
        for number, layer in enumerate(self.layers):
            if layer.kind == _MAX_POOL_2D and new % layer.kh:
                raise EmbeddingModelError(
                    f"{self.path}: layer {number} ({layer.describe()}) pools {layer.kh} rows, "
                    f"which does not divide the {new} rows of a {step}-frame step"
                )
            layer.new = new
            layer.history = layer.kh - 1 if layer.kind == _CONV_2D else 0
            new = new if layer.kind == _CONV_2D else new // layer.kh
        # per-step buffers: each layer writes its output into the next layer's input buffer
        for layer in self.layers:
            padded = layer.pad[0] + layer.width + layer.pad[1]
            layer.input = np.zeros(
                (layer.history + layer.new, padded, layer.channels), dtype=np.float32
            )
            out_rows = layer.new if layer.kind == _CONV_2D else layer.new // layer.kh
            if layer.kind == _CONV_2D:
                assert layer.weights is not None
                assert layer.bias is not None
                m = out_rows * layer.out_width
                # the bias as one more row of weights, against a column of ones in the patches
                layer.matrix = np.concatenate((layer.weights, layer.bias[np.newaxis]))
                k, n = layer.matrix.shape
                layer.patches = np.ones((m, k), dtype=np.float32)
                layer.out = np.empty((m, n), dtype=np.float32)
                layer.scratch = np.empty((m, n), dtype=np.float32)
            else:
                layer.scratch = np.empty(
                    (out_rows, layer.out_width * layer.kw, layer.channels), dtype=np.float32
                )
        self._result = np.zeros((new, 1, self.features), dtype=np.float32)
        first = self.layers[0]
        self._frames = first.input[first.history :, first.pad[0] : first.pad[0] + first.width, 0]
        self._program = self._compile()
        self._position: int | None = None
        self.from_window = 0  # embeddings computed without the previous step's state
        self._pad_frames = -self.window % step
        self._first = np.zeros((step, self.bands), dtype=np.float32)

    @staticmethod
    def _interior(layer: _Layer) -> np.ndarray:
        return layer.input[layer.history :, layer.pad[0] : layer.pad[0] + layer.width, :]

    def embed(self, mels: np.ndarray, position: int) -> np.ndarray:
        if mels.shape != (self.window, self.bands):
            raise ValueError(f"mel window {mels.shape}, wanted {(self.window, self.bands)}")
        if self._position is not None and position == self._position + self.step:
            self._advance(mels[-self.step :])
        else:
            self._from_window(mels)
        self._position = position
        return self._result[-1, 0]

    def reset(self) -> None:
        """Forget the state: the next embedding is computed from its window alone."""
        self._position = None

    def state(self) -> tuple[int | None, list[np.ndarray]]:
        return self._position, [layer.input[: layer.history].copy() for layer in self.layers]

    def restore(self, state: tuple[int | None, list[np.ndarray]]) -> None:
        self._position = state[0]
        for layer, rows in zip(self.layers, state[1], strict=True):
            layer.input[: layer.history] = rows

    def _from_window(self, mels: np.ndarray) -> None:
        """The window streamed from zeroed state, in the groups of frames a step adds; the
        zeros (and the padding in front of the first group) reach no row the result uses."""
        self.from_window += 1
        for layer in self.layers:
            layer.input[: layer.history] = 0.0
        first = self.step - self._pad_frames
        self._first[self._pad_frames :] = mels[:first]
        self._advance(self._first)
        for start in range(first, self.window, self.step):
            self._advance(mels[start : start + self.step])

    def _advance(self, frames: np.ndarray) -> None:
        self._frames[...] = frames
        for op in self._program:
            op()

    def _compile(self) -> list[Callable[[], object]]:
        """Every numpy call of a step, bound to its buffers and views (made once: building the
        views costs as much as the products)."""
        program: list[Callable[[], object]] = []
        targets = [self._interior(layer) for layer in self.layers[1:]] + [self._result]
        for layer, target in zip(self.layers, targets, strict=True):
            x = layer.input
            rows, padded, channels = x.shape
            if layer.kind == _CONV_2D:
                kh, kw, width = layer.kh, layer.kw, layer.out_width
                row, item = padded * channels * x.itemsize, x.itemsize
                # the patch of output (r, c): input rows r..r+kh-1, each with the kw * channels
                # values of columns c..c+kw-1 (contiguous in a row), in the filter's order
                windows = as_strided(
                    x,
                    shape=(rows - kh + 1, width, kh, kw * channels),
                    strides=(row, channels * item, row, item),
                    writeable=False,
                )
                patches = layer.patches[:, :-1].reshape(windows.shape)  # a view: ones stay
                assert np.shares_memory(patches, layer.patches)
                program.append(partial(np.copyto, patches, windows))
                out = layer.out
                program.append(partial(np.matmul, layer.patches, layer.matrix, out=out))
                if layer.alpha is not None:
                    program.append(partial(np.multiply, out, layer.alpha, out=layer.scratch))
                    program.append(partial(np.maximum, out, layer.scratch, out=out))
                result = out.reshape(target.shape)
                if layer.floor is not None:
                    program.append(partial(np.maximum, result, layer.floor, out=target))
                else:
                    program.append(partial(np.copyto, target, result))
                if layer.history:  # the rows the next step's first outputs need (numpy
                    # copies overlapping views through a temporary)
                    h = layer.history
                    program.append(partial(np.copyto, x[:h], x[rows - h :]))
            else:
                kh, kw = layer.kh, layer.kw
                cols = layer.out_width * kw
                pooled = x[:, :cols]
                if kh > 1:
                    pooled = layer.scratch
                    program.append(
                        partial(np.maximum, x[0::kh, :cols], x[1::kh, :cols], out=pooled)
                    )
                    for i in range(2, kh):
                        program.append(partial(np.maximum, pooled, x[i::kh, :cols], out=pooled))
                if kw == 1:
                    program.append(partial(np.copyto, target, pooled))
                else:
                    program.append(
                        partial(np.maximum, pooled[:, 0::kw], pooled[:, 1::kw], out=target)
                    )
                    for j in range(2, kw):
                        program.append(partial(np.maximum, target, pooled[:, j::kw], out=target))
        return program
