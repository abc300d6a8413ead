# Chart suite (run by scripts/test after cargo test): `helm lint` and `helm template` of
# charts/vlb-controller with the real helm (VLB_HELM, from 20-helm.sh) in the configurations
# the README shows. That the rendered objects equal `vlb-controller manifests` is checked by the
# Rust test crates/app/tests/chart.rs. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${VLB_HELM:-}" ]; then
  # shellcheck source=scripts/test.d/20-helm.sh
  . scripts/test.d/20-helm.sh
fi
chart=charts/vlb-controller
ids=(--set clusterId=c1 --set projectId=pro-1)
work=$(mktemp -d "${TMPDIR:-/tmp}/vlb-chart-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

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
fails() { ! "$@"; }

check "helm lint --strict" "$VLB_HELM" lint --strict "$chart" "${ids[@]}"
check "helm lint --strict, every option on" "$VLB_HELM" lint --strict "$chart" "${ids[@]}" \
  --set credentials.create=true --set credentials.clientId=a --set credentials.clientSecret=b \
  --set networkPolicy.enabled=true --set namespace.create=true --set priorityClassName=system-cluster-critical \
  --set 'tolerations[0].key=CriticalAddonsOnly' --set 'tolerations[0].operator=Exists' \
  --set 'nodeSelector.kubernetes\.io/os=linux' --set 'podAnnotations.a=b' --set 'podLabels.c=d' \
  --set 'imagePullSecrets[0].name=pull'
check "helm template (defaults)" "$VLB_HELM" template vlb "$chart" -n vlb-system "${ids[@]}"
check "helm template --include-crds renders both CRDs" bash -c \
  '"$1" template vlb "$2" -n vlb-system --include-crds --set clusterId=c --set projectId=p \
     | grep -c "^kind: CustomResourceDefinition$" | grep -qx 2' _ "$VLB_HELM" "$chart"
check "helm template (one replica: no PodDisruptionBudget)" bash -c \
  '! "$1" template vlb "$2" -n vlb-system --set clusterId=c --set projectId=p --set replicas=1 \
     | grep -q "^kind: PodDisruptionBudget$"' _ "$VLB_HELM" "$chart"
check "helm template fails without clusterId" fails "$VLB_HELM" template vlb "$chart" --set projectId=p
check "helm template fails on settings.VLB_SHUTDOWN_TIMEOUT" fails "$VLB_HELM" template vlb "$chart" \
  "${ids[@]}" --set settings.VLB_SHUTDOWN_TIMEOUT=60s
check "helm package" "$VLB_HELM" package "$chart" -d "$work"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
