"""WS-Management SOAP envelopes: parse requests, build responses and faults."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
COMMAND_STATE_DONE = f"{SHELL_URI}/CommandState/Done"
COMMAND_STATE_RUNNING = f"{SHELL_URI}/CommandState/Running"

# [MS-WSMV] fault codes pypsrp knows about.
ERROR_OPERATION_TIMEDOUT = 0x80338029  # Receive with no data before OperationTimeout
ERROR_INVALID_SELECTORS = 0x8033805B  # unknown ShellId
ERROR_ACTION_NOT_SUPPORTED = 0x80338116
ERROR_INTERNAL = 0x80004005
ERROR_ACCESS_DENIED = 5  # what Windows reports for a request its policy refuses

_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def q(prefix: str, local: str) -> str:
    """Clark-notation tag, e.g. ``q("rsp", "Shell")``."""
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class Request:
    """The parts of a WSMan request the server acts on."""

    action: str
    message_id: str
    resource_uri: str
    body: ET.Element
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float = 20.0
    max_envelope_size: int = 153600
    to: str = ""

    @property
    def name(self) -> str:
        """Short action name: Create, Command, Send, Receive, Signal, Delete, Get..."""
        return self.action.rstrip("/").rsplit("/", 1)[-1]

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")


def parse_request(data: bytes) -> Request:
    """Parse a SOAP envelope sent by a WSMan client."""
    root = ET.fromstring(data)
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise ValueError("not a SOAP envelope")

    def text(path: str, default: str = "") -> str:
        node = header.find(path, NS)
        return node.text or default if node is not None else default

    selectors = {s.attrib["Name"]: s.text or "" for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)}
    options = {o.attrib["Name"]: o.text or "" for o in header.findall("wsman:OptionSet/wsman:Option", NS)}
    return Request(
        action=text("wsa:Action"),
        message_id=text("wsa:MessageID"),
        resource_uri=text("wsman:ResourceURI"),
        body=body,
        selectors=selectors,
        options=options,
        operation_timeout=parse_duration(text("wsman:OperationTimeout", "PT20S")),
        max_envelope_size=int(text("wsman:MaxEnvelopeSize", "153600") or 153600),
        to=text("wsa:To"),
    )


def parse_duration(value: str) -> float:
    """Seconds in an xs:duration of the PT..H..M..S form (others -> 20 s)."""
    match = _DURATION.match(value.strip())
    if not match:
        return 20.0
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def envelope(action: str, relates_to: str, *body: ET.Element) -> bytes:
    """A response envelope for ``action`` answering message ``relates_to``."""
    root = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(root, q("s", "Header"))
    ET.SubElement(header, q("wsa", "Action")).text = action
    ET.SubElement(header, q("wsa", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q("wsa", "To")).text = ANONYMOUS
    ET.SubElement(header, q("wsa", "RelatesTo")).text = relates_to
    body_el = ET.SubElement(root, q("s", "Body"))
    body_el.extend(body)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def fault(relates_to: str, code: int, message: str, subcode: str = "wsman:InternalError") -> bytes:
    """A SOAP fault carrying a WSManFault with ``code`` (sent with HTTP 500)."""
    fault_el = ET.Element(q("s", "Fault"))
    code_el = ET.SubElement(fault_el, q("s", "Code"))
    ET.SubElement(code_el, q("s", "Value")).text = "s:Receiver"
    sub = ET.SubElement(code_el, q("s", "Subcode"))
    ET.SubElement(sub, q("s", "Value")).text = subcode
    reason = ET.SubElement(fault_el, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {q("xml", "lang"): "en-US"}).text = message
    detail = ET.SubElement(fault_el, q("s", "Detail"))
    wsman_fault = ET.SubElement(detail, q("wsmanfault", "WSManFault"), Code=str(code), Machine="127.0.0.1")
    ET.SubElement(wsman_fault, q("wsmanfault", "Message")).text = message
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, fault_el)


def response_action(name: str, *, transfer: bool = False) -> str:
    """The wsa:Action URI of a response, e.g. ``response_action("ReceiveResponse")``."""
    base = "http://schemas.xmlsoap.org/ws/2004/09/transfer" if transfer else SHELL_URI
    return f"{base}/{name}"
