"""Negotiate/Kerberos authentication and WinRM message encryption, as a Windows WinRM listener does them.

The acceptor is pyspnego's (``spnego.server``): Kerberos through GSSAPI with the keytab named by
``KRB5_KTNAME`` (the hosts' computer-account keys exported from the test DC), NTLM against the
accounts in ``NTLM_USER_FILE``. Authentication is per TCP connection, as with HTTP.sys: once a
handshake completes, later requests on that connection carry no Authorization header.

Over HTTP with ``AllowUnencrypted = false`` (Windows' default) every SOAP body must arrive as
``multipart/encrypted`` sealed with the session key, and every reply goes back the same way; the
MIME framing mirrors pypsrp's ``WinRMEncryption`` (wrap_winrm/unwrap_winrm of the context).
A Windows listener answers a plaintext body with HTTP 500 (pywinrm issue #129: "raise error 500 and
event log show message that server receive unencrypted message", https://github.com/diyan/pywinrm/issues/129;
winrm4j issue #151, https://github.com/cloudsoft/winrm4j/issues/151).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

import spnego
from spnego.channel_bindings import GssChannelBindings

BOUNDARY = "Encrypted Boundary"
SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
SOAP_TYPE = "application/soap+xml;charset=UTF-8"
SCHEMES = ("Negotiate", "Kerberos")
_PROTOCOL_RE = re.compile(r'protocol="([^"]+)"')
_LENGTH_RE = re.compile(rb"Length=(\d+)")


@dataclass(frozen=True)
class WindowsAuth:
    """How the listener authenticates: the Windows defaults unless a test asks for a misconfigured host.

    ``offer``: the schemes in the 401 challenge (``("Basic",)``: a host with only Basic enabled).
    ``allow_unencrypted``: the service's AllowUnencrypted (False on Windows by default).
    ``plaintext_replies``: a broken listener that answers in clear over HTTP although the request was sealed.
    """

    offer: tuple[str, ...] = SCHEMES
    allow_unencrypted: bool = False
    plaintext_replies: bool = False


class Unencrypted(Exception):
    """A SOAP body arrived in clear over HTTP while the service requires message encryption."""


class ConnectionAuth:
    """One connection's security context: the handshake, then sealing and unsealing of bodies."""

    def __init__(self, channel_bindings: bytes | None) -> None:
        self._bindings = channel_bindings
        self.context: spnego.ContextProxy | None = None
        self.scheme = ""

    @property
    def complete(self) -> bool:
        return self.context is not None and self.context.complete

    @property
    def principal(self) -> str:
        return str(self.context.client_principal or "") if self.complete else ""

    def step(self, scheme: str, token: bytes) -> bytes | None:
        """Feed one client token (a new handshake when the last one finished); the reply token, if any.

        Raises spnego's errors when the token is refused (unknown user, wrong password, bad ticket)."""
        if self.context is None or self.context.complete or scheme != self.scheme:
            bindings = GssChannelBindings(application_data=self._bindings) if self._bindings else None
            self.context = spnego.server(service="http", protocol=scheme.lower(), channel_bindings=bindings,
                                         options=spnego.NegotiateOptions.wrapping_winrm)
            self.scheme = scheme
        return self.context.step(token)

    @property
    def protocol(self) -> str:
        return KERBEROS_PROTOCOL if self.scheme == "Kerberos" else SPNEGO_PROTOCOL

    def unseal(self, content_type: str, body: bytes) -> bytes:
        """The SOAP text of an encrypted body; ``Unencrypted`` when it came in clear."""
        if not content_type.lower().startswith("multipart/encrypted") or self.context is None:
            raise Unencrypted(content_type or "no content type")
        found = _PROTOCOL_RE.search(content_type)
        if not found or found.group(1) != self.protocol:
            raise Unencrypted(f"unexpected protocol in {content_type}")
        marker = f"--{BOUNDARY}\r\n".encode()
        parts = [p for p in body.split(marker) if p]
        message = b""
        for header, payload in zip(parts[0::2], parts[1::2], strict=False):
            expected = int(_LENGTH_RE.search(header).group(1))  # type: ignore[union-attr]
            payload = payload.removesuffix(f"--{BOUNDARY}--\r\n".encode())
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            (length,) = struct.unpack("<i", payload[:4])
            plain = self.context.unwrap_winrm(payload[4:4 + length], payload[4 + length:])
            if len(plain) != expected:
                raise Unencrypted(f"sealed length {len(plain)} != announced {expected}")
            message += plain
        return message

    def seal(self, body: bytes) -> tuple[str, bytes]:
        """(Content-Type, body) of a reply sealed with the session key."""
        assert self.context is not None
        header, data, padding = self.context.wrap_winrm(body)
        framed = "\r\n".join([
            f"--{BOUNDARY}", f"\tContent-Type: {self.protocol}",
            f"\tOriginalContent: type={SOAP_TYPE};Length={len(body) + padding}",
            f"--{BOUNDARY}", "\tContent-Type: application/octet-stream", "",
        ]).encode() + struct.pack("<i", len(header)) + header + data + f"--{BOUNDARY}--\r\n".encode()
        return f'multipart/encrypted;protocol="{self.protocol}";boundary="{BOUNDARY}"', framed


def parse_authorization(header: str) -> tuple[str, bytes] | None:
    """("Negotiate"|"Kerberos", token) of an Authorization header, or None for other schemes."""
    scheme, _, token = header.partition(" ")
    for known in SCHEMES:
        if scheme.lower() == known.lower():
            try:
                return known, base64.b64decode(token.strip(), validate=True)
            except ValueError:
                return None
    return None


def tls_server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 channel binding data of a certificate signed with SHA-256 or ECDSA-SHA256 (the test PKI's)."""
    return b"tls-server-end-point:" + hashlib.sha256(cert_der).digest()
