"""Output models built without validation: the engine's own cheap constructors.

The engine and the per-member step (:mod:`eligibility.compile.members_py`) build every part of a
decision from values they computed themselves, so pydantic's validation — and even ``model_construct``
/ ``model_copy`` with their per-call bookkeeping (defaults looked up, aliases checked, a copy of
``__dict__`` and of the fields-set) — would be pure cost on the hot path. These three functions set
exactly the state pydantic itself would set; the tests validate the shapes they produce against the
models. Both modules import them from here, because :mod:`eligibility.engine` imports ``members_py``.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from pydantic import BaseModel

__all__ = ["clone", "new", "raw"]

_M = TypeVar("_M", bound=BaseModel)

_SHAPES: dict[type[BaseModel], tuple[tuple[str, ...], dict[str, Any]]] = {}


def new(cls: type[_M], **values: Any) -> _M:
    """An output model built without validation (what ``model_construct`` does, without its per-call
    bookkeeping): the engine builds these values itself, and the tests validate their shape."""
    shape = _SHAPES.get(cls)
    if shape is None:
        fields = cls.model_fields
        shape = _SHAPES[cls] = (
            tuple(fields),
            {n: f.get_default(call_default_factory=True) for n, f in fields.items() if not f.is_required()},
        )
    names, defaults = shape
    # In field order: the serialiser writes ``__dict__`` in its own order.
    data = {name: values[name] if name in values else defaults[name] for name in names}
    return raw(cls, data, set(values))


def clone(obj: _M, **changes: Any) -> _M:
    """A copy of an output model with some fields replaced (no validation: the engine's own values) —
    what ``model_copy(update=changes)`` gives, fields-set included."""
    data = dict(obj.__dict__)
    data.update(changes)
    return raw(type(obj), data, obj.__pydantic_fields_set__ | changes.keys())


# The slots pydantic keeps an instance's state in, set through their descriptors: ``object.__setattr__``
# looks each one up through the class's MRO on every call, which made a third of building a finding.
_SLOTS: Final = BaseModel.__dict__
_set_dict: Final = _SLOTS["__dict__"].__set__
_set_fields_set: Final = _SLOTS["__pydantic_fields_set__"].__set__
_set_extra: Final = _SLOTS["__pydantic_extra__"].__set__
_set_private: Final = _SLOTS["__pydantic_private__"].__set__
_alloc: Final = object.__new__  # what ``BaseModel.__new__`` is: pydantic defines none


def raw(cls: type[_M], data: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance of ``cls`` holding ``data`` as is — the state pydantic itself would set. ``data`` must
    hold every field, in field order; ``fields_set`` becomes the instance's own (do not share it)."""
    obj: _M = _alloc(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj
