"""The ISP kit: a provisioning file in, an ImageBuilder overlay out.

    python firmware_pkg/isp_kit.py PROVISIONING_FILE --out DIR [--ca CA.pem]

Writes
  DIR/files/etc/vpnspot/provisioning   the checked provisioning file (it ends
                                       up in /rom too, so a factory reset
                                       keeps the ISP's settings and locks)
  DIR/files/<ca_file>                  the CA given with --ca, at the path the
                                       file's `ca_file` names
  DIR/packages.txt                     the PACKAGES= list for `make image`
and prints the `make image` command. The file is checked exactly as the
agent will read it (core/config.py), so a mistake is reported here with
file, line and option rather than on a household's router.
"""

import argparse
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import build  # noqa: E402
from vpnspot_router.core import config  # noqa: E402

# Kernel WireGuard is the fast data plane on every supported router; an
# image that can carry it should.
IMAGE_EXTRAS = ("kmod-wireguard", "wireguard-tools")


def make_kit(provisioning_path, out_dir, ca_path=None):
    with open(provisioning_path, encoding="utf-8") as f:
        text = f.read()
    prov = config.parse_provisioning(text, provisioning_path)
    files = os.path.join(out_dir, "files")
    etc = os.path.join(files, "etc", "vpnspot")
    os.makedirs(etc, exist_ok=True)
    ca_file = prov.values.get("ca_file", "")
    if ca_file and ca_path is None:
        raise config.ConfigError(provisioning_path, prov.lines.get("ca_file"), "ca_file",
                                 "names %s; give that CA with --ca FILE so it goes into the image"
                                 % ca_file)
    if ca_path is not None:
        if not ca_file:
            raise config.ConfigError(provisioning_path, None, "ca_file",
                                     "--ca was given but the file sets no `option ca_file` in "
                                     "`config vpnspot 'main'`; add one, e.g. /etc/vpnspot/isp-ca.pem")
        with open(ca_path, "rb") as f:
            pem = f.read()
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise SystemExit("error: %s: not a PEM certificate (no BEGIN CERTIFICATE line)" % ca_path)
        dest = os.path.join(files, ca_file.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(ca_path, dest)
        os.chmod(dest, 0o644)
    dest = os.path.join(etc, "provisioning")
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(dest, 0o644)
    packages = ["vpnspot"] + list(build.DEPENDS) + list(IMAGE_EXTRAS)
    with open(os.path.join(out_dir, "packages.txt"), "w") as f:
        f.write(" ".join(packages) + "\n")
    return prov, packages


def main(argv=None):
    parser = argparse.ArgumentParser(prog="firmware_pkg/isp_kit.py", description=__doc__.split("\n")[0])
    parser.add_argument("provisioning", metavar="PROVISIONING_FILE")
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--ca", metavar="CA.pem", help="the CA the provider API's certificate chains to")
    args = parser.parse_args(argv)
    try:
        prov, packages = make_kit(args.provisioning, args.out, args.ca)
    except (OSError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("overlay for %s in %s/files" % (prov.name, args.out))
    print("locked: %s" % (", ".join(sorted(prov.locks)) or "nothing"))
    print('make image PROFILE=<your-profile> FILES="%s/files" PACKAGES="%s"'
          % (os.path.abspath(args.out), " ".join(packages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
