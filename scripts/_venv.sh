# shellcheck shell=bash
# Sourced by scripts/test and scripts/check (and so by CI): creates or reuses the virtualenv at
# .venv, installs the project with its dev extra when pyproject.toml changed since the last install,
# and puts the venv first on PATH. Expects the caller to have cd'd to the repository root.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "scripts/_venv.sh is meant to be sourced, not run" >&2
    exit 2
fi

# CI has no stdin: never let pip wait for an answer.
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

VENV_DIR=.venv
VENV_PYTHON="$VENV_DIR/bin/python"
_stamp="$VENV_DIR/.todo-mcp-install-stamp"

# A venv whose interpreter no longer runs (Python upgraded or removed underneath it) is rebuilt.
if [[ -d "$VENV_DIR" ]] && ! "$VENV_PYTHON" -c '' 2>/dev/null; then
    echo "Virtualenv at $VENV_DIR is broken; recreating it" >&2
    rm -rf "$VENV_DIR"
fi

if [[ ! -d "$VENV_DIR" ]]; then
    _base_python="${PYTHON:-python3}"
    if ! "$_base_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "todo-mcp needs Python >= 3.11; '$_base_python' is missing or older" \
            "(set PYTHON=/path/to/python3.11 to choose another)" >&2
        exit 1
    fi
    echo "Creating virtualenv at $VENV_DIR" >&2
    "$_base_python" -m venv "$VENV_DIR"
fi

# The stamp holds a hash of pyproject.toml: reinstall only when dependencies may have changed.
# The install is editable, so source changes never need one.
_wanted="$("$VENV_PYTHON" -c \
    'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    pyproject.toml)"
if [[ ! -f "$_stamp" || "$(<"$_stamp")" != "$_wanted" ]]; then
    echo "Installing todo-mcp and its dev dependencies into $VENV_DIR" >&2
    "$VENV_PYTHON" -m pip install --quiet -e '.[dev]'
    printf '%s\n' "$_wanted" >"$_stamp"
fi
unset _stamp _wanted _base_python

# As if activated: tests that spawn `todo-mcp` or `todo-api` find the venv's console scripts.
export VIRTUAL_ENV="$PWD/$VENV_DIR"
export PATH="$VIRTUAL_ENV/bin:$PATH"
hash -r
