package io.kvasir.cli;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A cluster of separate role processes on this machine, started as an operator would start them
 * ({@code kvasir kv-store}, {@code decode}, {@code prefill}, {@code router}), each a JVM of its own
 * on the bench's classpath and JVM flags, talking over loopback. Each role's output goes to a log
 * in {@code logDir}; a role's ports are read from the line it prints once it serves.
 */
final class ProcessCluster implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofMinutes(3);
    private static final Pattern METRICS_PORT = Pattern.compile("metrics on port (\\d+)");
    private static final Pattern STORE_BYTES = Pattern.compile(
            "^kvasir_node_kv_store_bytes_total\\{direction=\"(read|write)\"} (\\S+)$", Pattern.MULTILINE);

    /** One started role: its process, its log, and the line it printed once it served (and its groups). */
    record Role(String name, Process process, Path log, String line, List<String> groups) {
        int port(int group) {
            return Integer.parseInt(groups.get(group - 1));
        }
    }

    /**
     * What to start.
     *
     * @param decodeFlags  flags of every decode node besides the store's and the ports
     *                     (e.g. {@code --no-kv-store})
     * @param prefillFlags a prefill node's flags, or null for no prefill node
     * @param routerFlags  the router's flags besides the store, decode nodes, prefill node and ports
     * @param storeFlags   the kv-store member's flags besides its ports and cluster name
     */
    record Spec(int decodeNodes, List<String> decodeFlags, List<String> prefillFlags, List<String> routerFlags,
            List<String> storeFlags) {
    }

    /** This JVM's java, flags and classpath, and the CLI's main class: a role is that plus its arguments. */
    private static final List<String> JAVA = javaCommand(Kvasir.class);

    private final List<Role> roles = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Thread killOnExit = new Thread(this::kill, "process-cluster-kill");
    private final Role router;

    ProcessCluster(Spec spec, Path logDir) throws IOException, InterruptedException {
        Files.createDirectories(logDir);
        Runtime.getRuntime().addShutdownHook(killOnExit); // never leave roles running behind the bench
        String cluster = "kvasir-bench-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try {
            // every port chosen here, so that every role starts at once (clients retry until the
            // store member is up): on a small machine the JVMs' start-up is most of the wait
            int storePort = freePort();
            int storeGrpcPort = freePort();
            String store = "127.0.0.1:" + storeGrpcPort;
            List<String> node = List.of("--kv-store", store, "--metrics-port", "0");
            List<String> decodeIds = new ArrayList<>();
            start("kv-store", logDir, concat(List.of("kv-store", "--name", "bench-kv", "--cluster", cluster, "--port",
                    Integer.toString(storePort), "--grpc-port", Integer.toString(storeGrpcPort), "--metrics-port", "0",
                    "--replication-port", "0",
                    "--backup-count", "0"), spec.storeFlags()));
            for (int n = 0; n < spec.decodeNodes(); n++) {
                int port = freePort();
                decodeIds.add("127.0.0.1:" + port);
                start("decode-" + n, logDir, concat(List.of("decode", "--grpc-port", Integer.toString(port)), node,
                        spec.decodeFlags()));
            }
            List<String> routerArgs = concat(List.of("router", "--kv-store", store, "--decode",
                    String.join(",", decodeIds), "--grpc-port", "0", "--http-port", "0"), spec.routerFlags());
            if (spec.prefillFlags() != null) {
                int port = freePort();
                start("prefill", logDir, concat(List.of("prefill", "--grpc-port", Integer.toString(port)), node,
                        spec.prefillFlags()));
                routerArgs = concat(routerArgs, List.of("--prefill", "127.0.0.1:" + port));
            }
            start("router", logDir, routerArgs);
            for (Role r : List.copyOf(roles)) {
                String name = r.name().replaceFirst("-\\d+$", "");
                await(r, line(switch (name) {
                    case "kv-store" -> "kv-store member ";
                    case "router" -> "kvasir router: on port (\\d+) \\(gRPC\\), HTTP on (\\d+)";
                    default -> "kvasir " + name + ": ";
                }));
            }
            router = roles.getLast(); // started last, its ports read from its line
        } catch (IOException | InterruptedException | RuntimeException e) {
            close();
            throw e;
        }
    }

    int apiPort() {
        return router.port(1);
    }

    int httpPort() {
        return router.port(2);
    }

    /** Block bytes the decode and prefill nodes have read from and written to the store, summed. */
    long[] storeBytes() {
        long[] sum = new long[2];
        for (Role r : roles) {
            if (!r.name().startsWith("decode") && !r.name().equals("prefill")) {
                continue;
            }
            Matcher port = METRICS_PORT.matcher(r.line());
            if (!port.find()) {
                continue;
            }
            try {
                String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port.group(1) + "/metrics"))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
                Matcher m = STORE_BYTES.matcher(text);
                while (m.find()) {
                    sum[m.group(1).equals("read") ? 0 : 1] += (long) Double.parseDouble(m.group(2));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + r.name() + "'s metrics: " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return sum;
            }
        }
        return sum;
    }

    /** Each role's peak resident set so far ({@code VmHWM}), by role; -1 where unknown. */
    Map<String, Long> peakRss() {
        Map<String, Long> rss = new LinkedHashMap<>();
        for (Role r : roles) {
            rss.put(r.name(), peakRss(r.process().pid()));
        }
        return rss;
    }

    static long peakRss(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux, or gone
        }
        return -1;
    }

    /** Below the ephemeral range, so no role's own port-0 bind takes it before its role starts. */
    private static int freePort() {
        return io.kvasir.tls.Ports.free();
    }

    /** Stops the router and the nodes first (SIGTERM: each leaves gracefully), then the store. */
    @Override
    public void close() {
        List<Role> clients = roles.stream().filter(r -> !r.name().equals("kv-store")).toList();
        stop(clients);
        stop(roles.stream().filter(r -> r.name().equals("kv-store")).toList());
        roles.clear();
        http.close();
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException e) {
            // the JVM is exiting: the hook runs anyway
        }
    }

    private static void stop(List<Role> some) {
        some.forEach(r -> r.process().destroy());
        for (Role r : some) {
            try {
                if (!r.process().waitFor(20, TimeUnit.SECONDS)) {
                    r.process().destroyForcibly();
                }
            } catch (InterruptedException e) {
                r.process().destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    private void kill() {
        roles.forEach(r -> r.process().destroyForcibly());
    }

    /** This JVM's java, its flags and class path, running {@code main}'s class. */
    static List<String> javaCommand(Class<?> main) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.add("-cp");
        command.add(String.join(File.pathSeparator, Arrays.stream(System.getProperty("java.class.path")
                .split(File.pathSeparator)).map(p -> Path.of(p).toAbsolutePath().toString()).toList()));
        command.add(main.getName());
        return List.copyOf(command);
    }

    private Role start(String name, Path logDir, List<String> args) throws IOException {
        List<String> command = new ArrayList<>(JAVA);
        command.addAll(args);
        Path log = logDir.resolve(name + ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Role role = new Role(name, p, log, null, List.of());
        roles.add(role);
        return role;
    }

    /** Waits for the role's "serving" line; a role that exits or stays silent fails with its log's tail. */
    private Role await(Role r, Pattern line) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            String text = Files.readString(r.log());
            Matcher m = line.matcher(text);
            if (m.find()) {
                List<String> groups = new ArrayList<>();
                for (int g = 1; g <= m.groupCount(); g++) {
                    groups.add(m.group(g));
                }
                Role up = new Role(r.name(), r.process(), r.log(), m.group(), groups);
                roles.set(roles.indexOf(r), up);
                return up;
            }
            if (!r.process().isAlive() || System.nanoTime() > deadline) {
                String[] lines = text.split("\n");
                throw new IllegalStateException("bench workload: " + r.name() + (r.process().isAlive()
                        ? " did not come up in " + START_TIMEOUT.toSeconds() + " s" : " exited (" + r.process().exitValue() + ")")
                        + "; the end of " + r.log() + ":\n" + String.join("\n",
                                Arrays.asList(lines).subList(Math.max(0, lines.length - 15), lines.length)));
            }
            Thread.sleep(100);
        }
    }

    /** A whole line of a role's output that starts with {@code start}. */
    private static Pattern line(String start) {
        return Pattern.compile("^" + start + ".*$", Pattern.MULTILINE);
    }

    @SafeVarargs
    private static List<String> concat(List<String>... parts) {
        List<String> all = new ArrayList<>();
        for (List<String> p : parts) {
            all.addAll(p);
        }
        return all;
    }
}
