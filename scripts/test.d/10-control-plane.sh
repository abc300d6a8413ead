# Sourced by scripts/test before the Rust tests: builds (once per machine) the real control plane
# the end-to-end and differential suites also run against, kube-apiserver and etcd from
# tools/control-plane (k8s.io/kubernetes and go.etcd.io/etcd/server/v3 pinned in its go.mod and
# go.sum, fetched only from the Go module proxy), and exports VLB_KUBE_APISERVER and VLB_ETCD.
#
# The build lands in $VLB_TOOLS_DIR/control-plane-<kubernetes version>-<hash of the module>/;
# an existing complete build there is reused. Fresh, it takes a module download (~1 GB) and a
# long compile (see the timing it prints); cached, under a second.
vlb_control_plane() {
  local module=tools/control-plane
  local k8s_version hash dir tmp started
  k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$module/go.mod")
  if [ -z "$k8s_version" ]; then
    echo "10-control-plane: no k8s.io/kubernetes version in $module/go.mod" >&2
    return 1
  fi
  hash=$(cd "$module" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
  dir="$VLB_TOOLS_DIR/control-plane-$k8s_version-$hash"
  if [ -f "$dir/.complete" ] && [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; then
    echo "control plane $k8s_version: reusing $dir"
  else
    if ! command -v go >/dev/null 2>&1; then
      echo "10-control-plane: go is not installed (needs the version $module/go.mod names or newer)" >&2
      return 1
    fi
    started=$(date +%s)
    echo "control plane $k8s_version: building kube-apiserver and etcd into $dir ($(go version))"
    tmp=$(mktemp -d "$VLB_TOOLS_DIR/.control-plane-build.XXXXXX")
    # GOTOOLCHAIN stays as set (auto by default): a go older than go.mod's line fetches that
    # toolchain from the module proxy (golang.org/toolchain), nothing else.
    if ! (cd "$module" && GOFLAGS="-mod=readonly -buildvcs=false" \
          go build -trimpath -ldflags=-s -o "$tmp/" ./kube-apiserver ./etcd); then
      rm -rf "$tmp"
      echo "10-control-plane: go build failed" >&2
      return 1
    fi
    chmod 755 "$tmp"
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    echo "control plane $k8s_version: built in $(( $(date +%s) - started )) s"
  fi
  export VLB_KUBE_APISERVER="$dir/kube-apiserver"
  export VLB_ETCD="$dir/etcd"
}
vlb_control_plane
unset -f vlb_control_plane
