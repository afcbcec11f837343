#!/usr/bin/env bash
# Runs every test of every module (the README's test command; .ci/run calls exactly this).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=jdk.sh
. "$root/scripts/jdk.sh"
kvasir_find_jdk || exit 1
echo "JDK: $JAVA_HOME" >&2
cd "$root"
exec mvn -B -ntp verify "$@"
