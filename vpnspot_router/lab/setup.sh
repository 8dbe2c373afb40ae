#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to run the vpnspot-router demo and
# tests: system packages for the namespace lab, and a virtualenv in
# REPO/.venv with the exact packages of vpnspot_router/lab/requirements.lock
# (runtime dependencies and the test extra, every file checked against its
# sha256: every machine tests the same set), then the project itself,
# editable. Packages the lock does not list are removed from the venv.
# To change a version: vpnspot_router/lab/update-lock.sh.
#
# Idempotent and cheap when nothing changed: apt is not touched when every
# package is already installed, and pip runs only when pyproject.toml, the
# lock (or the interpreter) differ from what the venv was last built from.
# Quiet on success; on failure it prints the captured output of the step
# that failed, so a CI log shows the cause without rerunning.
set -eu

# Everything the lab and the tests call: the wireguard-go peer, `wg`, `ip`,
# nftables for the kill switch, ping, iperf3/socat/busybox for traffic and small
# services, tcpdump for leak captures, procps for process inspection,
# dnsmasq-base (the binary without a system service) for the lab's
# resolvers, chromium for the web UI's browser tests (driven by Playwright),
# qemu-system-x86 and kmod (depmod, modprobe -d) to boot the router VM of
# tests/vm.
APT_PACKAGES="python3 python3-venv python3-pip ca-certificates
wireguard-go wireguard-tools iproute2 nftables iperf3 tcpdump procps
socat busybox-static iputils-ping dnsmasq-base
chromium qemu-system-x86 kmod"

script_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "${script_dir}/../.." && pwd)
venv="${repo_root}/.venv"
stamp="${venv}/.vpnspot-install-stamp"
lock="${script_dir}/requirements.lock"

log=$(mktemp "${TMPDIR:-/tmp}/vpnspot-setup.XXXXXX")
trap 'rm -f "${log}"' EXIT

die() {
	printf 'setup.sh: %s\n' "$1" >&2
	if [ -s "${log}" ]; then
		printf -- '--- output of the failed step ---\n' >&2
		cat "${log}" >&2
		printf -- '--- end ---\n' >&2
	fi
	exit 1
}

# Runs a step with its output captured; the output is shown only on failure.
quiet() {
	: >"${log}"
	"$@" >"${log}" 2>&1
}

missing_packages() {
	local pkg status
	for pkg in ${APT_PACKAGES}; do
		# dpkg -s alone succeeds for removed packages whose config files
		# remain, so ask for the exact status word.
		status=$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)
		if [ "${status}" != "installed" ]; then
			printf '%s ' "${pkg}"
		fi
	done
}

# True when apt's package lists cannot resolve every package we want, i.e.
# a fresh image with empty lists: only then is `apt-get update` worth it.
apt_lists_lack() {
	local pkg
	for pkg in "$@"; do
		if ! apt-cache show "${pkg}" >/dev/null 2>&1; then
			return 0
		fi
	done
	return 1
}

install_system_packages() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		die "dpkg-query not found: this script expects Debian 12 (bookworm)."
	fi
	missing=$(missing_packages)
	if [ -z "${missing}" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		die "missing packages: ${missing}; run this script as root to install them."
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	if apt_lists_lack ${missing}; then
		quiet apt-get update || die "apt-get update failed."
	fi
	# --no-install-recommends matters: wireguard-tools recommends a whole
	# kernel image otherwise.
	# shellcheck disable=SC2086
	quiet apt-get install -y --no-install-recommends ${missing} ||
		die "apt-get install of ${missing}failed."
}

python_ok() {
	"$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		>/dev/null 2>&1
}

setup_venv() {
	local python want
	python=$(command -v python3 || true)
	if [ -z "${python}" ]; then
		die "python3 not found on PATH."
	fi
	if ! python_ok "${python}"; then
		die "${python} is older than Python 3.11; vpnspot-router needs 3.11 or newer."
	fi
	# A venv whose interpreter disappeared (e.g. the base Python was
	# removed) cannot be repaired in place: rebuild it.
	if [ -e "${venv}" ] && ! python_ok "${venv}/bin/python"; then
		rm -rf "${venv}"
	fi
	if [ ! -x "${venv}/bin/python" ]; then
		quiet "${python}" -m venv "${venv}" ||
			die "could not create ${venv} with ${python} -m venv (on Debian: apt-get install python3-venv)."
	fi
	if [ ! -f "${lock}" ]; then
		die "${lock} is missing: it lists the exact packages the venv gets."
	fi
	want=$(cat "${repo_root}/pyproject.toml" "${lock}" "${venv}/pyvenv.cfg" |
		sha256sum | cut -d' ' -f1)
	if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ]; then
		return 0
	fi
	# The stamp goes first: an interrupted install must not look finished.
	rm -f "${stamp}"
	quiet "${venv}/bin/python" -m pip install --disable-pip-version-check \
		--require-hashes -r "${lock}" ||
		die "pip install --require-hashes -r ${lock} failed (a package or hash that PyPI no longer serves: see vpnspot_router/lab/update-lock.sh)."
	remove_unlocked
	# The project itself: its dependencies are the locked ones above, and
	# setuptools (locked too) builds it here, without fetching a newer one.
	quiet "${venv}/bin/python" -m pip install --disable-pip-version-check \
		--no-deps --no-build-isolation -e "${repo_root}" ||
		die "pip install --no-deps -e ${repo_root} failed."
	printf '%s\n' "${want}" >"${stamp}"
}

# Normalized names (PEP 503) of `NAME==VERSION` lines on stdin.
pinned_names() {
	sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' | tr 'A-Z_.' 'a-z--' | sort -u
}

# Uninstalls what an earlier setup (or a hand) put in the venv that the lock
# does not list, so the venv holds exactly the locked set. pip itself, and
# the project (editable), are not in `pip freeze --exclude-editable`.
remove_unlocked() {
	local extra
	extra=$("${venv}/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable |
		pinned_names | comm -23 - <(pinned_names <"${lock}"))
	if [ -n "${extra}" ]; then
		# shellcheck disable=SC2086 # one word per package name
		quiet "${venv}/bin/python" -m pip uninstall --disable-pip-version-check -y ${extra} ||
			die "pip uninstall of packages the lock does not list (${extra}) failed."
	fi
}

install_system_packages
setup_venv
