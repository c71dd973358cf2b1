"""remotezoo's extensions are built once against the limited API (abi3) of its oldest CPython,
and declare to each CPython the module slots it knows: Py_mod_multiple_interpreters (3.12+,
supported with the main GIL) and Py_mod_gil (3.13+, the GIL is needed) — never a slot an older
CPython would refuse. The slots are read back from the module definitions CPython holds."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

import remotezoo._core as core
import remotezoo._net as net

PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL = 2, 3, 4


class Slot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]


def slots(module: object) -> dict[int, int]:
    """The (slot, value) pairs of module's PyModuleDef, as CPython holds it."""
    get_def = ctypes.pythonapi.PyModule_GetDef
    get_def.restype, get_def.argtypes = ctypes.c_void_p, [ctypes.py_object]
    definition = get_def(module)
    assert definition
    # PyModuleDef: PyModuleDef_Base (PyObject_HEAD, m_init, m_index, m_copy), then m_name,
    # m_doc, m_size, m_methods, m_slots: every member pointer-sized.
    pointer = ctypes.sizeof(ctypes.c_void_p)
    head = ctypes.sizeof(ctypes.c_ssize_t) + pointer  # ob_refcnt, ob_type
    m_slots = ctypes.c_void_p.from_address(definition + head + 3 * pointer + 4 * pointer).value
    out = {}
    for i in range(8):
        slot = Slot.from_address(m_slots + i * ctypes.sizeof(Slot))
        if slot.slot == 0:
            break
        out[slot.slot] = slot.value or 0
    return out


@pytest.mark.parametrize("module", [core, net], ids=["_core", "_net"])
def test_the_module_declares_the_slots_this_cpython_knows(module: object) -> None:
    found = slots(module)
    assert PY_MOD_EXEC in found
    if sys.version_info >= (3, 12):
        assert found[PY_MOD_MULTIPLE_INTERPRETERS] == 1  # supported, sharing the main GIL
    else:
        assert PY_MOD_MULTIPLE_INTERPRETERS not in found
    if sys.version_info >= (3, 13):
        assert found[PY_MOD_GIL] == 0  # Py_MOD_GIL_USED: it relies on the GIL
    else:
        assert PY_MOD_GIL not in found
    assert set(found) <= {PY_MOD_EXEC, PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL}


def test_the_extensions_are_abi3() -> None:
    for module in (core, net):
        assert Path(module.__file__).name.endswith(".abi3.so"), module.__file__
