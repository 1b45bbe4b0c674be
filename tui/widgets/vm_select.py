"""The VM chooser of the move screens: every VM the inventory saw, with the node it is on."""

from __future__ import annotations

from textual.widgets import Select

from lmdoctor.tui.text import cell


def show_vms(select: Select, hosts: dict[str, str], preferred: object) -> None:
    """List `hosts` (VM → node) in `select`, keeping `preferred` chosen when it is still there, else the first."""
    select.set_options([(cell(f"{vm}  (on {host})"), vm) for vm, host in sorted(hosts.items())])
    if preferred in hosts:
        select.value = preferred
    elif hosts:
        select.value = sorted(hosts)[0]
