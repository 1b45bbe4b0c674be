"""Connection profiles: TOML round trip, errors that name the field, no secrets, hostile values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lmdoctor.services.storage import profiles
from lmdoctor.services.storage.paths import config_dir
from lmdoctor.services.storage.profiles import Profile, ProfileError

VALID = """\
domain = "contoso.local"
dc = "dc01.contoso.local"
bind_user = "lmdoctor-admin@contoso.local"
cluster = "hvcluster"
nodes = ["hv01", "HV02.contoso.local"]
"""


def full_profile(**changes) -> Profile:
    data = dict(name="prod-east", domain="contoso.local", dc="dc01.contoso.local", ldap="starttls", ldap_port=3269,
                ca_file=Path("/etc/ssl/contoso-ca.pem"), bind_user="admin@contoso.local", directory_auth="password",
                cluster="HVCLUSTER", nodes=("HV01", "HV02"), winrm_transport="https", winrm_port=5986,
                winrm_auth="kerberos", winrm_user="CONTOSO-hv-operator", winrm_ca_file=Path("/etc/ssl/winrm-ca.pem"),
                read_only=True, timeout_s=42.5)
    data.update(changes)
    return Profile(**data)


def error_for(text: str, name: str = "p") -> str:
    with pytest.raises(ProfileError) as info:
        profiles.parse(text, name)
    return str(info.value)


def test_save_load_round_trip_in_the_config_dir(isolated_dirs):
    profile = full_profile()
    path = profiles.save(profile)
    assert path == isolated_dirs["config"] / "profiles" / "prod-east.toml"
    assert config_dir() == isolated_dirs["config"]
    assert profiles.load("prod-east") == profile
    assert profiles.list_names() == ["prod-east"]


def test_minimal_profile_defaults_and_normalisation(tmp_path):
    (tmp_path / "lab.toml").write_text(VALID, encoding="utf-8")
    p = profiles.load("lab", root=tmp_path)
    assert p.name == "lab"
    assert p.cluster == "HVCLUSTER"
    assert p.nodes == ("HV01", "HV02.CONTOSO.LOCAL")
    assert (p.ldap, p.directory_auth, p.winrm_transport, p.winrm_auth, p.read_only) == (
        "ldaps", "password", "https", "negotiate", False)
    assert p.winrm_username == p.bind_user
    assert profiles.load(profiles.save(p, root=tmp_path).stem, root=tmp_path) == p


def test_saved_profile_holds_no_secret(tmp_path):
    path = profiles.save(full_profile(), root=tmp_path)
    text = path.read_text(encoding="utf-8").lower()
    assert "password =" not in text and "secret" not in text


def test_unicode_values_round_trip(tmp_path):
    p = full_profile(bind_user="Ådmïn.Ünïcødé@contoso.local", winrm_user="CONTOSO-сервис-✓")
    assert profiles.load(profiles.save(p, root=tmp_path).stem, root=tmp_path) == p


def test_missing_profile():
    with pytest.raises(ProfileError, match="no profile named 'nosuch'"):
        profiles.load("nosuch")
    assert profiles.list_names() == []


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", ".hidden", "x" * 65, "évil", "a b"])
def test_profile_names_cannot_escape_the_folder(name):
    with pytest.raises(ProfileError, match="invalid profile name"):
        profiles.profile_path(name)


@pytest.mark.parametrize("field,value", [
    ("dc", "dc01..contoso.local"),
    ("dc", "-dc01.contoso.local"),
    ("dc", "dc01.contoso.local/ldap"),
    ("dc", "dc 01"),
    ("dc", ""),
    ("domain", "contoso_local"),
    ("domain", "x" * 254),
    ("domain", "a" * 64 + ".local"),
    ("cluster", "hv cluster"),
    ("dc", "dc01.cöntoso.local"),
])
def test_bad_hostname_names_the_field(field, value):
    text = VALID.replace(f'{field} = ', f'{field}_old = ', 1) if f"{field} = " in VALID else VALID
    text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{field}_old"))
    message = error_for(text + f'\n{field} = "{value}"\n')
    assert f"{field}:" in message
    assert "not a valid host name" in message


def test_bad_node_name_names_the_field():
    message = error_for(VALID.replace('nodes = ["hv01", "HV02.contoso.local"]', 'nodes = ["hv01", "hv 02"]'))
    assert "nodes" in message and "not a valid host name" in message


def test_unknown_key_names_the_key():
    message = error_for(VALID + 'ldap_server = "dc02"\n')
    assert "ldap_server" in message and "Extra inputs are not permitted" in message


@pytest.mark.parametrize("key", ["password", "Password", "passwd", "secret", "token"])
def test_secret_keys_are_refused_without_echoing_the_secret(key):
    message = error_for(VALID + f'{key} = "hunter2-Sup3rSecret"\n')
    assert "never hold secrets" in message
    assert key in message
    assert "hunter2" not in message


def test_secret_key_in_a_table_is_refused():
    message = error_for(VALID + '\n[winrm]\npassword = "hunter2"\n')
    assert "winrm" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("text", [
    'domain = "contoso.local',
    "domain = contoso.local",
    'domain = "a"\ndomain = "b"',
    "[[[",
    '\x00 = "x"',
])
def test_malformed_toml(text):
    message = error_for(text, "broken")
    assert message.startswith("profile broken: not valid TOML")


@pytest.mark.parametrize("field,value", [
    ("ldap", "ldap"),  # clear-text LDAP is not an option
    ("winrm_transport", "ftp"),
    ("winrm_auth", "ntlm-v1"),
    ("directory_auth", "anonymous"),
    ("ldap_port", 0),
    ("ldap_port", 70000),
    ("winrm_port", -1),
    ("timeout_s", 0),
    ("timeout_s", 301),
    ("read_only", "maybe"),
])
def test_out_of_range_or_unknown_choices_name_the_field(field, value):
    toml_value = f'"{value}"' if isinstance(value, str) else str(value)
    message = error_for(VALID + f"{field} = {toml_value}\n")
    assert f"{field}:" in message


def test_missing_required_fields_are_named():
    message = error_for('domain = "contoso.local"\n')
    for field in ("dc", "bind_user", "cluster"):
        assert field in message


@pytest.mark.parametrize("value", [
    "admin*",
    "admin)(objectClass=*",
    "(uid=*)",
    "CONTOSO\\\\admin",  # TOML escape for one backslash
    "admin\\u0000",
    "admin\\nroot",
    "admin\\r",
])
def test_ldap_metacharacters_in_bind_user_are_refused(value):
    message = error_for(VALID.replace('"lmdoctor-admin@contoso.local"', f'"{value}"'))
    assert "bind_user:" in message


def test_ldap_metacharacters_in_winrm_user_are_refused():
    message = error_for(VALID + 'winrm_user = "op*"\n')
    assert "winrm_user:" in message


@pytest.mark.parametrize("field", ["bind_user", "dc", "domain", "cluster", "winrm_user"])
def test_ten_thousand_character_values_are_refused_briefly(field):
    text = "\n".join(line for line in VALID.splitlines() if not line.startswith(f"{field} ="))
    message = error_for(text + f'\n{field} = "{"a" * 10_000}"\n')
    assert f"{field}:" in message
    assert len(message) < 400  # the error quotes at most a short prefix of the value


def test_ten_thousand_character_key_and_name():
    message = error_for(VALID + f'{"k" * 10_000} = 1\n')
    assert "Extra inputs are not permitted" in message
    with pytest.raises(ProfileError):
        profiles.profile_path("n" * 10_000)


def test_empty_bind_user_is_refused():
    assert "bind_user:" in error_for(VALID.replace('"lmdoctor-admin@contoso.local"', '""'))


def test_profile_is_immutable():
    p = full_profile()
    with pytest.raises(ValidationError):
        p.dc = "evil.example"  # type: ignore[misc]


def test_constructing_in_code_refuses_a_password():
    with pytest.raises(Exception, match="never hold secrets"):
        Profile.model_validate({**full_profile().model_dump(), "password": "x"})
