#!/usr/bin/env bash
# Builds the container image every role runs from (the role is the command): kvasir:<version>.
#
#   scripts/build-image.sh [--tag kvasir:0.1.0]
#
# No image registry is needed (none may be reachable): the base is Debian's minbase, made with
# debootstrap from the apt mirror this machine already uses, imported with `docker import`, and
# cached as kvasir-base:bookworm. On top: a jlink-trimmed JDK 25 runtime from this machine's JDK,
# the project's jars (built here if missing) and a launcher with the JVM flags Kvasir needs.
# Needs: a running Docker engine, debootstrap (first run only), root (debootstrap).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=jdk.sh
. "$root/scripts/jdk.sh"
kvasir_find_jdk || exit 1

version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/kvasir/Chart.yaml")
tag="kvasir:$version"
[ "${1:-}" = "--tag" ] && tag=$2
base=kvasir-base:bookworm
docker=$(command -v docker)

say() { echo "build-image: $*" >&2; }

# The apt mirror this machine uses (deb822 sources or a classic sources.list), never a fixed host.
debian_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -z "$uri" ] && uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                          | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || { say "no Debian mirror in /etc/apt/sources.list*; cannot debootstrap"; exit 1; }
  echo "$uri"
}

if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { say "debootstrap is needed for the base image (apt-get install debootstrap)"; exit 1; }
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mirror=$(debian_mirror)
  say "debootstrap bookworm (minbase) from this machine's mirror into $rootfs …"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; say "debootstrap failed (log $rootfs.log)"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$docker" import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  trap - EXIT
  say "base image $base imported"
fi

jar="$root/cli/target/kvasir-cli.jar"
if [ ! -f "$jar" ] || [ ! -d "$root/cli/target/lib" ]; then
  say "building the jars (mvn package) …"
  (cd "$root" && mvn -B -q -ntp -DskipTests package)
fi

ctx="$root/target/image"
rm -rf "$ctx" && mkdir -p "$ctx/opt/kvasir"
# the JDK modules Kvasir uses: java.se, the Vector API, the JDK's HTTP server (/metrics), JNDI DNS
# (Hazelcast's Kubernetes discovery), jdk.net (TCP keep-alive options), jdk.management/unsupported
# (Hazelcast, Netty, Arrow)
"$JAVA_HOME/bin/jlink" --add-modules java.se,jdk.incubator.vector,jdk.httpserver,jdk.management,jdk.unsupported,jdk.naming.dns,jdk.net,jdk.crypto.ec,jdk.zipfs \
  --strip-debug --no-man-pages --no-header-files --output "$ctx/opt/kvasir/jre" >/dev/null 2>&1
cp "$jar" "$ctx/opt/kvasir/" && cp -r "$root/cli/target/lib" "$ctx/opt/kvasir/lib"
{
  echo '#!/bin/sh'
  echo '# kvasir inside the image: the role is the first argument (serve, router, prefill, decode, kv-store).'
  printf 'exec /opt/kvasir/jre/bin/java'
  for f in "${KVASIR_JVM_FLAGS[@]}"; do printf " '%s'" "$f"; done
  echo ' ${KVASIR_JAVA_OPTS:-} -jar /opt/kvasir/kvasir-cli.jar "$@"'
} > "$ctx/kvasir" && chmod 755 "$ctx/kvasir"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY opt/kvasir /opt/kvasir
COPY kvasir /usr/local/bin/kvasir
# runs as an unprivileged user; the built-in model and native libraries unpack under /tmp/kvasir
ENV HOME=/tmp/kvasir KVASIR_CACHE_DIR=/tmp/kvasir
USER 10001:10001
EXPOSE 50051 8000 7401 7402 7501 7502 7601 7602 5701
ENTRYPOINT ["/usr/local/bin/kvasir"]
CMD ["serve", "--host", "0.0.0.0"]
LABEL org.opencontainers.image.title=kvasir org.opencontainers.image.version=$version
DOCKERFILE
say "building $tag …"
# the classic builder: it uses the local base image as is (BuildKit would look for it in a registry)
DOCKER_BUILDKIT=0 "$docker" build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx.log" \
  || { cat "$ctx.log" >&2; say "docker build failed"; exit 1; }
say "built $tag ($("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
