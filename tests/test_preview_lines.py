"""A previewed change as typed lines: front ends style lines by their kind, never by what a value starts with."""

from __future__ import annotations

from lmdoctor.services.domain.fixes import preview_lines
from lmdoctor.services.domain.lines import Line
from lmdoctor.services.domain.models import ChangePreview, FixAction


def preview(before: tuple[str, ...], after: tuple[str, ...]) -> ChangePreview:
    action = FixAction(kind="directory.add_values", target="CN=HV01,CN=Computers,DC=contoso,DC=local",
                       attribute="msDS-AllowedToDelegateTo", values=after, description="Allow HV01 to delegate",
                       powershell="Set-ADComputer HV01 -Add @{...}", aduc="HV01 → Delegation")
    return ChangePreview(action=action, before=before, after=after)


def test_values_are_typed_by_what_happens_to_them_not_by_their_text() -> None:
    lines = preview_lines(preview(("- looks removed", "CIFS/HV02"), ("- looks removed", "CIFS/HV02", "+ looks added", "cifs/HV03")))
    assert Line("add", "+ looks added") in lines and Line("add", "cifs/HV03") in lines
    assert not [line for line in lines if line.kind == "remove"]
    assert lines[0] == Line("change", "Allow HV01 to delegate")
    assert [line.kind for line in lines][-2:] == ["command", "command"]


def test_a_removal_and_an_unchanged_list_are_said_so() -> None:
    assert Line("remove", "cifs/HV02") in preview_lines(preview(("cifs/HV02", "cifs/HV03"), ("cifs/HV03",)))
    assert Line("detail", "(already in place)") in preview_lines(preview(("cifs/HV03",), ("CIFS/HV03",)))


def test_a_name_with_a_quote_stays_one_literal_in_every_powershell_line() -> None:
    """The PowerShell an admin copies names the account as one single-quoted literal, even a name with a quote."""
    from lmdoctor.services.domain import fixes
    from lmdoctor.services.domain.models import ComputerAccount

    odd = ComputerAccount(name="HV'01", dn="CN=HV'01,DC=contoso,DC=local")
    peer = ComputerAccount(name="HV02", dn="CN=HV02,DC=contoso,DC=local")
    lines = [fixes.add_delegation(odd, ("cifs/HV02",), "HV02").powershell,
             fixes.enable_protocol_transition(odd).powershell,
             fixes.clear_unconstrained(odd).powershell,
             fixes.grant_rbcd(peer, odd).powershell]
    for line in lines:
        assert "'HV''01" in line and "'HV'01" not in line
