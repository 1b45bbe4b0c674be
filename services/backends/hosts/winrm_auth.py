"""WinRM authentication as Windows does it, and why it failed, in one line an admin can act on.

Kerberos and Negotiate ask for the SPN ``HTTP/<name>`` like the Windows WinRM client (WinRM's
listener runs as the computer account, whose HOST/ SPN covers HTTP; a custom HTTP/ SPN on another
account breaks it: https://stefsewell.com/2010/07/). Over HTTP every body is sealed with the session
key; a reply that comes back in clear is refused rather than read.
"""

from __future__ import annotations

from typing import Any

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError
from pypsrp.wsman import WSMan
from spnego.exceptions import SpnegoError

from lmdoctor.services.domain.errors import LmdoctorError

SPN_SERVICE = "HTTP"
AUTH_ERRORS = (SpnegoError, ImportError)  # ImportError: gssapi/krb5 missing for Kerberos


class PlaintextReply(LmdoctorError, WinRMError):
    """The host answered in clear over HTTP although the request was sealed."""


def require_sealed_replies(wsman: WSMan) -> None:
    """Over HTTP with message encryption, refuse any reply body that is not sealed."""
    transport = wsman.transport
    if not transport.wrap_required:
        return
    transport.session = transport._build_session()
    transport.session.hooks["response"].append(_refuse_plaintext)


def _refuse_plaintext(response: requests.Response, **_: Any) -> None:
    kind = response.headers.get("Content-Type", "")
    if response.status_code != 401 and response.content and not kind.lower().startswith("multipart/encrypted"):
        raise PlaintextReply(f"HTTP {response.status_code} reply in clear ({kind or 'no content type'})")


def describe(exc: BaseException, server: str, auth: str, user: str | None, realm: str | None) -> str | None:
    """One line on an authentication failure and what to do; None when ``exc`` is not one."""
    text = str(exc)
    principal = user if user and "@" in user else f"{user or '<user>'}@{(realm or '<realm>').upper()}"
    if isinstance(exc, PlaintextReply):
        return (f"the WinRM listener answered in clear over HTTP ({text}); lmdoctor refused it. Something other "
                "than WinRM answers on that port (a proxy?) — check the listener, or use winrm_transport = https")
    if isinstance(exc, ImportError):
        return f"Kerberos support is missing ({text}); install lmdoctor's kerberos extra (gssapi, krb5)"
    if isinstance(exc, AuthenticationError):
        if "did not response with one of" in text:
            schemes = text.rpartition("actual: ")[2].strip("' ").split(",")
            offered = ", ".join(sorted({o.split()[0] for o in schemes if o.strip()})) or "no"
            return (f"the host offers only {offered} authentication; enable Kerberos and Negotiate on its WinRM "
                    "service (winrm set winrm/config/service/auth @{Kerberos=\"true\";Negotiate=\"true\"}) "
                    "or set winrm_auth to what it offers")
        if auth == "kerberos":
            return (f"WinRM refused the credentials (the Kerberos ticket of {principal}); check that account may "
                    "use PowerShell remoting on the host")
        return (f"WinRM refused the credentials of {user} ({auth}): wrong password? Save the right one in the "
                "console's profile screen (it goes to the OS keyring) and retry")
    if not isinstance(exc, SpnegoError):
        return None
    if "Server not found in Kerberos database" in text:
        return (f"the KDC has no SPN HTTP/{server}: Kerberos needs the host's FQDN as registered in AD, not an "
                f"address or a short name (check `setspn -Q HTTP/{server}`), or use winrm_auth = negotiate")
    if "Clock skew too great" in text:
        return ("the clocks of this machine, the KDC and the host differ by more than Kerberos allows (5 minutes); "
                "sync the time (w32tm /resync, chronyc makestep) and retry")
    if "expired" in text.lower():
        return f"the Kerberos ticket has expired; run `kinit {principal}` (or lock and unlock Windows) and retry"
    if "No Kerberos credentials" in text or "No credentials cache" in text or "credentials cache file" in text:
        return (f"no Kerberos ticket: run `kinit {principal}` on this machine (a domain-joined Windows sign-in "
                "has one), or use winrm_auth = negotiate with a stored password")
    if "Cannot contact any KDC" in text or "Cannot find KDC" in text:
        return (f"no KDC for {(realm or 'the realm').upper()} answered; check a domain controller is up and "
                "reachable on port 88 (on Linux: the realm's kdc lines in krb5.conf)")
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    return f"Kerberos/Negotiate authentication failed: {first}"
