# shellcheck shell=bash
# Sourced by scripts/run, scripts/test and scripts/check (and so by CI): makes .venv hold what
# uv.lock pins (the project itself editable, with its dev and chatkit extras unless the caller set
# VENV_RUNTIME_ONLY=1 before sourcing), then puts the venv first on PATH. Expects the caller to
# have cd'd to the repository root.
#
# pyproject.toml and uv.lock disagreeing (a dependency added without `uv lock`) is an error under
# CI (CI=true): CI installs what the lock says or nothing. Elsewhere the lock is brought up to date
# first, with a message saying so, so that the change can be committed.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "scripts/_venv.sh is meant to be sourced, not run" >&2
    exit 2
fi

# CI has no stdin: never let pip wait for an answer.
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

VENV_DIR=.venv
VENV_PYTHON="$VENV_DIR/bin/python"
# uv itself, when the machine has none, goes to a small venv of its own outside the repository.
UV_BOOTSTRAP_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/todo-mcp/uv"
UV_VERSION_RANGE="uv>=0.9,<1"
_stamp="$VENV_DIR/.todo-mcp-install-stamp"

# A venv whose interpreter no longer runs (Python upgraded or removed underneath it) is rebuilt.
if [[ -d "$VENV_DIR" ]] && ! "$VENV_PYTHON" -c '' 2>/dev/null; then
    echo "Virtualenv at $VENV_DIR is broken; recreating it" >&2
    rm -rf "$VENV_DIR"
fi

_base_python="${PYTHON:-python3}"
if [[ ! -d "$VENV_DIR" ]] \
    && ! "$_base_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "todo-mcp needs Python >= 3.11; '$_base_python' is missing or older" \
        "(set PYTHON=/path/to/python3.11 to choose another)" >&2
    exit 1
fi

# scripts/run needs only the runtime dependencies: a first start installs a quarter of the
# packages. It leaves dev packages already there in place (--inexact), so run and test can take
# turns without reinstalling; the dev install (what scripts/test and CI get) is exact.
if [[ "${VENV_RUNTIME_ONLY:-0}" == "1" ]]; then
    _mode=runtime
    _sync_options=(--inexact)
else
    _mode=dev
    # The chatkit extra too: its protocol's tests and type checks need the package.
    _sync_options=(--extra dev --extra chatkit)
fi
# The stamp holds the mode and a hash of pyproject.toml and uv.lock: uv runs only when they
# changed, or when the dev packages are wanted and missing. The install is editable, so source
# changes never need one.
_hash="$(cat pyproject.toml uv.lock 2>/dev/null | cksum)"
_have="$(cat "$_stamp" 2>/dev/null || true)"
if [[ "$_have" != "dev $_hash" && "$_have" != "$_mode $_hash" ]]; then
    if command -v uv >/dev/null 2>&1; then
        _uv=(uv)
    else
        if [[ ! -x "$UV_BOOTSTRAP_DIR/bin/uv" ]]; then
            echo "uv not found: installing it with pip into $UV_BOOTSTRAP_DIR" >&2
            "$_base_python" -m venv "$UV_BOOTSTRAP_DIR"
            "$UV_BOOTSTRAP_DIR/bin/python" -m pip install --quiet "$UV_VERSION_RANGE"
        fi
        _uv=("$UV_BOOTSTRAP_DIR/bin/uv")
    fi
    # An activated venv elsewhere must not redirect the install.
    unset VIRTUAL_ENV
    if ! "${_uv[@]}" lock --check --quiet; then
        if [[ -n "${CI:-}" ]]; then
            echo "uv.lock does not match pyproject.toml: run \`uv lock\` and commit uv.lock." \
                "CI installs only what a committed lock pins." >&2
            exit 1
        fi
        echo "uv.lock does not match pyproject.toml: updating it (commit the new uv.lock)" >&2
        "${_uv[@]}" lock
    fi
    # The interpreter is chosen only for a new venv; an existing one keeps its own.
    _python_choice=()
    [[ -d "$VENV_DIR" ]] || _python_choice=(--python "$_base_python")
    "${_uv[@]}" sync --locked "${_sync_options[@]}" "${_python_choice[@]}"
    printf '%s %s\n' "$_mode" "$(cat pyproject.toml uv.lock | cksum)" >"$_stamp"
    unset _uv _python_choice
fi
unset _stamp _hash _have _mode _sync_options _base_python

# As if activated: tests that spawn `todo-mcp` or `todo-api` find the venv's console scripts.
export VIRTUAL_ENV="$PWD/$VENV_DIR"
export PATH="$VIRTUAL_ENV/bin:$PATH"
hash -r
