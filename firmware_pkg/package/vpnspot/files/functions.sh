# Shell helpers shared by /etc/init.d/vpnspot, /etc/uci-defaults/90-vpnspot
# and /etc/hotplug.d/iface/90-vpnspot. Sourced, never run.
#
# Settings follow vpnspot_router/core/config.py: defaults, then the ISP's
# provisioning file (/etc/vpnspot/provisioning, else the read-only copy in
# /rom), then the household's /etc/config/vpnspot, except that an option the
# provisioning file locks always takes the provisioning value. Keep
# vpnspot_effective in step with config.load (tests/firmware compares them).

VPNSPOT_GUARD_NFT="/usr/share/nftables.d/ruleset-post/90-vpnspot.nft"
VPNSPOT_GUARD_OFF="/etc/vpnspot/guard.d/kill-switch-off.nft"

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

# Make the kill switch guard follow the household's (or the ISP's) choice:
# on, the guard table is loaded now and with every firewall reload; off, a
# one-line file that fw4's include reads removes it again, and it is removed
# now. Writes to flash only when the choice changed.
vpnspot_guard_sync() {
	local want off="${IPKG_INSTROOT}${VPNSPOT_GUARD_OFF}"

	want="$(vpnspot_effective_bool kill_switch main kill_switch 1)"
	if [ "${want}" = "1" ]; then
		[ -e "${off}" ] && rm -f "${off}"
		nft list table inet vpnspot_guard >/dev/null 2>&1 ||
			nft -f "${IPKG_INSTROOT}${VPNSPOT_GUARD_NFT}"
	else
		if [ ! -e "${off}" ]; then
			mkdir -p "${off%/*}"
			printf '%s\n' "delete table inet vpnspot_guard" >"${off}.new" &&
				mv -f "${off}.new" "${off}"
		fi
		nft list table inet vpnspot_guard >/dev/null 2>&1 &&
			nft delete table inet vpnspot_guard
	fi
	return 0
}
