#!/usr/bin/env bash
# `make release`: the archives the Terraform registry expects, for the platform this runs on
# (cross-compiling needs other targets' linkers; run it on each platform, or in CI per target).
#   dist/terraform-provider-hk8s_<version>_<os>_<arch>.zip   the binary as terraform-provider-hk8s_v<version>
#   dist/terraform-provider-hk8s_<version>_manifest.json     terraform-registry-manifest.json
#   dist/terraform-provider-hk8s_<version>_SHA256SUMS        sha256 of the zips and the manifest
# Signing SHA256SUMS (gpg --detach-sign) needs the release key and is left to the publisher.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="${1:?usage: tools/release.sh <version>}"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "release.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "release.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

cargo build --release --locked -p terraform-provider-hk8s
dist="$root/dist"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$dist"
name="terraform-provider-hk8s_${version}"
cp target/release/terraform-provider-hk8s "$stage/terraform-provider-hk8s_v${version}"
# zip is not installed everywhere; Python's zipfile is (tools/bootstrap.sh needs Python anyway).
python3 - "$stage/terraform-provider-hk8s_v${version}" "$dist/${name}_${os}_${arch}.zip" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo(os.path.basename(src))
info.external_attr = 0o755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read())
PY
cp terraform-registry-manifest.json "$dist/${name}_manifest.json"
(cd "$dist" && sha256sum "${name}"_*.zip "${name}_manifest.json" > "${name}_SHA256SUMS")
echo "release archives in $dist:"
ls -l "$dist"
