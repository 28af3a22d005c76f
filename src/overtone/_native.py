"""Small C kernels for the CPU, compiled on first use and loaded with ``ctypes``.

Some kernels are faster hand-written than generated: the Fourier activation shares one range
reduction between a sine and a cosine, which inductor cannot do (it calls the accurate
``sin`` and ``cos`` separately); the Hermite and tropical activations keep their recurrence and
every coefficient sum in registers and stream their output past the cache. Their sources live in
``overtone/csrc/*.c``, plain C99 (x86 intrinsics where available) with no Python or torch
headers, so a build takes well under a second:

    cc -O3 -march=native -fopenmp-simd -ffp-contract=fast -fno-math-errno -shared -fPIC

The library is cached under ``$OVERTONE_CACHE`` (default ``$XDG_CACHE_HOME/overtone`` or
``~/.cache/overtone``), keyed by a hash of the source, the flags, the compiler and the CPU, and
written atomically (a temporary file renamed into place), so concurrent processes are safe.
:func:`load` returns ``None`` (and warns once) when there is no C compiler or the build
fails; callers then use their torch path. ``OVERTONE_NATIVE=0`` turns native kernels off.
:func:`pieces` and :func:`run` split a kernel call into shape-determined pieces and run them on
a thread pool.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

_SOURCES = Path(__file__).with_name("csrc")
FLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp-simd",
    "-ffp-contract=fast",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-std=c99",
    "-shared",
    "-fPIC",
)
PIECE_NUMEL = 1 << 16  # elements per piece of work
MAX_PIECES = 16  # pieces per call (also the most threads a call uses)
_loaded: dict[str, ctypes.CDLL | None] = {}
_typed: set[str] = set()  # libraries whose signatures are set
POINTER, INT64 = ctypes.c_void_p, ctypes.c_int64  # the kernels' argument types
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)


def enabled() -> bool:
    """Whether native kernels may be used (``OVERTONE_NATIVE`` is not ``0``/``false``/``no``)."""
    return os.environ.get("OVERTONE_NATIVE", "1").strip().lower() not in ("0", "false", "no")


def cache_dir() -> Path:
    if os.environ.get("OVERTONE_CACHE"):
        return Path(os.environ["OVERTONE_CACHE"]) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "overtone" / "native"


def _cpu_identity() -> str:
    """The CPU model and feature flags (``-march=native`` builds are CPU-specific)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(wanted))


def library_path(name: str, compiler: str) -> Path:
    """The cache path of ``csrc/<name>.c``'s library, keyed by that source, every header in
    ``csrc`` (kernels share ``vector.h``), the flags, the compiler and the CPU."""
    sources = [_SOURCES / f"{name}.c", *sorted(_SOURCES.glob("*.h"))]
    parts = [p.read_bytes() for p in sources]
    parts += [" ".join(FLAGS).encode(), compiler.encode(), _cpu_identity().encode()]
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    return cache_dir() / f"{name}-{platform.machine()}-{key}.so"


def build(name: str) -> Path:
    """Compile ``csrc/<name>.c`` into the cache (if not there yet); returns the library path.

    Raises ``RuntimeError`` naming the compiler and its output when there is no compiler or the
    build fails."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise RuntimeError(f"no C compiler: {os.environ.get('CC', 'cc')!r} is not on PATH")
    path = library_path(name, compiler)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        command = [compiler, *FLAGS, str(_SOURCES / f"{name}.c"), "-o", tmp, "-lm"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(name: str) -> ctypes.CDLL | None:
    """The compiled ``csrc/<name>.c`` (built on first use), or ``None`` if unavailable."""
    if name not in _loaded:
        library = None
        if enabled():
            try:
                library = ctypes.CDLL(str(build(name)))
            except (OSError, RuntimeError) as err:
                warnings.warn(
                    f"overtone: native kernel {name!r} unavailable ({err}); using the torch "
                    "path. Set OVERTONE_NATIVE=0 to silence this.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        _loaded[name] = library
    return _loaded[name]


def library(name: str, signatures: dict[str, list]) -> ctypes.CDLL | None:
    """:func:`load`, with each function's ``argtypes`` set from ``signatures`` and its result
    read as a C ``int`` (a status for kernels that can fail; ignored for ``void`` ones)."""
    loaded = load(name)
    if loaded is not None and name not in _typed:
        for function, argtypes in signatures.items():
            getattr(loaded, function).argtypes = argtypes
            getattr(loaded, function).restype = ctypes.c_int
        _typed.add(name)
    return loaded


def pieces(count: int, unit: int = 1) -> list[tuple[int, int]]:
    """``[0, count)`` as contiguous ``(start, stop)`` pieces of about :data:`PIECE_NUMEL`
    elements (``unit`` elements per item), at most :data:`MAX_PIECES`.

    The split depends on the shape alone, never on the thread count, so kernels that reduce per
    piece and add the pieces in order give bit-identical results on any number of threads."""
    n = max(1, min(MAX_PIECES, (count * unit) // PIECE_NUMEL, count))
    return list(itertools.pairwise([count * i // n for i in range(n + 1)]))


def run(calls: list[Callable[[], object]]) -> None:
    """Run ``calls`` (one per piece) on up to ``torch.get_num_threads()`` threads.

    ``ctypes`` releases the GIL during a foreign call, so the pieces run in parallel. The pool
    is per process (a forked child makes its own) and grows when more threads are allowed."""
    global _pool
    threads = min(torch.get_num_threads(), len(calls))
    if threads <= 1:
        for call in calls:
            call()
        return
    if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="overtone-native")
        _pool = (os.getpid(), threads, executor)
    for future in [_pool[2].submit(call) for call in calls]:
        future.result()


def run_pieces(parts: list[tuple[int, int]], call: Callable[[int, int, int], object]) -> None:
    """:func:`run` of ``call(i, start, stop)`` for each piece ``i`` of ``parts``."""
    run([functools.partial(call, i, start, stop) for i, (start, stop) in enumerate(parts)])
