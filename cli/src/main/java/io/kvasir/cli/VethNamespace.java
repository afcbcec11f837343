package io.kvasir.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * "Another host" on this machine, for {@code bench kv}: a network namespace joined to this one by a
 * veth pair, so traffic to {@link #peerAddress} crosses a real network stack (two TCP/IP stacks, a
 * virtual link) instead of loopback. Needs root and iproute2's {@code ip}; removed on close.
 */
final class VethNamespace implements AutoCloseable {
    private final String name;
    private final String hostAddress;
    private final String peerAddress;

    private VethNamespace(String name, String hostAddress, String peerAddress) {
        this.name = name;
        this.hostAddress = hostAddress;
        this.peerAddress = peerAddress;
    }

    /** Why no namespace can be made here, or null when one can. */
    static String unavailable() {
        if (!System.getProperty("os.name").toLowerCase().contains("linux")) {
            return "network namespaces are Linux's";
        }
        if (!"0".equals(run(List.of("id", "-u")).trim())) {
            return "creating network namespaces needs root";
        }
        if (!Files.isExecutable(Path.of("/usr/sbin/ip")) && !Files.isExecutable(Path.of("/sbin/ip"))
                && !Files.isExecutable(Path.of("/usr/bin/ip"))) {
            return "iproute2's ip is not installed";
        }
        return null;
    }

    private static final java.util.concurrent.atomic.AtomicInteger CREATED = new java.util.concurrent.atomic.AtomicInteger();

    /** Creates the namespace and the link: this side {@code 10.213.N.1}, the namespace's {@code .2}. */
    static VethNamespace create() throws IOException {
        long pid = ProcessHandle.current().pid();
        int n = CREATED.getAndIncrement(); // a process may hold several at once
        String ns = "kvbench-" + pid + "-" + n;
        String here = "kvb" + pid % 100_000 + "n" + n + "a", there = "kvb" + pid % 100_000 + "n" + n + "b";
        String subnet = "10.213." + (pid + 7L * n) % 250 + ".";
        VethNamespace v = new VethNamespace(ns, subnet + "1", subnet + "2");
        try {
            check(List.of("ip", "netns", "add", ns));
            check(List.of("ip", "link", "add", here, "type", "veth", "peer", "name", there));
            check(List.of("ip", "link", "set", there, "netns", ns));
            check(List.of("ip", "addr", "add", v.hostAddress + "/30", "dev", here));
            check(List.of("ip", "link", "set", here, "up"));
            check(v.exec("ip", "addr", "add", v.peerAddress + "/30", "dev", there));
            check(v.exec("ip", "link", "set", there, "up"));
            check(v.exec("ip", "link", "set", "lo", "up"));
            return v;
        } catch (IOException | RuntimeException e) {
            v.close();
            throw e;
        }
    }

    String peerAddress() {
        return peerAddress;
    }

    /** {@code command} as run inside the namespace. */
    List<String> exec(String... command) {
        return exec(List.of(command));
    }

    List<String> exec(List<String> command) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(command);
        return all;
    }

    @Override
    public void close() {
        run(List.of("ip", "netns", "del", name)); // takes the veth pair with it
    }

    private static void check(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted running " + String.join(" ", command), e);
        }
    }

    private static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return output;
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }
}
