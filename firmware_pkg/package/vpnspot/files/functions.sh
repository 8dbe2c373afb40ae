# Shell helpers shared by /etc/init.d/vpnspot, /etc/uci-defaults/90-vpnspot
# and /etc/hotplug.d/iface/90-vpnspot. Sourced, never run.
#
# Settings follow vpnspot_router/core/config.py: defaults, then the ISP's
# provisioning file (/etc/vpnspot/provisioning, else the read-only copy in
# /rom), then the household's /etc/config/vpnspot, except that an option the
# provisioning file locks always takes the provisioning value. Keep
# vpnspot_effective in step with config.load (tests/firmware compares them).

VPNSPOT_GUARD_NFT="/usr/share/nftables.d/ruleset-post/90-vpnspot.nft"
# The agent's command; set beforehand, it runs the same code elsewhere (tests).
VPNSPOT_CMD="${VPNSPOT_CMD:-/usr/bin/vpnspot}"

# uci on the router's own configuration (or on the copy under IPKG_INSTROOT).
vpnspot_uci() {
	if [ -n "${IPKG_INSTROOT}" ]; then
		uci -c "${IPKG_INSTROOT}/etc/config" "$@"
	else
		uci "$@"
	fi
}

# The provisioning directory in use: the writable copy first, then /rom.
vpnspot_provisioning_dir() {
	local dir

	for dir in "${IPKG_INSTROOT}/etc/vpnspot" "${IPKG_INSTROOT}/rom/etc/vpnspot"; do
		if [ -f "${dir}/provisioning" ]; then
			printf '%s\n' "${dir}"
			return 0
		fi
	done
	return 1
}

# vpnspot_effective KEY SECTION OPTION DEFAULT: the value the agent uses.
vpnspot_effective() {
	local key="$1" section="$2" option="$3" default="$4"
	local dir locks household provisioned=""

	dir="$(vpnspot_provisioning_dir)"
	if [ -n "${dir}" ]; then
		provisioned="$(uci -q -c "${dir}" get "provisioning.${section}.${option}")"
		locks="$(uci -q -c "${dir}" get provisioning.provider.lock)"
		case " ${locks} " in
		*" ${key} "*)
			printf '%s\n' "${provisioned:-${default}}"
			return 0
			;;
		esac
	fi
	household="$(vpnspot_uci -q get "vpnspot.${section}.${option}")"
	printf '%s\n' "${household:-${provisioned:-${default}}}"
}

# As vpnspot_effective, folded to 1 or 0. A value that is not a switch
# counts as the default: the agent refuses such a file anyway, and for the
# kill switch the default (on) is the safe side.
vpnspot_effective_bool() {
	local value

	value="$(vpnspot_effective "$@")"
	case "${value}" in
	1 | yes | on | true | enabled) echo 1 ;;
	0 | no | off | false | disabled) echo 0 ;;
	*) echo "$4" ;;
	esac
}

# Is vpnspot_router.NAME installed for the router's Python?
vpnspot_has_module() {
	local dir

	for dir in "${IPKG_INSTROOT}"/usr/lib/python3*/site-packages/vpnspot_router/"$1"; do
		[ -f "${dir}/__init__.py" ] || [ -f "${dir}/__init__.pyc" ] && return 0
	done
	return 1
}

# Make the boot guard follow the household's (or the ISP's) settings: the
# kill switch (off: the guard table is removed now and after every firewall
# reload), dns_mode (isp: LAN DNS to the router is let through) and the LAN
# devices ("$@": --lan DEV ...; none given: the running agent's, else derived
# from /etc/config/network and firewall and netifd, net/lannets.py). One code path
# decides this for everyone: `vpnspot guard sync` (net/guard.py), which
# writes /etc/vpnspot/guard.d only when a file changes. Should Python itself
# fail to run, the guard is loaded as fw4 would load it: fail closed.
vpnspot_guard_sync() {
	"${VPNSPOT_CMD}" guard sync --root "${IPKG_INSTROOT}" "$@" && return 0
	nft list table inet vpnspot_guard >/dev/null 2>&1 ||
		nft -f "${IPKG_INSTROOT}${VPNSPOT_GUARD_NFT}"
	return 0
}
