#!/usr/bin/env bash
# Build the project image with podman on a machine with no Docker engine and no registry that
# serves base images: the base is bootstrapped from Debian packages, then deploy/Dockerfile is
# built unchanged except for its PYTHON_IMAGE argument. `make test-containers` runs this first.
#
#   bash deploy/containers/build.sh            # prints the image name on its last line
#
# Steps:
#   1. the tools: podman, runc, mmdebstrap from apt when missing (needs root); podman-compose
#      from PyPI (podman-compose.txt pins it: Debian's 1.0.3 lacks the !reset tag that
#      compose.lane.yaml uses) into .cache/containers/podman-compose;
#   2. the base image konsortio-base:<hash>, where <hash> covers everything the base is made
#      from (base.Containerfile, the mmdebstrap command, the machine's CA bundle); the rootfs
#      tarball is kept under .cache/containers/ and the image in podman's storage, so a second
#      run reuses both;
#   3. the project image konsortio:containers-test from deploy/Dockerfile (--format docker keeps
#      its HEALTHCHECK; the OCI format drops it);
#   4. artifacts in test-artifacts/containers/: sbom.cdx.json (CycloneDX, the image's Python
#      packages from uv.lock) and image.json (size and build time).
#
# Knobs: KONSORTIO_IMAGE (default konsortio:containers-test), KONSORTIO_CONTAINERS_CACHE
# (default .cache/containers), KONSORTIO_NO_APT=1 (never install packages).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KONSORTIO_CONTAINERS_CACHE:-$ROOT/.cache/containers}
ARTIFACTS=$ROOT/test-artifacts/containers
IMAGE=${KONSORTIO_IMAGE:-konsortio:containers-test}
UV=${UV:-$ROOT/.tools/bin/uv}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}

say() { printf 'containers: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# --- 1. tools ---------------------------------------------------------------------------------
need=()
for tool in podman:podman runc:runc mmdebstrap:mmdebstrap; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
# The harness's PostgreSQL: Debian's server (TLS-capable; the embedded wheel's is built without).
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
    [[ ${KONSORTIO_NO_APT:-0} != 1 && $(id -u) == 0 ]] ||
        die "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root"
    say "installing ${need[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" uidmap >/dev/null
fi

if [[ ! -x $CACHE/podman-compose/bin/podman-compose ]] ||
    ! cmp -s "$HERE/podman-compose.txt" "$CACHE/podman-compose/requirements.txt"; then
    rm -rf "$CACHE/podman-compose"
    python3 -m venv "$CACHE/podman-compose"
    "$CACHE/podman-compose/bin/pip" install -q --disable-pip-version-check \
        -r "$HERE/podman-compose.txt" || die "pip could not install podman-compose"
    cp "$HERE/podman-compose.txt" "$CACHE/podman-compose/requirements.txt"
fi

# --- 2. the base image ------------------------------------------------------------------------
CA_BUNDLE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $CA_BUNDLE ]] || CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
SUITE=bookworm
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,passwd
MMDEBSTRAP=(mmdebstrap --format=tar --variant=minbase --include="$PACKAGES" "$SUITE")
hash=$({
    cat "$HERE/base.Containerfile" "$CA_BUNDLE"
    printf '%s\n' "${MMDEBSTRAP[*]}"
} | sha256sum | cut -c1-16)
BASE=konsortio-base:$hash
BASE_DIR=$CACHE/base-$hash
if podman image exists "$BASE"; then
    say "base $BASE is cached"
else
    mkdir -p "$BASE_DIR"
    if [[ ! -s $BASE_DIR/rootfs.tar ]]; then
        t0=$SECONDS
        say "bootstrapping the base from Debian packages: ${MMDEBSTRAP[*]}"
        "${MMDEBSTRAP[@]}" "$BASE_DIR/rootfs.tar.partial" >"$BASE_DIR/mmdebstrap.log" 2>&1 || {
            tail -n 30 "$BASE_DIR/mmdebstrap.log" >&2
            die "mmdebstrap failed (log: $BASE_DIR/mmdebstrap.log)"
        }
        mv "$BASE_DIR/rootfs.tar.partial" "$BASE_DIR/rootfs.tar"
        say "rootfs in $((SECONDS - t0)) s ($(du -h "$BASE_DIR/rootfs.tar" | cut -f1))"
    fi
    cp "$HERE/base.Containerfile" "$BASE_DIR/Containerfile"
    cp "$CA_BUNDLE" "$BASE_DIR/ca-certificates.crt"
    podman build --isolation=chroot --network host --format docker -q -t "$BASE" \
        -f "$BASE_DIR/Containerfile" "$BASE_DIR" >/dev/null
    say "base image $BASE built"
fi

# --- 3. the project image ---------------------------------------------------------------------
t0=$(date +%s.%N)
say "building $IMAGE from deploy/Dockerfile (PYTHON_IMAGE=$BASE)"
podman build --isolation=chroot --network host --format docker \
    --build-arg PYTHON_IMAGE="$BASE" --ignorefile "$ROOT/deploy/Dockerfile.dockerignore" \
    -t "$IMAGE" -f "$ROOT/deploy/Dockerfile" "$ROOT" >"$CACHE/build.log" 2>&1 || {
    tail -n 40 "$CACHE/build.log" >&2
    die "podman build failed (log: $CACHE/build.log)"
}
t1=$(date +%s.%N)
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")

# --- 4. artifacts -----------------------------------------------------------------------------
mkdir -p "$ARTIFACTS"
# The SBOM lists what the image installs: uv.lock without the dev and embedded groups.
"$UV" export --locked --format cyclonedx1.5 --no-dev --no-group embedded \
    -o "$ARTIFACTS/sbom.cdx.json" >/dev/null 2>&1 || die "uv export (CycloneDX SBOM) failed"
python3 - "$ARTIFACTS/image.json" "$IMAGE" "$BASE" "$size" "$base_size" "$t0" "$t1" <<'EOF'
import json, sys
out, image, base, size, base_size, t0, t1 = sys.argv[1:]
facts = {"image": image, "base": base, "size_bytes": int(size),
         "base_size_bytes": int(base_size), "build_seconds": round(float(t1) - float(t0), 1)}
json.dump(facts, open(out, "w"), indent=2)
print(f"containers: {image}: {int(size) // 10**6} MB (base {int(base_size) // 10**6} MB), "
      f"built in {facts['build_seconds']} s", file=sys.stderr)
EOF
echo "$IMAGE"
