#!/usr/bin/env bash
# Runs the whole test suite (or the pytest arguments given) from a prepared
# environment. This is the one documented test command: `bash tests/run.sh`.
set -eu

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "${repo_root}"

bash vpnspot_router/lab/setup.sh

rc=0
.venv/bin/python -m pytest "$@" || rc=$?

# pytest exits 5 when it collected nothing; a run that tested nothing must
# not look like a green run.
if [ "${rc}" -eq 5 ]; then
	printf 'tests/run.sh: pytest collected no tests (arguments: %s); failing.\n' "$*" >&2
	exit 1
fi
exit "${rc}"
