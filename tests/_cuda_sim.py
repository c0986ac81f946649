"""Run the CUDA pair-length kernels in numba-cuda's simulator, in a process of their own.

    NUMBA_ENABLE_CUDASIM=1 python tests/_cuda_sim.py CASES.npz OUT.npz [--trace] [--pairs-per-launch N]

numba reads ``NUMBA_ENABLE_CUDASIM`` when it is first imported, so the simulated kernels run
in a child process and the test process keeps the real numba-cuda. ``CASES.npz`` holds groups
``g`` of ``x{g}_data, x{g}_off, y{g}_data, y{g}_off`` and optionally ``cols{g}`` and ``k{g}``;
``OUT.npz`` gets ``out{g}`` (``CudaPairLengths.pair_cells``), ``dist{g}, idx{g}``
(``cuda_backend.kneighbors``) where ``k{g}`` is given, and, with ``--trace``, ``lines``: the line
numbers of ``nnzip/_deflate_cuda.py`` that ran. ``--pairs-per-launch`` makes the blocks of
query rows small, so that several are in flight at once.
"""

import sys
import threading

import numpy as np


def _direct_device_calls(module_name: str) -> None:
    """Let the simulator call the device functions of ``module_name`` directly.

    The simulator wraps every device-function call in a swap of the function module's
    ``cuda`` global, which scans all the module's globals (tens of microseconds a call, most
    of a simulated pair's time). Inside a kernel of the same module the swap is already in
    place, so calling the Python function itself changes nothing but the time.
    """
    try:
        from numba.cuda.simulator.kernel import FakeCUDAKernel
    except ImportError:  # another simulator layout: run at its own speed
        return
    call = FakeCUDAKernel.__call__

    def fast_call(self, *args):
        fn = getattr(self, "fn", None)
        if getattr(self, "_device", False) and getattr(fn, "__module__", None) == module_name:
            return fn(*args)
        return call(self, *args)

    FakeCUDAKernel.__call__ = fast_call


def _texts(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    return [data[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


def main(argv: list[str]) -> None:
    from nnzip import _deflate_cuda, cuda_backend

    _direct_device_calls(_deflate_cuda.__name__)
    if "--pairs-per-launch" in argv:
        cuda_backend._PAIRS_PER_LAUNCH = int(argv[argv.index("--pairs-per-launch") + 1])

    cases = np.load(argv[0])
    lines: set[int] = set()
    source = _deflate_cuda.__file__

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            lines.add(frame.f_lineno)
        return tracer

    if "--trace" in argv:
        threading.settrace(tracer)  # the simulator runs each CUDA thread in a Python thread
    out = {}
    groups = sorted({key[len("x") : -len("_data")] for key in cases.files if key.startswith("x") and key.endswith("_data")})
    for g in groups:
        pairs = cuda_backend.CudaPairLengths(cases[f"y{g}_data"], cases[f"y{g}_off"])
        cols = cases[f"cols{g}"] if f"cols{g}" in cases.files else None
        out[f"out{g}"] = pairs.pair_cells(cases[f"x{g}_data"], cases[f"x{g}_off"], cols)
        if f"k{g}" in cases.files:  # the neighbour search stand-in on the same pairs
            xs, ys = (_texts(cases[f"{s}{g}_data"], cases[f"{s}{g}_off"]) for s in "xy")
            out[f"dist{g}"], out[f"idx{g}"] = cuda_backend.kneighbors(pairs, xs, ys, int(cases[f"k{g}"]))
    threading.settrace(None)
    np.savez(argv[1], lines=np.array(sorted(lines), dtype=np.int64), **out)


if __name__ == "__main__":
    main(sys.argv[1:])
