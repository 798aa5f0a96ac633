"""The episode groups of Minari's `main_data.hdf5`, written and read through HDF5's C API (by ctypes, in the
libhdf5 that h5py has loaded) where that library can be found, else through h5py.

h5py wraps every HDF5 object in a Python object (a few us each) and an episode is ~25 HDF5 calls: the C API
writes ~2.5x as many episodes per second as h5py's low-level API (~5x its high-level one) and reads ~4.5x
as many as h5py's high-level API.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

EPISODE_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")
_KEY_NAMES = tuple(key.encode() for key in EPISODE_KEYS)
# h5py serializes every HDF5 call it makes with this lock; holding it around ours keeps h5py in another thread
# from running HDF5 at the same time
_H5PY_LOCK = getattr(getattr(h5py, "_objects", None), "phil", None) or contextlib.nullcontext()


class EpisodeFormatError(ValueError):
    """An episode group without Minari's arrays, or with arrays of the wrong shape."""


class _HDF5:
    """The few HDF5 C functions the fast paths call, from the libhdf5 h5py has loaded (found in
    /proc/self/maps: Linux only; elsewhere h5py does the work)."""

    # name: "result type:argument types", h = hid_t (int64), i = int / herr_t, s = char *, p = pointer
    _SIGNATURES = {
        "H5Gcreate2": "h:hshhh", "H5Gopen2": "h:hsh", "H5Gclose": "i:h", "H5Screate_simple": "h:ipp",
        "H5Sclose": "i:h", "H5Sget_simple_extent_ndims": "i:h", "H5Sget_simple_extent_dims": "i:hpp",
        "H5Dcreate2": "h:hshhhhh", "H5Dopen2": "h:hsh", "H5Dget_space": "h:h", "H5Dwrite": "i:hhhhhp",
        "H5Dread": "i:hhhhhp", "H5Dclose": "i:h", "H5Acreate2": "h:hshhhh", "H5Awrite": "i:hhp", "H5Aclose": "i:h",
    }
    _CTYPES = {"h": ctypes.c_int64, "s": ctypes.c_char_p, "i": ctypes.c_int, "p": ctypes.c_void_p}

    def __init__(self, library: str) -> None:
        lib = ctypes.CDLL(library)
        for function, signature in self._SIGNATURES.items():
            result, args = signature.split(":")
            call = getattr(lib, function)
            call.argtypes = [self._CTYPES[a] for a in args]
            call.restype = self._CTYPES[result]
            call.errcheck = self._check
            setattr(self, function[2:], call)
        self._types: dict[np.dtype, Any] = {}  # h5py TypeIDs, held so that their ids stay open

    @staticmethod
    def _check(result: int, function: Any, args: tuple) -> int:
        if result < 0:
            raise OSError(f"HDF5 {function.__name__} failed")
        return result

    def type_id(self, dtype: np.dtype) -> int:
        """The HDF5 type h5py gives `dtype` (bool is h5py's enum, as Minari's files hold it)."""
        if dtype not in self._types:
            self._types[dtype] = h5py.h5t.py_create(dtype, logical=True)
        return self._types[dtype].id

    @staticmethod
    @functools.cache
    def loaded() -> _HDF5 | None:
        try:
            with open("/proc/self/maps", encoding="utf-8") as maps:
                found = re.search(r"(/\S*/libhdf5(?:-[0-9a-f]+)?\.so[^/\s]*)", maps.read())
        except OSError:
            return None
        return _HDF5(found.group(1)) if found else None


class EpisodeWriter:
    """Appends episodes in Minari's layout to a new HDF5 file: group `episode_<i>` with attributes `id`,
    `total_steps` (and `seed` when known) and one array per name in EPISODE_KEYS."""

    def __init__(self, path: Path) -> None:
        self.lib = _HDF5.loaded()
        self.file = h5py.File(path, "w-")
        self.num_episodes = self.num_steps = 0
        self._dims = (ctypes.c_uint64 * 32)()  # HDF5's highest rank
        self._value = np.zeros(1, np.int64)
        self._scalar = h5py.h5s.create(h5py.h5s.SCALAR)

    def add(self, arrays: tuple[np.ndarray, ...], seed: int | None) -> None:
        """Write one episode: C-contiguous `arrays` in EPISODE_KEYS order."""
        index, steps = self.num_episodes, len(arrays[2])
        attrs = {"id": index, "total_steps": steps} if seed is None else \
            {"id": index, "seed": int(seed), "total_steps": steps}
        if self.lib is None:
            group = self.file.create_group(f"episode_{index}")
            group.attrs.update({key: np.int64(value) for key, value in attrs.items()})
            for key, data in zip(EPISODE_KEYS, arrays, strict=True):
                group.create_dataset(key, data=data)
        else:
            self._add_fast(self.lib, index, attrs, arrays)
        self.num_episodes += 1
        self.num_steps += steps

    def _add_fast(self, lib: _HDF5, index: int, attrs: dict[str, int], arrays: tuple[np.ndarray, ...]) -> None:
        with _H5PY_LOCK:
            self._add_locked(lib, index, attrs, arrays)

    def _add_locked(self, lib: _HDF5, index: int, attrs: dict[str, int], arrays: tuple[np.ndarray, ...]) -> None:
        group = lib.Gcreate2(self.file.id.id, b"episode_%d" % index, 0, 0, 0)
        try:
            int64, value_address = lib.type_id(np.dtype(np.int64)), self._value.ctypes.data
            for key, value in attrs.items():
                attr = lib.Acreate2(group, key.encode(), int64, self._scalar.id, 0, 0)
                self._value[0] = value
                lib.Awrite(attr, int64, value_address)
                lib.Aclose(attr)
            for key, data in zip(_KEY_NAMES, arrays, strict=True):
                self._dims[:data.ndim] = data.shape
                space = lib.Screate_simple(data.ndim, self._dims, None)
                type_id = lib.type_id(data.dtype)
                dset = lib.Dcreate2(group, key, type_id, space, 0, 0, 0)
                lib.Sclose(space)
                if data.size:
                    lib.Dwrite(dset, type_id, 0, 0, 0, data.ctypes.data)
                lib.Dclose(dset)
        finally:
            lib.Gclose(group)

    def close(self) -> None:
        self.file.close()


def read_episodes(file: h5py.File, total_episodes: int, layout: dict[str, tuple[np.dtype, tuple[int, ...]]]
                  ) -> Iterator[dict[str, np.ndarray]]:
    """Episodes 0 .. `total_episodes`-1 of an open file as dicts of arrays, each valid until the next one is read.

    Through the C API every array is read as `layout[key]`'s dtype into a reused buffer, its row shape checked
    against `layout` first; through h5py, as stored. EpisodeFormatError for a missing group or array."""
    lib = _HDF5.loaded()
    return _h5py_episodes(file, total_episodes) if lib is None else _fast_episodes(lib, file, total_episodes, layout)


def _h5py_episodes(file: h5py.File, total_episodes: int) -> Iterator[dict[str, np.ndarray]]:
    for index in range(total_episodes):
        group = file.get(f"episode_{index}")
        if not isinstance(group, h5py.Group):
            raise EpisodeFormatError(f"the file has no group 'episode_{index}' (it should have {total_episodes}).")
        episode = {}
        for key in EPISODE_KEYS:
            dset = group.get(key)
            if not isinstance(dset, h5py.Dataset):
                raise EpisodeFormatError(f"episode {index} has no '{key}' array.")
            episode[key] = dset[()]
        yield episode


def _fast_episodes(lib: _HDF5, file: h5py.File, total_episodes: int,
                   layout: dict[str, tuple[np.dtype, tuple[int, ...]]]) -> Iterator[dict[str, np.ndarray]]:
    buffers = {key: np.empty((64, *shape), dtype) for key, (dtype, shape) in layout.items()}
    dims = (ctypes.c_uint64 * 32)()
    for index in range(total_episodes):
        with _H5PY_LOCK:
            episode = _read_fast(lib, file, index, total_episodes, layout, buffers, dims)
        yield episode


def _read_fast(lib: _HDF5, file: h5py.File, index: int, total_episodes: int,
               layout: dict[str, tuple[np.dtype, tuple[int, ...]]], buffers: dict[str, np.ndarray],
               dims: Any) -> dict[str, np.ndarray]:
    """Episode `index` read into `buffers` (each grown where too short)."""
    try:
        group = lib.Gopen2(file.id.id, b"episode_%d" % index, 0)
    except OSError:
        raise EpisodeFormatError(f"the file has no group 'episode_{index}' (it should have "
                                 f"{total_episodes}).") from None
    episode = {}
    try:
        for key, name in zip(EPISODE_KEYS, _KEY_NAMES, strict=True):
            dtype, row_shape = layout[key]
            try:
                dset = lib.Dopen2(group, name, 0)
            except OSError:
                raise EpisodeFormatError(f"episode {index} has no '{key}' array.") from None
            try:
                space = lib.Dget_space(dset)
                rank = lib.Sget_simple_extent_ndims(space)
                lib.Sget_simple_extent_dims(space, dims, None)
                lib.Sclose(space)
                rows = dims[0] if rank else 0
                if rank != 1 + len(row_shape) or tuple(dims[1:rank]) != row_shape:  # before HDF5 fills a buffer
                    raise EpisodeFormatError(f"episode {index} is inconsistent: '{key}' has shape "
                                             f"{tuple(dims[:rank])}, the dataset's spaces need rows of {row_shape}.")
                if rows > len(buffers[key]):
                    buffers[key] = np.empty((2 * rows, *row_shape), dtype)
                if rows:
                    lib.Dread(dset, lib.type_id(dtype), 0, 0, 0, buffers[key].ctypes.data)
                episode[key] = buffers[key][:rows]
            finally:
                lib.Dclose(dset)
    finally:
        lib.Gclose(group)
    return episode
