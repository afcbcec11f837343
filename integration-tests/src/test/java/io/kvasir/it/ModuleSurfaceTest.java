package io.kvasir.it;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * Each module's public surface, declared: the types other modules' main code may use. A module that
 * reaches into another's internals fails here, naming the class and the dependency; widening a
 * surface is then a visible edit to {@link #API}. (JPMS would say the same in module-info files,
 * but gRPC, Netty, Arrow and Hazelcast run on the class path.) The generated gRPC code
 * ({@code io.kvasir.proto}) is every module's shared vocabulary and not listed.
 */
class ModuleSurfaceTest {
    /** Module root package → the top-level types it exports, by package. */
    static final Map<String, Map<String, List<String>>> API = Map.of(
            "io.kvasir.engine", Map.of(
                    "", List.of("BuiltinModel", "ChatTemplate", "Generator", "Model", "ModelFingerprint",
                            "ModelFormatException", "RequestCheck"),
                    "loop", List.of("BlockManager", "CpuForward", "EngineLoop", "ForwardPass", "QueueFullException"),
                    "kv", List.of("BlockTable", "KvBlockPool", "KvCacheFullException", "KvCacheType", "LayerArrivals"),
                    "model", List.of("Batch", "ForwardBuffers", "LlamaModel", "MlaConfig", "ModelConfig"),
                    "sampling", List.of("Grammar", "Sampler", "SamplingParams", "TokenLogprobs"),
                    "tokenizer", List.of("StreamingDecoder", "Tokenizer"),
                    "backend.cpu", List.of("VectorCpuBackend"),
                    "weights", List.of("GgufWriter")),
            "io.kvasir.cuda", Map.of(
                    "", List.of("CudaDevice", "CudaForward", "CudaGenerator", "CudaKernels", "CudaLlamaModel",
                            "DeviceKvTier")),
            "io.kvasir.kv", Map.of(
                    "block", List.of("BlockCodec", "BlockFormatException", "BlockKey", "BlockKeys", "BlockLayout",
                            "CacheDType", "KvBlock", "TenantNames"),
                    "client", List.of("KvStoreClient", "KvStoreException"),
                    "store", List.of("BlockStore", "KvStoreMember", "NodeHeartbeat", "StoreConfig")),
            "io.kvasir.node", Map.of(
                    "", List.of("BlockKeyChain", "CacheSalts", "DeviceBlockManager", "DevicePrefix", "EngineBlocks",
                            "HostBlockManager", "NodeCaches", "PrefixCache", "StorePrefixCache", "TracedListener",
                            "WireSampling")),
            "io.kvasir.prefill", Map.of(
                    "", List.of("CudaPrefillEngine", "PrefillEngine", "PrefillGrpcService", "Prefiller")),
            "io.kvasir.decode", Map.of(
                    "", List.of("CudaDecodeEngine", "DecodeAnnouncer", "DecodeEngine", "DecodeGrpcService", "Decoder")),
            "io.kvasir.router", Map.of(
                    "", List.of("ApiKeys", "ChatRenderer", "DecodeRoutes", "GenerationGrpcService", "KvAwarePlacement",
                            "KvQuotaGate", "NodeLoads", "OpenAiHttpApi", "PlacementPolicy", "RouterMetrics", "Tenant",
                            "TenantInterceptor", "TenantLimits")),
            "io.kvasir.telemetry", Map.of(
                    "", List.of("Exposition", "GrpcTracing", "MetricFamilies", "MetricsEndpoint", "Telemetry",
                            "TraceCollector")),
            "io.kvasir.tls", Map.of(
                    "", List.of("DevCertificates", "GrpcTransport", "Ports", "Role", "RoleAuthorization", "Tls",
                            "TlsFiles")),
            "io.kvasir.cli", Map.of());

    /** The GPU backend is the engine's own, in a module of its own: it may use the engine's internals. */
    static final Map<String, String> FRIENDS = Map.of("io.kvasir.engine", "io.kvasir.cuda..");

    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(API.keySet()); // the modules' own code; the generated io.kvasir.proto is not checked

    @Test
    void modulesUseOneAnotherOnlyThroughTheirDeclaredSurface() {
        for (var module : new TreeMap<>(API).entrySet()) {
            String root = module.getKey();
            Set<String> exported = exported(root, module.getValue());
            DescribedPredicate<JavaClass> internal = DescribedPredicate.describe(root + "'s internals",
                    c -> c.getPackageName().startsWith(root) && !exported.contains(topLevel(c).getName()));
            String friend = FRIENDS.get(root);
            var outside = friend == null
                    ? noClasses().that().resideOutsideOfPackages(root + "..", "io.kvasir.proto..")
                    : noClasses().that().resideOutsideOfPackages(root + "..", "io.kvasir.proto..", friend);
            outside.should().dependOnClassesThat(internal)
                    .because("other modules use " + root + " only through its declared surface (ModuleSurfaceTest.API)")
                    .check(MAIN);
        }
    }

    private static Set<String> exported(String root, Map<String, List<String>> byPackage) {
        Set<String> names = new java.util.HashSet<>();
        byPackage.forEach((pkg, types) -> types.forEach(t -> names.add(root + (pkg.isEmpty() ? "" : "." + pkg) + "." + t)));
        return names;
    }

    private static JavaClass topLevel(JavaClass c) {
        JavaClass top = c.getBaseComponentType();
        while (top.getEnclosingClass().isPresent()) {
            top = top.getEnclosingClass().get();
        }
        return top;
    }
}
