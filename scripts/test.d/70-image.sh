# Image suite (run by scripts/test after cargo test): builds the OCI image with
# scripts/build-image, unpacks its root filesystem the way a runtime does (OCI layout:
# index.json -> manifest -> config + layer tars, applied in order) and runs the binary in it
# with chroot as the image's user. Ends with "N passed, N failed"; exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
archive="${VLB_IMAGE_OUT:-$target/image/vlb-controller.oci.tar}"
version=$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)

start=$SECONDS
VLB_IMAGE_OUT="$archive" scripts/build-image
echo "image built in $((SECONDS - start)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/vlb-image-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

# Unpack: prints the image config (JSON) on stdout, lays the layers out in $rootfs.
python3 - "$archive" "$rootfs" >"$work/config.json" <<'PY'
import json, sys, tarfile
archive, rootfs = sys.argv[1], sys.argv[2]
with tarfile.open(archive) as oci:
    def blob(digest):
        algo, hexa = digest.split(":", 1)
        return oci.extractfile(f"blobs/{algo}/{hexa}")
    layout = json.load(oci.extractfile("oci-layout"))
    assert layout["imageLayoutVersion"] == "1.0.0", layout
    index = json.load(oci.extractfile("index.json"))
    manifest = json.load(blob(index["manifests"][0]["digest"]))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json", manifest
    config = json.load(blob(manifest["config"]["digest"]))
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=blob(layer["digest"]), mode="r|*") as t:
            t.extractall(rootfs, filter="fully_trusted")
    json.dump(config, sys.stdout)
PY

passed=0
failed=0
check() {
  local name="$1"
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$work/out"
  fi
}
config() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/config.json" "$1"; }
has() { grep -qxF -- "$2" <<<"$1"; }

check "runs as the non-root user 65532" test "$(config 'c["config"]["User"]')" = 65532:65532
check "entrypoint is /vlb-controller run" \
  test "$(config 'c["config"]["Entrypoint"] + c["config"]["Cmd"]')" = "['/vlb-controller', 'run']"
labels=$(config '"\n".join(f"{k}={v}" for k, v in sorted(c["config"]["Labels"].items()))')
check "org.opencontainers.image labels" bash -c '
  for l in title=vlb-controller version='"$version"' licenses=Apache-2.0 \
           source=https://github.com/vlb-operator/vlb; do
    grep -qxF "org.opencontainers.image.$l" <<<"$1" || { echo "no label $l in: $1"; exit 1; }
  done
  grep -qE "^org.opencontainers.image.revision=[0-9a-f]{40}$" <<<"$1"' _ "$labels"
check "no shell nor package manager in the image" bash -c '
  found=$(find "$1" \( -name sh -o -name bash -o -name dash -o -name busybox -o -name apt -o -name dpkg \) -print)
  [ -z "$found" ] || { echo "$found"; exit 1; }' _ "$rootfs"
check "CA certificates are there" test -s "$rootfs/etc/ssl/certs/ca-certificates.crt"
check "/etc/passwd names user 65532 with no login shell" \
  grep -qx 'vlb:x:65532:65532:vlb-controller:/nonexistent:/sbin/nologin' "$rootfs/etc/passwd"
check "every linked library resolves inside the image" bash -c '
  out=$(chroot "$1" /lib64/ld-linux-x86-64.so.2 --list /vlb-controller) || exit 1
  echo "$out"; ! grep -q "not found" <<<"$out"' _ "$rootfs"

find "$rootfs" -printf '%p %s %T@\n' | sort >"$work/before"
check "vlb-controller version runs in the image as 65532" bash -c '
  out=$(chroot --userspec=65532:65532 "$1" /vlb-controller version) || exit 1
  echo "$out"; grep -qF "$2" <<<"$out"' _ "$rootfs" "$version"
check "vlb-controller manifests runs in the image as 65532" bash -c '
  chroot --userspec=65532:65532 "$1" /vlb-controller manifests --cluster-id c --project-id p \
    | grep -qx "kind: Deployment"' _ "$rootfs"
find "$rootfs" -printf '%p %s %T@\n' | sort >"$work/after"
check "running it wrote nothing to the root filesystem" diff "$work/before" "$work/after"

echo "image: $(du -h "$archive" | cut -f1) archive, $(du -sh "$rootfs" | cut -f1) unpacked"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
