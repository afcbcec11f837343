package io.kvasir.it;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A {@code kvasir} sub-command in its own JVM (this JVM's flags and class path), started and ready. */
final class KvasirProcess implements AutoCloseable {
    private final Process process;
    private final String readyLine;

    private KvasirProcess(Process process, String readyLine) {
        this.process = process;
        this.readyLine = readyLine;
    }

    /** Starts {@code kvasir args…} and waits for a line starting with {@code ready}. */
    static KvasirProcess start(String ready, String... args) {
        try {
            List<String> cmd = new ArrayList<>();
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (arg.startsWith("--") || arg.startsWith("-D")) {
                    cmd.add(arg);
                }
            }
            cmd.addAll(List.of("-Xmx768m", "-cp", System.getProperty("java.class.path"), "io.kvasir.cli.Kvasir"));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            StringBuilder seen = new StringBuilder();
            String line;
            while ((line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.startsWith(ready)) {
                    String found = line;
                    Thread.ofVirtual().start(() -> out.lines().forEach(l -> { }));
                    return new KvasirProcess(p, found);
                }
            }
            throw new IllegalStateException("kvasir " + String.join(" ", args) + " exited with " + p.waitFor() + ":\n" + seen);
        } catch (Exception e) {
            throw new IllegalStateException("starting kvasir " + String.join(" ", args) + ": " + e.getMessage(), e);
        }
    }

    /** The first number after "port " in the ready line. */
    int port() {
        Matcher m = Pattern.compile("port (\\d+)").matcher(readyLine);
        if (!m.find()) {
            throw new IllegalStateException("no port in: " + readyLine);
        }
        return Integer.parseInt(m.group(1));
    }

    /** A kv-store member's gRPC address, from its ready line ("gRPC HOST:PORT,"). */
    String grpcAddress() {
        Matcher m = Pattern.compile("gRPC ([^,\\s]+),").matcher(readyLine);
        if (!m.find()) {
            throw new IllegalStateException("no gRPC address in: " + readyLine);
        }
        return m.group(1);
    }

    /** The port its ready line gives after "metrics on port " (kv-store, prefill, decode) or "HTTP on " (router). */
    int metricsPort() {
        Matcher m = Pattern.compile("(?:metrics on port|HTTP on) (\\d+)").matcher(readyLine);
        if (!m.find()) {
            throw new IllegalStateException("no metrics port in: " + readyLine);
        }
        return Integer.parseInt(m.group(1));
    }

    /** Its {@code /metrics} body. */
    String scrape() throws Exception {
        return scrape(null);
    }

    /** Its {@code /metrics} body over HTTPS, trusting {@code tls} (any role under TLS), or plain HTTP when null. */
    String scrape(javax.net.ssl.SSLContext tls) throws Exception {
        return scrape(metricsPort(), tls);
    }

    /** The {@code /metrics} body on localhost's {@code port}, over HTTPS trusting {@code tls}, or plain HTTP when null. */
    static String scrape(int port, javax.net.ssl.SSLContext tls) throws Exception {
        return scrape(port, tls, "text/plain");
    }

    /** Its {@code /metrics} body in the format {@code accept} asks for, over HTTPS trusting {@code tls}. */
    String scrape(javax.net.ssl.SSLContext tls, String accept) throws Exception {
        return scrape(metricsPort(), tls, accept);
    }

    static String scrape(int port, javax.net.ssl.SSLContext tls, String accept) throws Exception {
        var client = tls == null ? java.net.http.HttpClient.newBuilder() : java.net.http.HttpClient.newBuilder().sslContext(tls);
        try (var http = client.build()) {
            var r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create((tls == null ? "http" : "https")
                    + "://localhost:" + port + "/metrics")).header("Accept", accept).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("/metrics answered " + r.statusCode());
            }
            return r.body();
        }
    }

    /** The value of the first sample whose line starts with {@code prefix} (name and labels), or NaN. */
    static double sample(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix)).mapToDouble(l -> Double.parseDouble(
                l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(Double.NaN);
    }

    /**
     * The remote ports of this process's open TCP connections (IPv4 and IPv6), read from Linux's
     * /proc: which sockets the process holds, and where each one leads.
     */
    java.util.Set<Integer> remotePorts() throws java.io.IOException {
        java.util.Set<String> inodes = new java.util.HashSet<>();
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc", Long.toString(process.pid()), "fd"))) {
            for (var fd : fds.toList()) {
                try {
                    String link = java.nio.file.Files.readSymbolicLink(fd).toString();
                    if (link.startsWith("socket:[")) {
                        inodes.add(link.substring(8, link.length() - 1));
                    }
                } catch (java.io.IOException e) {
                    // closed meanwhile
                }
            }
        }
        java.util.Set<Integer> ports = new java.util.TreeSet<>();
        for (String table : new String[] {"tcp", "tcp6"}) {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", Long.toString(process.pid()),
                    "net", table))) {
                String[] f = line.trim().split("\\s+");
                // sl local_address rem_address st ... inode (the 10th field); state 01: established
                if (f.length > 9 && f[3].equals("01") && inodes.contains(f[9])) {
                    ports.add(Integer.parseInt(f[2].substring(f[2].indexOf(':') + 1), 16));
                }
            }
        }
        return ports;
    }

    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM (a graceful stop), then SIGKILL after 20 s. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
