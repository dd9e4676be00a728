"""A small TFLite interpreter through the C library that pyopen-wakeword ships.

pyopen-wakeword creates its interpreters without options: the runtime then spreads each tiny model
over as many threads as it likes and runs the reference kernels. Here every interpreter gets one
thread and the XNNPACK delegate (both are in the same ``libtensorflowlite_c``), which measured about
three times less CPU for the same models and the same scores. Where the delegate cannot be created
(XNNPACK's cpuinfo reads /sys; a chroot without it gets NULL) the interpreters run on the default
kernels, logged once. Written with ctypes because the Python packages of LiteRT are far larger
than this file and not needed for a handful of calls.
"""

from __future__ import annotations

import ctypes as C
import logging
import os
import threading
from functools import cache
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)

_FLOAT32 = 1  # kTfLiteFloat32
_OK = 0


class TfLiteError(RuntimeError):
    """A model file that cannot be loaded or run; the message names the file."""


class _XnnPackOptions(C.Structure):
    # Only the first field is used; the padding covers the rest of the struct whatever the
    # runtime's version adds, since TfLiteXNNPackDelegateOptionsDefault returns it by value.
    _fields_ = [("num_threads", C.c_int32), ("flags", C.c_uint32), ("_rest", C.c_byte * 248)]


@cache
def library_path() -> Path:
    """The ``libtensorflowlite_c`` inside the pyopen-wakeword wheel."""
    import pyopen_wakeword

    lib_dir = Path(pyopen_wakeword.__file__).parent / "lib"
    found = sorted(lib_dir.glob("*tensorflowlite_c*"))
    if not found:
        raise TfLiteError(
            f"no libtensorflowlite_c in {lib_dir}: pyopen-wakeword has no runtime for this "
            "platform (it ships Linux x86-64 and aarch64, macOS arm64 and Windows x86-64)"
        )
    return found[0]


_lib_lock = threading.Lock()


@cache
def _library() -> C.CDLL:
    with _lib_lock:
        path = library_path()
        try:
            lib = C.CDLL(str(path), mode=os.RTLD_GLOBAL)
        except OSError as err:  # e.g. "wrong ELF class": the x86-64 library on armv7l
            raise TfLiteError(
                f"pyopen-wakeword has no runtime for this platform: its {path} does not load "
                f"here ({err}); it ships Linux x86-64 and aarch64, macOS arm64 and Windows x86-64"
            ) from err
        vp, i32 = C.c_void_p, C.c_int32
        signatures: dict[str, tuple[list[object], object]] = {
            "TfLiteModelCreateFromFile": ([C.c_char_p], vp),
            "TfLiteModelDelete": ([vp], None),
            "TfLiteInterpreterOptionsCreate": ([], vp),
            "TfLiteInterpreterOptionsDelete": ([vp], None),
            "TfLiteInterpreterOptionsSetNumThreads": ([vp, i32], None),
            "TfLiteInterpreterOptionsAddDelegate": ([vp, vp], None),
            "TfLiteInterpreterCreate": ([vp, vp], vp),
            "TfLiteInterpreterDelete": ([vp], None),
            "TfLiteInterpreterResizeInputTensor": ([vp, i32, C.POINTER(i32), i32], i32),
            "TfLiteInterpreterAllocateTensors": ([vp], i32),
            "TfLiteInterpreterInvoke": ([vp], i32),
            "TfLiteInterpreterGetInputTensorCount": ([vp], i32),
            "TfLiteInterpreterGetInputTensor": ([vp, i32], vp),
            "TfLiteInterpreterGetOutputTensor": ([vp, i32], vp),
            "TfLiteTensorType": ([vp], i32),
            "TfLiteTensorNumDims": ([vp], i32),
            "TfLiteTensorDim": ([vp, i32], i32),
            "TfLiteTensorByteSize": ([vp], C.c_size_t),
            "TfLiteTensorCopyFromBuffer": ([vp, vp, C.c_size_t], i32),
            "TfLiteTensorCopyToBuffer": ([vp, vp, C.c_size_t], i32),
            "TfLiteXNNPackDelegateOptionsDefault": ([], _XnnPackOptions),
            "TfLiteXNNPackDelegateCreate": ([C.POINTER(_XnnPackOptions)], vp),
            "TfLiteXNNPackDelegateDelete": ([vp], None),
            # the experimental API, for TfLiteModel.tensors()
            "TfLiteInterpreterGetTensor": ([vp, i32], vp),
            "TfLiteTensorName": ([vp], C.c_char_p),
            "TfLiteTensorData": ([vp], vp),
        }
        for name, (argtypes, restype) in signatures.items():
            func = getattr(lib, name)
            func.argtypes = argtypes
            func.restype = restype
        return lib


@cache
def xnnpack_unavailable() -> None:
    """Logs, once per process, that the models run without XNNPACK."""
    _LOGGER.warning(
        "TFLite's XNNPACK delegate cannot be created here (in a chroot without /sys, for "
        "one); the wake-word models run on TFLite's default kernels, with the same scores and "
        "about three times the CPU"
    )


def _shape(lib: C.CDLL, tensor: int) -> tuple[int, ...]:
    return tuple(lib.TfLiteTensorDim(tensor, i) for i in range(lib.TfLiteTensorNumDims(tensor)))


class TfLiteModel:
    """One float32-in, float32-out model; ``run`` copies the input in and the output out.

    ``threads=None`` and ``xnnpack=False`` give the runtime's defaults, as pyopen-wakeword uses it
    (the benchmark's baseline).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        input_shape: tuple[int, ...] | None = None,
        threads: int | None = 1,
        xnnpack: bool = True,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TfLiteError(f"{self.path}: no such model file")
        lib = self._lib = _library()
        self._model = self._options = self._delegate = self._interpreter = None
        self._model = lib.TfLiteModelCreateFromFile(str(self.path).encode())
        if not self._model:
            raise TfLiteError(f"{self.path}: not a TFLite model")
        self._options = lib.TfLiteInterpreterOptionsCreate()
        if threads is not None:
            lib.TfLiteInterpreterOptionsSetNumThreads(self._options, threads)
        if xnnpack:
            xnn_options = lib.TfLiteXNNPackDelegateOptionsDefault()
            xnn_options.num_threads = threads or 0
            self._delegate = lib.TfLiteXNNPackDelegateCreate(C.byref(xnn_options))
            if self._delegate:
                lib.TfLiteInterpreterOptionsAddDelegate(self._options, self._delegate)
            else:  # NULL: given to the interpreter, it would refuse to build ("Null delegate")
                xnnpack_unavailable()
        self._interpreter = lib.TfLiteInterpreterCreate(self._model, self._options)
        if not self._interpreter:
            self.close()
            raise TfLiteError(f"{self.path}: the TFLite runtime cannot build an interpreter for it")
        if input_shape is not None:
            dims = (C.c_int32 * len(input_shape))(*input_shape)
            if lib.TfLiteInterpreterResizeInputTensor(self._interpreter, 0, dims, len(dims)) != _OK:
                self.close()
                raise TfLiteError(f"{self.path}: cannot resize the input to {input_shape}")
        if lib.TfLiteInterpreterAllocateTensors(self._interpreter) != _OK:
            self.close()
            raise TfLiteError(f"{self.path}: cannot allocate the model's tensors")
        self._input = lib.TfLiteInterpreterGetInputTensor(self._interpreter, 0)
        self._output = lib.TfLiteInterpreterGetOutputTensor(self._interpreter, 0)
        if not self._input or not self._output:
            self.close()
            raise TfLiteError(f"{self.path}: the model has no input or output tensor")
        for role, tensor in (("input", self._input), ("output", self._output)):
            if lib.TfLiteTensorType(tensor) != _FLOAT32:
                self.close()
                raise TfLiteError(
                    f"{self.path}: the model's {role} is not float32 (an openWakeWord model "
                    "takes float32 embeddings; is this a microWakeWord model?)"
                )
        self.input_shape = _shape(lib, self._input)
        self.output_shape = _shape(lib, self._output)
        self._input_bytes = int(lib.TfLiteTensorByteSize(self._input))
        self._out = np.empty(self.output_shape, dtype=np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run once; ``x`` must hold exactly the input's number of float32 values.

        The result is a view of a buffer that the next call overwrites.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.nbytes != self._input_bytes:
            raise ValueError(
                f"{self.path.name}: input of {x.size} values, the model wants {self.input_shape}"
            )
        lib = self._lib
        lib.TfLiteTensorCopyFromBuffer(self._input, x.ctypes.data, x.nbytes)
        if lib.TfLiteInterpreterInvoke(self._interpreter) != _OK:
            raise TfLiteError(f"{self.path}: inference failed")
        lib.TfLiteTensorCopyToBuffer(self._output, self._out.ctypes.data, self._out.nbytes)
        return self._out

    def tensors(self) -> dict[str, np.ndarray]:
        """Copies of the interpreter's float32 tensors by name: the constants (weights, biases)
        as the runtime loaded them, the others as the last run left them.

        Through ``TfLiteInterpreterGetTensor`` of the C library's experimental API (which has no
        access to the operators); for checking what is read from a model file another way.
        """
        lib = self._lib
        get = lib.TfLiteInterpreterGetTensor
        found: dict[str, np.ndarray] = {}
        index = 0
        while tensor := get(self._interpreter, index):  # NULL past the last tensor
            index += 1
            name, data = lib.TfLiteTensorName(tensor), lib.TfLiteTensorData(tensor)
            if not name or not data or lib.TfLiteTensorType(tensor) != _FLOAT32:
                continue
            count = int(lib.TfLiteTensorByteSize(tensor)) // 4
            values = np.ctypeslib.as_array((C.c_float * count).from_address(data))
            found[name.decode()] = values.reshape(_shape(lib, tensor)).copy()
        return found

    def close(self) -> None:
        lib = self._lib
        if self._interpreter:
            lib.TfLiteInterpreterDelete(self._interpreter)
            self._interpreter = None
        if self._delegate:  # after the interpreter that uses it
            lib.TfLiteXNNPackDelegateDelete(self._delegate)
            self._delegate = None
        if self._options:
            lib.TfLiteInterpreterOptionsDelete(self._options)
            self._options = None
        if self._model:
            lib.TfLiteModelDelete(self._model)
            self._model = None

    def __del__(self) -> None:
        if hasattr(self, "_lib"):
            self.close()
