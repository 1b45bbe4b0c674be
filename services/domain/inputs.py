"""Validation of what an operator types (host and VM names, reasons, finding ids): clear errors naming the field."""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

from lmdoctor.services.domain.errors import LmdoctorError

HOSTNAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
CREDSSP_MAX_MINUTES = 8 * 60  # a maintenance window, not a standing configuration
VM_NAME_MAX = 100  # Hyper-V's limit
REASON_MAX = 500
FINDING_ID = re.compile(r"[a-z_.]{1,40}:[A-Za-z0-9-]{1,64}:[A-Za-z0-9-]{1,64}")  # always fullmatch
WILDCARDS = set("*?[]")  # Get-VM / Move-VM -Name treat these as wildcards


class InputError(LmdoctorError, argparse.ArgumentTypeError):
    """A value typed by the operator is not acceptable; the message names the field."""


def _show(value: str) -> str:
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def _named(field: str) -> str:
    """The field's name as a message prefix (argparse already names the option, so it passes none)."""
    return f"{field}: " if field else ""


JOINERS = {"\u200c", "\u200d"}  # ZWNJ / ZWJ: part of ordinary Persian, Indic and emoji text


def _controls(value: str) -> bool:
    """Control, line-separator and format characters (bidi overrides, invisible marks), joiners excepted."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in JOINERS for c in value)


def host_name(value: str, field: str = "") -> str:
    """A host's short name or FQDN (letters, digits, hyphens, dots); returned upper case."""
    if not HOSTNAME.fullmatch(value):
        raise InputError(f"{_named(field)}{_show(value)} is not a valid host name (letters, digits, '-' and '.', at most 253)")
    return value.upper()


def vm_name(value: str, field: str = "") -> str:
    """A Hyper-V VM name: 1–100 printable characters, no wildcard (it would select several VMs)."""
    if not value.strip() or value != value.strip():
        raise InputError(f"{_named(field)}a VM name must not be empty or start/end with spaces")
    if len(value) > VM_NAME_MAX:
        raise InputError(f"{_named(field)}a VM name has at most {VM_NAME_MAX} characters (got {len(value)})")
    if _controls(value):
        raise InputError(f"{_named(field)}{_show(value)} contains a control character")
    if WILDCARDS & set(value):
        raise InputError(f"{_named(field)}{_show(value)} contains a wildcard (* ? [ ]): name exactly one VM")
    return value


def reason(value: str, field: str = "") -> str:
    """A change reason / ticket: 1–500 characters on one line."""
    text = value.strip()
    if not text:
        raise InputError(f"{_named(field)}a reason (change ticket) is required")
    if len(text) > REASON_MAX:
        raise InputError(f"{_named(field)}at most {REASON_MAX} characters (got {len(text)})")
    if _controls(text):
        raise InputError(f"{_named(field)}{_show(text)} contains a control character or line break")
    return text


def finding_id(value: str, field: str = "") -> str:
    """An id as `check` prints it: code:source:target."""
    if not FINDING_ID.fullmatch(value):
        raise InputError(f"{_named(field)}{_show(value)} is not a finding id (code:source:target, as `check` prints)")
    return value


def minutes(value: str, field: str = "") -> int:
    """A CredSSP window's length: a whole number of minutes, 1 to CREDSSP_MAX_MINUTES, in ASCII digits."""
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= CREDSSP_MAX_MINUTES:
        raise InputError(f"{_named(field)}{_show(value)} is not a whole number of minutes from 1 to {CREDSSP_MAX_MINUTES}")
    return int(value)


def lab_dir(value: str, field: str = "") -> Path:
    """A lab directory: a path, never the empty string (it would mean the working directory)."""
    if not value.strip():
        raise InputError(f"{_named(field)}a lab directory must be named (an empty path would be the working directory)")
    if _controls(value):
        raise InputError(f"{_named(field)}{_show(value)} contains a control character")
    return Path(value)

