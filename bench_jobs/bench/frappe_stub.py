"""A stand-in `frappe` module, so a hooks.py that imports frappe can run where Frappe is not installed.

A Frappe app's hooks.py is Python that Frappe imports: it may `from frappe import _`, read `frappe.conf`,
call helpers, update `scheduler_events` after the literal, or branch on config. Reading only the literal
loses such events, so when the real `frappe` cannot be imported the file is executed with this stand-in
in `sys.modules` for the duration of that one execution (`installed()`), and everything it imported
under it is removed afterwards: no module of this process keeps a reference to the stand-in.

Names hooks files use get a faithful small version (`_`, `_dict`, `conf`, `local`, `flags`, `get_hooks`,
`get_conf`, `whitelist`, `utils.cint`...; `db` is there, as when Frappe syncs scheduled jobs). Any other
name is `Unknown`: callable, subscriptable, falsy and empty, so a hooks.py that merely touches
`frappe.cache` at import time still runs; a value built from it is not a dict, so it cannot pass for
scheduler events. A hooks.py whose events come out empty outside a site is flagged by the caller.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Iterator
from typing import Any

STUB_MARK = "__bench_jobs_stub__"


class Unknown:
    """Whatever a name of frappe that the stand-in does not model evaluates to."""

    def __call__(self, *args: Any, **kwargs: Any) -> Unknown:
        return Unknown()

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown()

    def __getitem__(self, key: Any) -> Unknown:
        return Unknown()

    def __bool__(self) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<frappe stand-in value>"


class Connected(Unknown):
    """`frappe.db`: Frappe reads hooks with the site's database connected (`bench migrate` syncs the
    scheduled jobs), so `if frappe.db:` holds; what is asked of it is still Unknown."""

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<frappe stand-in database>"


class FrappeDict(dict):  # type: ignore[type-arg]
    """frappe._dict: a dict whose keys are attributes too; a missing attribute is None."""

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def _translate(text: Any, *args: Any, **kwargs: Any) -> Any:
    return text


def _whitelist(*args: Any, **kwargs: Any) -> Any:
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn


def _cint(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _flt(value: Any, precision: int | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return round(number, precision) if precision is not None else number


def _cstr(value: Any, encoding: str = "utf-8") -> str:
    if value is None:
        return ""
    return value.decode(encoding) if isinstance(value, bytes) else str(value)


class StubModule(types.ModuleType):
    """A module of the stand-in: modelled names are attributes, any other is Unknown."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown()


def _populate(module: StubModule, conf: dict[str, Any], apps: list[str]) -> None:
    setattr(module, STUB_MARK, True)
    if module.__name__ == "frappe":
        frappe_conf = FrappeDict(conf)
        module.__dict__.update(
            _=_translate, _dict=FrappeDict, conf=frappe_conf, flags=FrappeDict(), db=Connected(),
            local=FrappeDict(conf=frappe_conf, site=None, flags=FrappeDict()),
            get_conf=lambda *a, **k: frappe_conf, get_site_config=lambda *a, **k: frappe_conf,
            get_hooks=lambda hook=None, default=None, app_name=None: FrappeDict() if hook is None else
            (default if default is not None else []),
            get_installed_apps=lambda *a, **k: list(apps), get_all_apps=lambda *a, **k: list(apps),
            whitelist=_whitelist, scrub=lambda text: str(text).replace(" ", "_").replace("-", "_").lower(),
            cint=_cint, flt=_flt, cstr=_cstr,
        )
    elif module.__name__ == "frappe.utils":
        module.__dict__.update(cint=_cint, flt=_flt, cstr=_cstr, sbool=lambda v: str(v).lower() in ("1", "true"))


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of `frappe` and `frappe.*` with stand-in modules (any submodule exists)."""

    def __init__(self, conf: dict[str, Any], apps: list[str]) -> None:
        self.conf, self.apps = conf, apps

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "frappe" or fullname.startswith("frappe."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = StubModule(spec.name)
        module.__path__ = []  # a package, so `import frappe.utils.data` resolves too
        _populate(module, self.conf, self.apps)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        parent, _, child = module.__name__.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, module)


@contextlib.contextmanager
def installed(conf: dict[str, Any], apps: list[str], owned: tuple[str, ...] = ()) -> Iterator[None]:
    """The stand-in answers `import frappe` inside the block. Afterwards every module imported during
    the block that is frappe's or belongs to a package in `owned` (the bench's apps, which may have
    bound the stand-in) is dropped, and sys.modules and sys.meta_path are as they were."""
    before = set(sys.modules)
    saved = {name: module for name, module in sys.modules.items()
             if name == "frappe" or name.startswith("frappe.")}
    for name in saved:
        del sys.modules[name]
    finder = _Finder(conf, apps)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        tops = {"frappe", *owned}
        for name in [n for n in sys.modules if n not in before or n in saved]:
            if name.partition(".")[0] in tops:
                del sys.modules[name]
        sys.modules.update(saved)


def importable() -> bool:
    """Whether the real frappe can be imported here (then hooks run against it, as in Frappe)."""
    import importlib.util

    module = sys.modules.get("frappe")
    if module is not None:
        return not getattr(module, STUB_MARK, False)
    try:
        return importlib.util.find_spec("frappe") is not None
    except (ImportError, ValueError):
        return False
