"""Find and build the model a twin definition names: catalog, file, module or plug-in.

A binding's ``model:`` is resolved in this order:

1. a name of the catalog (:data:`twinworks.models.catalog.LIBRARY`): ``cnc_machine``,
   ``rule_model``, ``sklearn_model``, ``fmu_model``, ``composite``, … (or the class
   name the documentation uses: ``RuleModel``, ``FmuModel``, …);
2. ``path/to/file.py:Class`` — a Python file, relative to the definition file's folder;
3. ``package.module:Class`` — a module on the Python path;
4. a name that an installed package registers in the ``twinworks.models`` entry-point
   group (``[project.entry-points."twinworks.models"] gearbox = "acme.models:Gearbox"``).

The target is a :class:`~twinworks.models.base.Model` subclass or a factory returning a
model; it is called with the binding's ``options`` and ``parameters`` as keyword
arguments. Options named in the target's ``file_options`` are file paths, resolved
relative to the definition file too.

Loading a model file runs its code, with the rights of the process (see
docs/security.md). Each file is loaded once into its own module
(``twinworks_user_models.<name>_<hash>``): nothing is added to ``sys.path``, and
naming the same file twice gives the same class.

Every failure is a :class:`ModelLoadError` that says what was wrong and, when the
fault is in the model's own code, the model file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import threading
import traceback
import types
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from twinworks.errors import TwinworksError
from twinworks.models.base import Model, ModelContractError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelLoadError",
    "build_model",
    "load_file_module",
    "resolve_model",
]

ENTRY_POINT_GROUP = "twinworks.models"
_NAMESPACE = "twinworks_user_models"
# re-entrant: a model file may itself build models from files while it is imported
_lock = threading.RLock()
_files: dict[Path, types.ModuleType] = {}
_PACKAGE = Path(__file__).resolve().parent.parent  # twinworks itself


class ModelLoadError(TwinworksError):
    """A model reference that cannot be resolved or built.

    ``file`` and ``line`` locate the fault in the model's own code when there is one;
    ``expected`` says what would have worked.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.expected = expected
        where = f"{file}, line {line}: " if file and line else f"{file}: " if file else ""
        super().__init__(where + message)


def _where_in(exc: BaseException, file: Path | None) -> int | None:
    """The line of ``file`` (the model's own code) where ``exc`` was raised, if any."""
    if (
        isinstance(exc, SyntaxError)
        and exc.filename
        and file is not None
        and Path(exc.filename).resolve() == file
    ):
        return exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if file is None or Path(frame.filename).resolve() == file:
            if file is None and "twinworks" in Path(frame.filename).parts:
                continue
            return frame.lineno
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def load_file_module(path: str | Path) -> types.ModuleType:
    """Import a Python file as its own module, once per file (the same module after)."""
    file = Path(path).resolve()
    with _lock:
        module = _files.get(file)
        if module is not None:
            return module
        if not file.is_file():
            raise ModelLoadError(
                "the model file does not exist",
                file=str(path),
                expected="a Python file, relative to the definition file's folder",
            )
        digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
        stem = "".join(c if c.isalnum() else "_" for c in file.stem)
        name = f"{_NAMESPACE}.{stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise ModelLoadError("not a Python source file", file=str(file))
        if _NAMESPACE not in sys.modules:
            # a namespace parent, so the module's qualified name (and pickling) works
            parent = types.ModuleType(_NAMESPACE)
            parent.__path__ = []
            sys.modules[_NAMESPACE] = parent
        module = importlib.util.module_from_spec(spec)
        # registered before running, as importlib does: dataclasses and pickle look it up
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ModelContractError as exc:
            del sys.modules[name]
            raise ModelLoadError(
                f"the class breaks the model contract: {exc}",
                file=str(file),
                line=_where_in(exc, file),
            ) from None
        except BaseException as exc:  # the user's code may raise anything at import
            del sys.modules[name]
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise ModelLoadError(
                f"the model file does not import: {_describe(exc)}",
                file=str(file),
                line=_where_in(exc, file),
            ) from None
        _files[file] = module
        return module


def _attribute(module: types.ModuleType, attr: str, ref: str, file: str | None) -> Any:
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            found = sorted(
                n
                for n, v in vars(module).items()
                if isinstance(v, type) and issubclass(v, Model) and v.__module__ == module.__name__
            )
            raise ModelLoadError(
                f"{ref}: no class or factory {attr!r} in the module",
                file=file,
                expected="one of: " + ", ".join(found) if found else "a Model subclass",
            ) from None
    return target


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_model(ref: str, base_dir: str | Path | None = None) -> Callable[..., Model]:
    """The class or factory ``ref`` names (see the module docstring for the forms)."""
    from twinworks.models.catalog import ALIASES, LIBRARY

    if ref in LIBRARY or ref in ALIASES:
        return LIBRARY[ALIASES.get(ref, ref)]
    if ":" in ref:
        where, _, attr = ref.rpartition(":")
        if not where or not attr:
            raise ModelLoadError(
                f"{ref!r} is not a model reference",
                expected="file.py:Class or package.module:Class",
            )
        if where.endswith(".py") or "/" in where or "\\" in where:
            file = Path(where)
            if not file.is_absolute():
                file = Path(base_dir or ".") / file
            module = load_file_module(file)
            return _checked(_attribute(module, attr, ref, str(file.resolve())), ref, file)
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise ModelLoadError(
                f"{ref}: no module {exc.name!r} on the Python path",
                expected="an installed package, or a file path such as models/gearbox.py:Gearbox",
            ) from None
        except Exception as exc:
            origin = getattr(importlib.util.find_spec(where), "origin", None)
            origin_path = Path(origin).resolve() if origin else None
            raise ModelLoadError(
                f"module {where!r} does not import: {_describe(exc)}",
                file=origin,
                line=_where_in(exc, origin_path),
            ) from None
        return _checked(_attribute(module, attr, ref, module.__file__), ref, None)
    if ref.endswith(".py"):
        raise ModelLoadError(
            f"{ref!r} names a file but not the class in it",
            expected=f"{ref}:ClassName",
        )
    plugins = _plugins()
    if ref in plugins:
        try:
            target = plugins[ref].load()
        except Exception as exc:
            raise ModelLoadError(
                f"the plug-in model {ref!r} ({plugins[ref].value}) does not load: {_describe(exc)}"
            ) from None
        return _checked(target, ref, None)
    names = sorted({*LIBRARY, *plugins})
    raise ModelLoadError(
        f"no model {ref!r}",
        expected="one of: "
        + ", ".join(names)
        + "; or file.py:Class (relative to the definition); or package.module:Class",
    )


def _checked(target: Any, ref: str, file: Path | None) -> Callable[..., Model]:
    if isinstance(target, type) and not issubclass(target, Model):
        raise ModelLoadError(
            f"{ref}: {target.__name__} is not a model",
            file=str(file) if file else None,
            expected="a subclass of twinworks.models.Model",
        )
    if not callable(target):
        raise ModelLoadError(
            f"{ref}: {type(target).__name__} is neither a model class nor a factory",
            expected="a subclass of twinworks.models.Model or a function returning a model",
        )
    return target


def _source_file(target: Any) -> Path | None:
    try:
        source = inspect.getsourcefile(target)
    except TypeError:
        return None
    return Path(source).resolve() if source else None


def build_model(
    ref: str,
    *,
    base_dir: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Model:
    """Resolve ``ref`` and build the model with ``options`` and ``parameters``.

    Options the target lists in ``file_options`` are paths, made absolute against
    ``base_dir`` (the definition file's folder).
    """
    target = resolve_model(ref, base_dir)
    opts = dict(options or {})
    for key in getattr(target, "file_options", ()):
        value = opts.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            opts[key] = str(Path(base_dir or ".") / value)
    params = dict(parameters or {})
    clash = sorted(set(opts) & set(params))
    if clash:
        raise ModelLoadError(
            f"{', '.join(clash)} given both as option and as parameter",
            expected="each name once",
        )
    if target is _composite_class():
        return _composite(ref, base_dir, params, opts)
    file = _source_file(target)
    if file is not None and _PACKAGE in file.parents:
        file = None  # a library model: its message says it all, our lines would not help
    try:
        model = target(**opts, **params)
    except ModelLoadError:
        raise
    except ModelContractError as exc:
        if file is None:
            raise  # a library model's own message names the model and the fix
        line = _where_in(exc, file)
        raise ModelLoadError(
            f"the model breaks the contract: {exc}",
            file=_user_file(file),
            line=line or _class_line(target, file),
        ) from None
    except TypeError as exc:
        line = _where_in(exc, file) if file is not None else None
        if line is None:  # the call itself did not match the signature
            raise ModelLoadError(
                f"{ref} cannot be built with "
                + (", ".join(sorted({*opts, *params})) or "no arguments")
                + f": {exc}",
                expected=_signature(target),
            ) from None
        raise ModelLoadError(
            f"building the model raised {_describe(exc)}", file=_user_file(file), line=line
        ) from None
    except Exception as exc:
        raise ModelLoadError(
            f"building the model raised {_describe(exc)}",
            file=_user_file(file),
            line=_where_in(exc, file) if file is not None else None,
        ) from None
    if not isinstance(model, Model):
        raise ModelLoadError(
            f"{ref} returned a {type(model).__name__}, not a model",
            expected="a twinworks.models.Model instance",
        )
    return model


def _class_line(target: Any, file: Path | None) -> int | None:
    if file is None:
        return None
    try:
        return inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None


def _composite_class() -> Any:
    from twinworks.models.composite import Composite

    return Composite


def _composite(
    ref: str, base_dir: str | Path | None, params: dict[str, Any], opts: dict[str, Any]
) -> Model:
    """A composite from YAML: ``parts`` name → model reference (or a binding-like mapping)."""
    parts = opts.pop("parts", None)
    if not isinstance(parts, Mapping) or not parts:
        raise ModelLoadError(
            f"{ref} needs options.parts",
            expected="parts: {name: model reference or {model:, options:, parameters:}}",
        )
    built: dict[str, Model] = {}
    for name, part in parts.items():
        if isinstance(part, str):
            built[str(name)] = build_model(part, base_dir=base_dir)
        elif isinstance(part, Mapping) and isinstance(part.get("model"), str):
            unknown = sorted(set(part) - {"model", "options", "parameters"})
            if unknown:
                raise ModelLoadError(
                    f"part {name!r} has unknown key(s) {', '.join(unknown)}",
                    expected="model, options, parameters",
                )
            built[str(name)] = build_model(
                part["model"],
                base_dir=base_dir,
                parameters=part.get("parameters"),
                options=part.get("options"),
            )
        else:
            raise ModelLoadError(
                f"part {name!r} is a {type(part).__name__}",
                expected="a model reference or {model:, options:, parameters:}",
            )
    unknown = sorted(set(opts) - {"connect", "name"})
    if unknown:
        raise ModelLoadError(
            f"{ref} has no option(s) {', '.join(unknown)}", expected="parts, connect, name"
        )
    try:
        return _composite_class()(built, parameters=params, **opts)
    except ModelContractError as exc:
        raise ModelLoadError(str(exc)) from None


def _user_file(file: Path | None) -> str | None:
    return str(file) if file is not None else None


def _signature(target: Any) -> str:
    try:
        return (
            f"arguments as in {getattr(target, '__name__', 'the model')}{inspect.signature(target)}"
        )
    except (TypeError, ValueError):
        return "the model's constructor arguments"
