#!/usr/bin/env bash
# The test command: installs whatever is missing, then runs the whole suite.
#   bash scripts/test.sh [pytest args...]
# - Debian packages: chromium (browser tests), gnome-keyring + dbus (a real OS keyring).
# - Python: this package with its [test] extra (jupyterhub included).
# - npm: configurable-http-proxy (JupyterHub's proxy) into .cache/chp, for tests/test_jupyterhub.py;
#   its path is exported as EDGE_CHP.
# - pytest runs inside a private D-Bus session with an unlocked gnome-keyring, so
#   the key store is tested against a real Secret Service; everything ends with it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
command -v dbus-run-session >/dev/null 2>&1 || missing+=(dbus-daemon)
CHP="$PWD/.cache/chp/node_modules/.bin/configurable-http-proxy"
[ -x "$CHP" ] || command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$PY" -c "import edge_jupyter, pytest_jupyter, playwright, openai, nbclient, httpx_sse, markdown_it, mdit_py_plugins, nh3, mypy, matplotlib, PIL, jupyterhub, cryptography" >/dev/null 2>&1 \
   || [ -n "${EDGE_REINSTALL:-}" ] || [ "$("$PY" -c 'import edge_jupyter,os;print(os.path.realpath(edge_jupyter.__file__))' 2>/dev/null)" != "$(realpath edge_jupyter/__init__.py)" ]; then
  echo "== installing edge-jupyter[test] (editable)"
  "$PY" -m pip install -q --disable-pip-version-check -e ".[test]"
fi

if [ ! -x "$CHP" ]; then
  echo "== installing configurable-http-proxy (npm) into .cache/chp"
  mkdir -p .cache/chp
  npm install --prefix .cache/chp --no-audit --no-fund --loglevel=error configurable-http-proxy@5 >/dev/null
fi
export EDGE_CHP="$CHP"

echo "== running pytest in a D-Bus session with an unlocked gnome-keyring"
export EDGE_TEST_PYTHON="$PY"
exec dbus-run-session -- bash -c '
  # A private data folder: a login.keyring left in ~/.local/share with another password
  # would keep the keyring locked.
  eval "$(printf edge-test-password | XDG_DATA_HOME="$(mktemp -d)" gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  "$EDGE_TEST_PYTHON" -m pytest "$@"
' bash "$@"
