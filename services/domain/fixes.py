"""Constructors for fix actions, each with the equivalent PowerShell / ADUC step an admin can read."""

from __future__ import annotations

from collections.abc import Iterable

from lmdoctor.services.domain import rbcd
from lmdoctor.services.domain.lines import Line
from lmdoctor.services.domain.models import (
    ENCTYPES_AES,
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    AuthType,
    ChangePreview,
    ComputerAccount,
    FixAction,
)
from lmdoctor.services.domain.value_diff import diff

DELEGATE_TO = "msDS-AllowedToDelegateTo"
SPN_ATTRIBUTE = "servicePrincipalName"
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string literal (a quote inside the value is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def ps_list(values: Iterable[str]) -> str:
    """PowerShell single-quoted string literals, comma-separated."""
    return ",".join(map(ps_quote, values))


def add_delegation(account: ComputerAccount, values: Iterable[str], destination: str,
                   services: str = "cifs and Microsoft Virtual System Migration Service") -> FixAction:
    values = tuple(values)
    return FixAction(
        kind="directory.add_values", target=account.dn, attribute=DELEGATE_TO, values=values,
        description=f"Allow {account.name} to delegate to {destination}'s services ({len(values)} SPNs)",
        powershell=f"Set-ADComputer -Identity {ps_quote(account.name)} -Add @{{'{DELEGATE_TO}'=@({ps_list(values)})}}",
        aduc=f"ADUC → {account.name} → Properties → Delegation → 'Trust this computer for delegation to specified "
             f"services only' → 'Use any authentication protocol' → Add… → {destination} → {services}",
    )


def remove_delegation(account: ComputerAccount, values: Iterable[str], why: str) -> FixAction:
    values = tuple(values)
    return FixAction(
        kind="directory.remove_values", target=account.dn, attribute=DELEGATE_TO, values=values,
        description=f"Remove {len(values)} delegation values from {account.name} ({why})",
        powershell=f"Set-ADComputer -Identity {ps_quote(account.name)} -Remove @{{'{DELEGATE_TO}'=@({ps_list(values)})}}",
        aduc=f"ADUC → {account.name} → Properties → Delegation → select the entries → Remove",
    )


def grant_rbcd(destination: ComputerAccount, source: ComputerAccount) -> FixAction:
    """Resource-based constrained delegation: add the source's SID to the destination's descriptor. Needs
    write access on the destination's object only (no SeEnableDelegationPrivilege, no Domain Admin)."""
    return FixAction(
        kind="directory.grant_rbcd", target=destination.dn, attribute=RBCD, values=(source.sid or "",),
        description=f"Let {source.name} delegate to every service of {destination.name} (RBCD on "
                    f"{destination.name}: add {source.name}'s SID {source.sid} to its descriptor)",
        powershell=(f"$d = Get-ADComputer {ps_quote(destination.name)} -Properties PrincipalsAllowedToDelegateToAccount; "
                    f"Set-ADComputer {ps_quote(destination.name)} -PrincipalsAllowedToDelegateToAccount "
                    f"(@($d.PrincipalsAllowedToDelegateToAccount) + (Get-ADComputer {ps_quote(source.name)}))"),
    )


def enable_protocol_transition(account: ComputerAccount) -> FixAction:
    return FixAction(
        kind="directory.set_uac_bits", target=account.dn, attribute="userAccountControl",
        values=(hex(UAC_TRUSTED_TO_AUTH_FOR_DELEGATION),),
        description=f"Let {account.name} use any authentication protocol (TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000)",
        powershell=f"Set-ADAccountControl -Identity {ps_quote(account.name + '$')} -TrustedToAuthForDelegation $true",
        aduc=f"ADUC → {account.name} → Properties → Delegation → 'Use any authentication protocol'",
    )


def clear_unconstrained(account: ComputerAccount) -> FixAction:
    return FixAction(
        kind="directory.clear_uac_bits", target=account.dn, attribute="userAccountControl",
        values=(hex(UAC_TRUSTED_FOR_DELEGATION),),
        description=f"Stop trusting {account.name} for unconstrained delegation (TRUSTED_FOR_DELEGATION 0x80000)",
        powershell=f"Set-ADAccountControl -Identity {ps_quote(account.name + '$')} -TrustedForDelegation $false",
        aduc=f"ADUC → {account.name} → Properties → Delegation → 'Trust this computer for delegation to specified "
             "services only'",
    )


ENCTYPES_ATTRIBUTE = "msDS-SupportedEncryptionTypes"


def allow_aes(dn: str, name: str, computer: bool) -> FixAction:
    """OR AES128 + AES256 (0x18) into msDS-SupportedEncryptionTypes; the other bits stay as they are."""
    cmdlet, identity = ("ADComputer" if computer else "ADUser"), ps_quote(name)
    return FixAction(
        kind="directory.set_bits", target=dn, attribute=ENCTYPES_ATTRIBUTE, values=(hex(ENCTYPES_AES),),
        description=f"Allow AES128 and AES256 Kerberos tickets for {name} (msDS-SupportedEncryptionTypes |= 0x18)",
        powershell=f"$a = Get-{cmdlet} {identity} -Properties {ENCTYPES_ATTRIBUTE}; Set-{cmdlet} {identity} -Replace "
                   f"@{{'{ENCTYPES_ATTRIBUTE}'=([int]$a.'{ENCTYPES_ATTRIBUTE}' -bor 0x18)}}",
        aduc=(f"ADUC → {name} → Properties → Attribute Editor → {ENCTYPES_ATTRIBUTE}" if computer else
              f"ADUC → {name} → Properties → Account → 'This account supports Kerberos AES 128/256 bit encryption'"),
    )


def add_spns(account: ComputerAccount, values: Iterable[str]) -> FixAction:
    values = tuple(values)
    commands = "; ".join(f"setspn -S {ps_quote(v)} {account.name}" for v in values)
    return FixAction(
        kind="directory.add_values", target=account.dn, attribute=SPN_ATTRIBUTE, values=values,
        description=f"Register {len(values)} missing SPNs on {account.name}", powershell=commands,
    )


def set_auth_type(host: str, auth_type: AuthType) -> FixAction:
    return FixAction(
        kind="host.set_auth_type", target=host, attribute="VirtualMachineMigrationAuthenticationType",
        values=(auth_type.value,), description=f"Set {host}'s live-migration authentication to {auth_type.value}",
        powershell=f"Set-VMHost -ComputerName {host} -VirtualMachineMigrationAuthenticationType {auth_type.value}",
    )


def enable_migration(host: str) -> FixAction:
    return FixAction(
        kind="host.enable_migration", target=host, attribute="VirtualMachineMigrationEnabled", values=("True",),
        description=f"Enable live migration on {host}", powershell=f"Enable-VMMigration -ComputerName {host}",
    )


def purge_tickets_command(host: str) -> str:
    return f"Invoke-Command -ComputerName {host} {{ klist.exe purge -li 0x3e7 }}"


def preview_lines(p: ChangePreview) -> list[Line]:
    """One previewed change as typed lines: what it does (change), details (detail), each value added (add)
    or removed (remove), and the equivalent PowerShell/ADUC steps (command). Front ends render them by kind
    (the CLI as indented text, the console in colour)."""
    a = p.action
    lines = [Line("change", a.description), Line("detail", f"{a.kind} on {a.target}"),
             Line("detail", f"attribute: {a.attribute}")]
    if a.attribute == "userAccountControl":
        lines.append(Line("detail", f"before → after: {int(p.before[0]):#x} → {int(p.after[0]):#x}"))
    elif a.kind == "directory.grant_rbcd":
        lines += [Line("detail", f"before → after: {rbcd.describe(p.before)} → {rbcd.describe(p.after)}"),
                  Line("detail", "(the prior descriptor is journaled whole and restored by rollback)")]
    else:
        change = diff(p.before, p.after)
        lines += [Line("add", v) for v in change.added] + [Line("remove", v) for v in change.removed]
        if not change.added and not change.removed:
            lines.append(Line("detail", "(already in place)"))
    lines.append(Line("command", f"PowerShell: {a.powershell}"))
    if a.aduc:
        lines.append(Line("command", f"ADUC: {a.aduc}"))
    return lines
