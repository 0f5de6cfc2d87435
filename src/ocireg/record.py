"""``@record``: ocireg's value classes, as ``@dataclasses.dataclass`` writes them, without its start-up cost.

``import dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``), and every decorated class
compiles its methods one by one: together about 25 ms of CPU before a check sends its one HEAD, a quarter of
ocireg's own start-up (#16, bench/RESULTS.md). ``record`` writes the same methods (``__init__`` calling
``__post_init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__match_args__`` and, with ``frozen=True``,
assignment refused) from one generated source per class, and imports nothing.

For the type checker, ``record``, ``field`` and ``replace`` *are* the dataclasses ones (the ``TYPE_CHECKING``
branch at the end), so mypy checks constructors, defaults and immutability as for any dataclass. What ocireg
uses is supported: ``frozen``, ``field(default=, default_factory=, init=, repr=, compare=)``, methods written in
the class body kept. Not supported (refused or absent): inheritance between records, ``ClassVar`` fields,
``kw_only``, ``slots``, ``order``. Records are not dataclasses to ``dataclasses.fields()``; use :func:`replace`.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FrozenInstanceError", "field", "record", "replace"]


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


_MISSING = object()


class _Field:
    __slots__ = ("compare", "default", "default_factory", "hash", "init", "name", "repr")

    def __init__(
        self,
        *,
        default: object = _MISSING,
        default_factory: object = _MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
        hash: bool | None = None,
    ) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.hash = compare if hash is None else hash
        self.name = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING or self.default_factory is not _MISSING


_field = _Field  # ``field(default=..., ...)``: the options as keywords, as ``dataclasses.field``


def _record(cls: type | None = None, /, *, frozen: bool = False) -> object:
    """The class decorator: ``@record`` or ``@record(frozen=True)``."""

    def wrap(cls: type) -> type:
        return _process(cls, frozen=frozen)

    return wrap if cls is None else wrap(cls)


def _replace(obj: object, /, **changes: object) -> object:
    """A copy of the record ``obj`` with ``changes``, made through ``__init__`` (as ``dataclasses.replace``)."""
    fields: tuple[_Field, ...] = type(obj).__record_fields__  # type: ignore[attr-defined]
    for f in fields:
        if not f.init:
            if f.name in changes:
                raise ValueError(
                    f"field {f.name} is declared with init=False, it cannot be specified with replace()"
                )
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def _fields(cls: type) -> list[_Field]:
    for base in cls.__mro__[1:]:
        if hasattr(base, "__record_fields__"):
            raise TypeError(f"{cls.__qualname__}: a record cannot inherit from a record")
    fields = []
    annotations: dict[str, object] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - no inspect
    for name, annotation in annotations.items():
        if isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar")):
            raise TypeError(f"{cls.__qualname__}.{name}: ClassVar is not supported by @record")
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, _Field) else _Field(default=value)
        f.name = name
        if isinstance(value, _Field):  # the class attribute becomes the plain default, as with dataclasses
            if f.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        fields.append(f)
    return fields


_REQUIRED, _DEFAULT, _FACTORY = 0, 1, 2


def _plan(f: _Field) -> tuple[str, int, object]:
    if f.default is not _MISSING:
        return (f.name, _DEFAULT, f.default)
    if f.default_factory is not _MISSING:
        return (f.name, _FACTORY, f.default_factory)
    return (f.name, _REQUIRED, None)


def _binder(cls: type, init: tuple[tuple[str, int, object], ...]) -> Callable[..., list[object]]:
    """The slow path of ``__init__``: keywords and defaults bound to a list of values in field order."""
    what = f"{cls.__qualname__}.__init__()"

    def bind(args: tuple[object, ...], kwargs: dict[str, object]) -> list[object]:
        if len(args) > len(init):
            raise TypeError(
                f"{what} takes {len(init) + 1} positional arguments but {len(args) + 1} were given"
            )
        for name, _, _ in init[: len(args)]:
            if name in kwargs:
                raise TypeError(f"{what} got multiple values for argument {name!r}")
        values = list(args)
        for name, kind, default in init[len(args) :]:
            if name in kwargs:
                values.append(kwargs.pop(name))
            elif kind == _REQUIRED:
                raise TypeError(f"{what} missing 1 required positional argument: {name!r}")
            else:
                values.append(default() if kind == _FACTORY else default)  # type: ignore[operator]
        for name in kwargs:
            raise TypeError(f"{what} got an unexpected keyword argument {name!r}")
        return values

    return bind


def _make_init(cls: type, fields: list[_Field], *, frozen: bool) -> Callable[..., None]:
    """``__init__(self, *args, **kwargs)``, binding as the generated dataclass ``__init__`` does.

    Generic rather than generated: compiling a method's source costs about 0.4 ms per class, more than the class
    statement itself, and a check defines some twenty records before its first request (#16).
    """
    init = tuple(_plan(f) for f in fields if f.init)
    defaulted = [kind != _REQUIRED for _, kind, _ in init]
    if any(defaulted) and not all(defaulted[defaulted.index(True) :]):
        raise TypeError(f"{cls.__qualname__}: a field without a default follows a field with one")
    rest = tuple(_plan(f) for f in fields if not f.init and f.has_default)
    names = tuple(name for name, _, _ in init)
    bind = _binder(cls, init)
    set_ = object.__setattr__ if frozen else setattr
    post_init = cls.__dict__.get("__post_init__")

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        values = args if len(args) == len(names) and not kwargs else bind(args, kwargs)
        for name, value in zip(names, values, strict=True):
            set_(self, name, value)
        for name, kind, default in rest:
            set_(self, name, default() if kind == _FACTORY else default)  # type: ignore[operator]
        if post_init is not None:
            post_init(self)

    return __init__


def _key(names: tuple[str, ...]) -> Callable[[object], tuple[object, ...]]:
    """The tuple of the attributes ``names`` of an object (attrgetter returns a bare value for one name)."""
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda obj: (get(obj),)
    return attrgetter(*names) if names else (lambda obj: ())


def _methods(cls: type, fields: list[_Field]) -> dict[str, Callable[..., object]]:
    """``__repr__``, ``__eq__``, ``__hash__`` and the frozen ``__setattr__``/``__delattr__`` of ``cls``."""
    shown = tuple(f.name for f in fields if f.repr)
    compared = tuple(f.name for f in fields if f.compare)
    field_names = frozenset(f.name for f in fields)
    key, hash_key = _key(compared), _key(tuple(f.name for f in fields if f.hash))

    def __repr__(self: object) -> str:
        inner = ", ".join([f"{name}={getattr(self, name)!r}" for name in shown])
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(key(self) == key(other))
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(hash_key(self))

    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in field_names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in field_names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    return {
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
    }


def _process(cls: type, *, frozen: bool) -> type:
    fields = _fields(cls)
    methods = {"__init__": _make_init(cls, fields, frozen=frozen), **_methods(cls, fields)}
    wanted = ("__init__", "__repr__", "__eq__") + (
        ("__hash__", "__setattr__", "__delattr__") if frozen else ()
    )
    for name in wanted:
        if name in cls.__dict__ and not (name == "__hash__" and cls.__dict__[name] is None):
            continue  # written in the class body: kept, as dataclasses keeps it
        method = methods[name]
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    if not frozen and "__hash__" not in cls.__dict__:
        setattr(cls, "__hash__", None)  # noqa: B010 - eq without frozen: unhashable, as with dataclasses
    setattr(cls, "__match_args__", tuple(f.name for f in fields if f.init))  # noqa: B010 - mypy: read-only
    setattr(cls, "__record_fields__", tuple(fields))  # noqa: B010
    return cls


if TYPE_CHECKING:
    from dataclasses import dataclass as record
    from dataclasses import field, replace
else:
    record, field, replace = _record, _field, _replace
