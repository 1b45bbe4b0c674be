"""Value conversion between psrpcore objects and plain Python.

Incoming: command parameters deserialised by psrpcore -> plain Python values.
Outgoing: handler output (plain values, dicts, ``PSObj``) -> psrpcore objects.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSCustomObject,
    PSNoteProperty,
    PSObject,
)

from .events import Error, PSObj

_COR_E_EXCEPTION = -2146233088  # HResult of a plain System.Exception
_PLAIN_SCALARS = (bool, int, float, str, bytes, decimal.Decimal, uuid.UUID)


def to_python(value: Any) -> Any:
    """Turn a deserialised psrpcore value into plain Python."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, datetime.datetime):
        return datetime.datetime(
            value.year, value.month, value.day, value.hour, value.minute,
            value.second, value.microsecond, tzinfo=value.tzinfo,
        )
    if isinstance(value, datetime.timedelta):
        return datetime.timedelta(seconds=value.total_seconds())
    for kind in _PLAIN_SCALARS:
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    if isinstance(value, PSObject):
        meta = value.PSObject
        props = [*meta.adapted_properties, *meta.extended_properties]
        return {p.name: to_python(p.get_value(value)) for p in props}
    return value


def to_ps(value: Any) -> Any:
    """Turn a handler output value into something psrpcore can serialise."""
    if isinstance(value, PSObject) or value is None or isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, (datetime.datetime, datetime.timedelta, enum.Enum)):
        return value
    if isinstance(value, PSObj):
        return _typed_object(value)
    if isinstance(value, dict):
        return PSCustomObject(**{str(k): to_ps(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_ps(v) for v in value]
    return str(value)


def _typed_object(spec: PSObj) -> PSObject:
    obj = PSObject()  # each instance owns a copy of its PSObject meta
    meta = obj.PSObject
    meta.type_names = [*spec.type_names, "System.Object"]
    target = meta.adapted_properties if spec.adapted else meta.extended_properties
    target.extend(PSNoteProperty(str(k), to_ps(v)) for k, v in spec.properties.items())
    if spec.to_string is not None:
        meta.to_string = spec.to_string
    return obj


def error_record(error: Error) -> ErrorRecord:
    """Build the ErrorRecord for an ``Error`` event."""
    hresult = _COR_E_EXCEPTION if error.hresult is None else error.hresult
    exception = NETException(Message=error.message, HResult=hresult)
    base_types = [t for t in exception.PSTypeNames if t != error.exception_type]
    exception.PSObject.type_names = [error.exception_type, *base_types]
    category = _category(error.category)
    return ErrorRecord(
        Exception=exception,
        CategoryInfo=ErrorCategoryInfo(Category=category, Reason=error.exception_type.rsplit(".", 1)[-1]),
        TargetObject=to_ps(error.target_object),
        FullyQualifiedErrorId=error.fully_qualified_error_id,
    )


def _category(value: str | int) -> ErrorCategory:
    if isinstance(value, int):
        return ErrorCategory(value)
    return ErrorCategory[value]
