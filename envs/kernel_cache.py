"""An on-disk cache for Numba env kernels, keyed by a fingerprint of everything they compile, so that a new
process loads the kernels instead of compiling them again; a changed function or constant never hits.

Numba's own `cache=True` cannot serve these kernels: it keys closures on the pickled cell contents, and
pickling a dispatcher includes a per-process uuid, so every process misses; it also ignores callees and
globals defined outside the kernel's file. Set `RLP_KERNEL_CACHE=0` to compile every kernel afresh.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

import llvmlite
import numba
import numpy as np
from numba.core import sigutils
from numba.core.caching import FunctionCache, IndexDataCacheFile, NullCache
from numba.core.dispatcher import Dispatcher

# Objects from these packages are identified by name alone: their code is covered by the versions below.
_LIBRARIES = frozenset({"builtins", "math", "cmath", "operator", "random", "numpy", "numba", "llvmlite",
                        "gymnasium", "torch"})
# Numba settings that change the generated code without changing Numba's own cache key.
_CODEGEN_CONFIG = ("OPT", "BOUNDSCHECK", "DEBUGINFO_DEFAULT", "CPU_NAME", "CPU_FEATURES", "ENABLE_AVX",
                   "USING_SVML")


def cache_enabled() -> bool:
    """Whether kernels are cached on disk (default); `RLP_KERNEL_CACHE=0` turns it off."""
    return os.environ.get("RLP_KERNEL_CACHE", "1").strip() != "0"


class _Unfingerprintable(Exception):
    """A referenced object whose effect on the compiled code cannot be hashed."""


def _is_library(module_name: str | None) -> bool:
    return bool(module_name) and module_name.split(".")[0] in _LIBRARIES


def _named_library_object(obj: Any) -> str | None:
    """`module.qualname` when `obj` is a library object that this name finds again (functions, classes,
    ufuncs), so that the name and the library's version determine it; else None."""
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not (isinstance(module_name, str) and isinstance(qualname, str) and _is_library(module_name)):
        return None
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module_name}.{qualname}" if found is obj else None


def _code_names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by `code` and the code objects nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


class _Fingerprinter:
    """Feeds a sha256 with an unambiguous (length-prefixed) description of functions and what they reference."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._seen: dict[int, int] = {}  # id -> visit number: cycles and shared callees are hashed once
        self._open_modules: list[types.ModuleType] = []  # modules being hashed (their attributes may cycle back)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def put(self, *parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            self._hash.update(b"%d:" % len(data) + data)

    def _visit(self, obj: Any) -> bool:
        """False (after hashing a back-reference) if `obj` was hashed already in this walk."""
        if id(obj) in self._seen:
            self.put("ref", str(self._seen[id(obj)]))
            return False
        self._seen[id(obj)] = len(self._seen)
        return True

    def code(self, code: types.CodeType) -> None:
        self.put("code", code.co_code, repr((code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                                             code.co_flags, code.co_names, code.co_varnames, code.co_freevars,
                                             code.co_cellvars)))
        self.put(getattr(code, "co_exceptiontable", b""))
        self.put("consts", str(len(code.co_consts)))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.value(const, set())

    def function(self, function: types.FunctionType, closure: bool = True) -> None:
        """The function's code, defaults, closure cells (if `closure`) and every global its code names."""
        if not self._visit(function):
            return
        self.put("function", function.__module__ or "", function.__qualname__)
        self.code(function.__code__)
        self.value(function.__defaults__, set())
        self.value(function.__kwdefaults__, set())
        cells = (function.__closure__ or ()) if closure else ()
        self.put("closure", str(len(cells)))
        for cell in cells:
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not yet assigned
                self.put("empty cell")
                continue
            self.value(contents, set())
        names = _code_names(function.__code__)
        for name in sorted(names):
            if name in function.__globals__:
                self.put("global", name)
                self.value(function.__globals__[name], names)
            elif hasattr(builtins, name):
                self.put("builtin", name)
            # else: an attribute name only; it matters through the module it is looked up on (see `value`)

    def value(self, obj: Any, names: set[str]) -> None:
        """Hash `obj`; `names` are the code's names, looked up as attributes when `obj` is a module."""
        kind = type(obj)
        if obj is None or kind in (bool, int, float, complex, str, bytes):
            self.put(kind.__name__, repr(obj))
        elif isinstance(obj, np.generic):
            self.put("np.generic", obj.dtype.str, np.asarray(obj).tobytes())
        elif isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise _Unfingerprintable("object array")
            self.put("ndarray", obj.dtype.str, repr((obj.shape, obj.flags.c_contiguous, obj.flags.f_contiguous,
                                                     obj.flags.writeable)), np.ascontiguousarray(obj).tobytes())
        elif kind in (tuple, list, frozenset):
            self.put(kind.__name__, str(len(obj)))
            items = sorted(obj, key=repr) if kind is frozenset else obj  # set order varies with PYTHONHASHSEED
            for item in items:
                self.value(item, names)
        elif kind is dict:
            if not all(isinstance(key, str) for key in obj):
                raise _Unfingerprintable("dict with non-string keys")
            self.put("dict", str(len(obj)))
            for key in sorted(obj):
                self.put(key)
                self.value(obj[key], names)
        elif isinstance(obj, types.ModuleType):
            self.module(obj, names)
        elif isinstance(obj, numba.core.types.Type):
            self.put("numba type", str(obj))
        elif (name := _named_library_object(obj)) is not None:
            self.put("library", name)
        elif isinstance(obj, Dispatcher):
            if self._visit(obj):
                self.put("dispatcher", kind.__qualname__)
                self.value(dict(obj.targetoptions), set())
                self.value({key: str(value) for key, value in obj.locals.items()}, set())
                self.function(obj.py_func)
        elif isinstance(obj, types.FunctionType):  # e.g. a `numba.extending.register_jitable` helper
            self.function(obj)
        else:
            raise _Unfingerprintable(f"{kind.__module__}.{kind.__qualname__}")

    def module(self, module: types.ModuleType, names: set[str]) -> None:
        """A module by name; for one outside the libraries, also the attributes the code may read from it
        (`consts.GRAVITY`), since Numba freezes those as constants."""
        self.put("module", module.__name__)
        if _is_library(module.__name__):
            return
        # Hashed again for every function that reads it: each reads its own attributes.
        if any(module is open_module for open_module in self._open_modules):
            self.put("open module")
            return
        self._open_modules.append(module)
        for name in sorted(names):
            if name in vars(module):
                self.put("attribute", name)
                self.value(vars(module)[name], names)
        self._open_modules.pop()


def _environment(fingerprinter: _Fingerprinter) -> None:
    """The interpreter, the libraries and the Numba settings the compiled code depends on."""
    fingerprinter.put(sys.version, np.__version__, numba.__version__, llvmlite.__version__)
    fingerprinter.put(repr([(name, str(getattr(numba.config, name, None))) for name in _CODEGEN_CONFIG]))


def env_fingerprint(functions: Iterable[Callable]) -> str | None:
    """A sha256 over everything the compiled `functions` (Python functions or Numba dispatchers) depend on:
    their code, closures and defaults, the globals and module constants they read, and recursively every
    helper they call; plus the Python, NumPy and Numba versions. None if something referenced cannot be
    fingerprinted (an arbitrary object, a class of our own): such an env is compiled, not cached."""
    fingerprinter = _Fingerprinter()
    _environment(fingerprinter)
    try:
        for function in functions:
            fingerprinter.value(function, set())
    except _Unfingerprintable:
        return None
    return fingerprinter.hexdigest()


def _own_fingerprint(py_func: types.FunctionType) -> str | None:
    """The kernel's own code and globals; its closure cells (the env's functions) are the env fingerprint."""
    fingerprinter = _Fingerprinter()
    try:
        fingerprinter.function(py_func, closure=False)
    except _Unfingerprintable:
        return None
    return fingerprinter.hexdigest()


class _FingerprintCache(FunctionCache):
    """Numba's per-function disk cache, keyed by `key` (kernel code, env fingerprint, compile options)
    instead of the pickled closure cells."""

    def __init__(self, py_func: types.FunctionType, key: str) -> None:
        super().__init__(py_func)
        self._key = key
        # One index file per key: kernels of different envs share a qualname, and Numba's read-modify-write
        # of an index is not atomic across processes.
        self._cache_file = IndexDataCacheFile(cache_path=self._cache_path,
                                              filename_base=f"{self._impl.filename_base}-{key[:16]}",
                                              source_stamp=self._impl.locator.get_source_stamp())

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        cres = super().load_overload(sig, target_context)
        # Two processes saving different signatures at once can leave the index naming the other's data
        # file (Numba's save is index, then data, unlocked): never run code compiled for other types.
        if cres is not None and tuple(cres.signature.args) != tuple(sigutils.normalize_signature(sig)[0]):
            return None
        return cres

    def _index_key(self, sig: Any, codegen: Any) -> tuple:
        # As Numba's, less the closure pickle: the signature and the target machine, then our key.
        return sig, codegen.magic_tuple(), self._key


def _numba_supports_cache_override() -> bool:
    """Whether this Numba has the private hooks `cached_njit` replaces; if not, kernels are just compiled."""
    try:
        parameters = list(inspect.signature(FunctionCache._index_key).parameters)
    except (AttributeError, TypeError, ValueError):
        return False
    return parameters == ["self", "sig", "codegen"]


def cached_njit(py_func: types.FunctionType, fingerprint: str | None, **options: Any) -> Callable:
    """`numba.njit(**options)(py_func)`, cached on disk under `fingerprint` (see :func:`env_fingerprint`).

    Compiled without a disk cache when `fingerprint` or the kernel's own fingerprint is None, when
    `RLP_KERNEL_CACHE=0`, when no writable cache directory exists (Numba's rules: `NUMBA_CACHE_DIR`,
    else `__pycache__` next to the kernel's source, else a user-wide directory) or when this Numba's
    private cache hooks differ from those this module was written for.
    """
    dispatcher = numba.njit(**options)(py_func)
    if fingerprint is None or not cache_enabled() or not _numba_supports_cache_override():
        return dispatcher
    own = _own_fingerprint(py_func)
    if own is None or not isinstance(getattr(dispatcher, "_cache", None), NullCache):
        return dispatcher
    # The same kernel is compiled with different options (parallel or not): they must not share entries.
    key = hashlib.sha256(repr((own, fingerprint, sorted(dispatcher.targetoptions.items()))).encode()).hexdigest()
    # RuntimeError: "no locator available" (no writable cache directory): compile without a cache.
    with contextlib.suppress(RuntimeError, OSError):
        dispatcher._cache = _FingerprintCache(py_func, key)
    return dispatcher
