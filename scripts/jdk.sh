# Sourced by bin/kvasir, scripts/test.sh and .ci/run: finds a JDK >= 25 and exports JAVA_HOME.
# Order: $JAVA_HOME, the java on PATH, then the usual JVM folders (newest first).

kvasir_java_major() { # prints the major version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -1
}

kvasir_find_jdk() {
  local candidates=() c
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    c=$(readlink -f "$(command -v java)"); candidates+=("${c%/bin/java}")
  fi
  for c in $(ls -d /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/* \
               "$HOME"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home 2>/dev/null | sort -rV); do
    candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    if [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ]; then
      local major; major=$(kvasir_java_major "$c/bin/java")
      if [ -n "$major" ] && [ "$major" -ge 25 ]; then
        export JAVA_HOME="$c"
        return 0
      fi
    fi
  done
  cat >&2 <<'MSG'
kvasir: no JDK 25 or newer found (looked at $JAVA_HOME, java on PATH, /usr/lib/jvm, /opt/java, ~/.sdkman).
Install one, for example Eclipse Temurin 25 (https://adoptium.net) or your distribution's openjdk-25-jdk,
then set JAVA_HOME to it.
MSG
  return 1
}

# JVM flags every Kvasir process needs: the Vector API (incubating in JDK 25), native access for the
# memory-mapped weights and the tokenizer's native library, DJL offline (it must never phone home).
# Arrow (the KV block format) reads direct buffers through java.nio internals and sun.misc.Unsafe;
# Hazelcast (the KV store's cluster) asks for the rest, for its fast paths. Logs: one line each.
KVASIR_JVM_FLAGS=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED
  -Dai.djl.offline=true -DOPT_OUT_TRACKING=true -Xss4m
  --add-opens=java.base/java.nio=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
  --add-exports=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.management/sun.management=ALL-UNNAMED
  --add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED
  '-Djava.util.logging.SimpleFormatter.format=%1$tT %4$s %3$s: %5$s%6$s%n')
# Maven itself (Guice) trips JDK 25's sun.misc.Unsafe warning; silence it
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
