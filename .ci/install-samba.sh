#!/usr/bin/env bash
# Install what the real Samba AD DC test suite (tests/samba) needs: the DC, MIT Kerberos
# client tools, ldb tools, dig, iproute2 (network namespaces) and the headers/compiler that
# python-gssapi builds against. Idempotent and non-interactive; exits quickly when all is there.
#
#   sudo .ci/install-samba.sh            # system packages
#   .ci/install-samba.sh --python .venv  # also pip-install gssapi into that virtualenv
set -euo pipefail

PACKAGES=(
    samba-ad-dc samba samba-ad-provision samba-dsdb-modules winbind
    krb5-user ldb-tools dnsutils iproute2 libkrb5-dev gcc python3-dev
)

VENV=""
if [[ "${1:-}" == "--python" ]]; then
    VENV="${2:?--python needs the virtualenv directory}"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "install-samba: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # krb5-config (pulled in by krb5-user) asks for the default realm: answer it up front.
    # The DC tests never read /etc/krb5.conf (they set KRB5_CONFIG per DC).
    if command -v debconf-set-selections >/dev/null; then
        debconf-set-selections <<'EOF'
krb5-config krb5-config/default_realm string CONTOSO.LOCAL
krb5-config krb5-config/add_servers_realm string CONTOSO.LOCAL
krb5-config krb5-config/add_servers boolean false
krb5-config krb5-config/read_conf boolean true
krb5-config krb5-config/kerberos_servers string
krb5-config krb5-config/admin_server string
EOF
    fi
    echo "install-samba: installing ${missing[*]}" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
else
    echo "install-samba: system packages already installed" >&2
fi

if [[ -n "$VENV" ]]; then
    if "$VENV/bin/python" -c 'import gssapi' 2>/dev/null; then
        echo "install-samba: gssapi already in $VENV" >&2
    else
        "$VENV/bin/python" -m pip install -q 'gssapi>=1.8' 'cryptography>=42'
    fi
fi
