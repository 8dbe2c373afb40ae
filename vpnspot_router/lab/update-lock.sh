#!/usr/bin/env bash
# Regenerates vpnspot_router/lab/requirements.lock: the exact version and the
# sha256 of every file of every package the development venv gets (the
# runtime dependencies, the `test` extra, everything they pull in, and
# setuptools, which builds the editable install), from pyproject.toml.
# setup.sh installs from it with `pip --require-hashes`, so every machine
# tests the same set.
#
#   bash vpnspot_router/lab/update-lock.sh                    keep the pins, add what is new
#   bash vpnspot_router/lab/update-lock.sh --upgrade          newest of everything
#   bash vpnspot_router/lab/update-lock.sh --upgrade-package bottle
#
# Then run `bash vpnspot_router/lab/setup.sh` and the suite, and commit the
# lock with the change that needed it. pip-tools runs from a throwaway venv,
# never the project's. The lock is resolved for the Python running this
# (Debian 12's 3.11 on x86_64 is what CI and fresh machines use), against
# PyPI itself: PIP_CONFIG_FILE=/dev/null keeps a machine's own mirrors and
# wheel directories out of it.
set -eu

PIP_TOOLS_VERSION="7.7.0"

script_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "${script_dir}/../.." && pwd)
tools=$(mktemp -d "${TMPDIR:-/tmp}/vpnspot-lock.XXXXXX")
trap 'rm -rf "${tools}"' EXIT

export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CONSTRAINT 2>/dev/null || true

python3 -m venv "${tools}/venv"
"${tools}/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
	"pip-tools==${PIP_TOOLS_VERSION}"
cd "${repo_root}"
# The command the lock's header names as the way to regenerate it.
export CUSTOM_COMPILE_COMMAND="bash vpnspot_router/lab/update-lock.sh"
"${tools}/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe \
	--extra test --build-deps-for editable --strip-extras \
	--no-emit-index-url --no-emit-find-links \
	--output-file vpnspot_router/lab/requirements.lock "$@" pyproject.toml
