# Sourced by scripts/test (and by crates/app/tests/chart.rs when VLB_HELM is unset): builds helm
# from its Go module (tools/helm: helm.sh/helm/v3 pinned in go.mod, every module it links pinned
# in go.sum) into $VLB_TOOLS_DIR once per machine, and exports VLB_HELM. The directory is stamped
# with helm's version and a hash of go.sum, so a change of either builds anew; otherwise the
# binary there is reused.
vlb_helm_prepare() {
  local root version sum dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  version="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$root/tools/helm/go.mod")"
  if [ -z "$version" ]; then
    echo "20-helm.sh: no helm.sh/helm/v3 requirement in tools/helm/go.mod" >&2
    return 1
  fi
  sum="$(sha256sum "$root/tools/helm/go.sum" | cut -c1-12)"
  dir="${VLB_TOOLS_DIR:-$HOME/.cache/vlb-tools}/helm-$version-$sum"
  if [ ! -x "$dir/helm" ]; then
    if ! command -v go >/dev/null 2>&1; then
      echo "20-helm.sh: go is needed to build helm" >&2
      return 1
    fi
    echo "building helm $version into $dir (once per machine)" >&2
    mkdir -p "$dir"
    local start=$SECONDS
    (cd "$root/tools/helm" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
      -o "$dir/helm.partial" helm.sh/helm/v3/cmd/helm) || return 1
    mv "$dir/helm.partial" "$dir/helm"
    echo "built helm $version in $((SECONDS - start)) s" >&2
  fi
  export VLB_HELM="$dir/helm"
  "$VLB_HELM" version --short >&2
}
vlb_helm_prepare
