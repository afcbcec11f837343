#!/usr/bin/env bash
# Builds what a GPU machine needs to check Kvasir's CUDA kernels, and runs the check where a GPU is.
#
#   scripts/gpu-check.sh          build target/gpu-check (here: Maven, nvcc, JDK 25), then run it if
#                                 this machine has an NVIDIA GPU
#   target/gpu-check/run.sh       on the GPU machine (no Maven, no JDK, no internet needed there):
#                                 every kernel against the CPU, GEMV weight bandwidth, KV copy GB/s
#
# The bundle holds the kernels' jar (with the nvcc-built fatbin), JCuda's driver binding and a
# jlink-trimmed Java runtime, well under the 64 MiB a device session may carry.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=jdk.sh
. "$root/scripts/jdk.sh"
kvasir_find_jdk || exit 1
command -v /usr/local/cuda/bin/nvcc >/dev/null || { echo "gpu-check: nvcc (/usr/local/cuda/bin/nvcc) is needed to build the kernels" >&2; exit 1; }

out="$root/target/gpu-check"
(cd "$root" && mvn -B -q -ntp -DskipTests -pl cuda -am install >/dev/null)
rm -rf "$out/lib"
# DJL's tokenizers are for Hugging Face folders only (GGUF models carry their own vocabulary): left
# out, so the bundle stays within what a device session carries
(cd "$root/cuda" && mvn -B -q -ntp dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/lib" \
  -DexcludeArtifactIds=tokenizers,api,jna,commons-compress,commons-io,commons-codec >/dev/null)
cp "$root"/cuda/target/kvasir-cuda-*.jar "$out/lib/"
# the checks themselves are test code (cuda/src/test): their classes travel beside the jars
rm -rf "$out/checks" && cp -r "$root/cuda/target/test-classes" "$out/checks"
# the F32/F16/Q8_0 test models (MLA and sliding-window ones are CPU-only for now)
mkdir -p "$out/models" && cp "$root"/test-fixtures/src/main/resources/io/kvasir/testing/golden/{llama,qwen2}*.gguf "$out/models/"
rm -rf "$out/jre"
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,jdk.unsupported,jdk.incubator.vector --strip-debug --no-man-pages \
  --no-header-files --compress zip-9 --output "$out/jre" >/dev/null 2>&1
cat > "$out/run.sh" <<'RUN'
#!/bin/sh
# Runs Kvasir's GPU check with the bundled Java runtime.
here=$(cd "$(dirname "$0")" && pwd)
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
    [ -e "$d/libcuda.so.1" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && break
  done
fi
exec "$here/jre/bin/java" --enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector -Xss4m -cp "$here/lib/*:$here/checks" io.kvasir.cuda.GpuCheck \
  "$@" "$here"/models/*.gguf
RUN
chmod +x "$out/run.sh"
echo "gpu-check: built $out ($(du -sh "$out" | cut -f1))" >&2
if command -v nvidia-smi >/dev/null 2>&1; then
  exec "$out/run.sh"
fi
echo "gpu-check: no GPU on this machine; run $out/run.sh on one" >&2
