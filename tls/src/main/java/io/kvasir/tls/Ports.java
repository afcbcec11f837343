package io.kvasir.tls;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for processes started with their ports given up front (benches, tests). A port picked by binding port 0
 * comes from the kernel's ephemeral range, the same range every later port-0 bind (a role's
 * metrics or replication port) and every outgoing connection draws from, so one of those can take
 * it before the process it was meant for binds it. These come from below that range.
 */
public final class Ports {
    /** Linux's default ephemeral range starts here; elsewhere, this is where the search stops. */
    private static final int DEFAULT_EPHEMERAL_LOW = 32768;
    private static final int LOWEST = 10000;

    private Ports() {
    }

    /** A port on loopback nothing listens on now, below the ephemeral range. */
    public static int free() {
        int high = ephemeralLow() - 1;
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(LOWEST, high + 1);
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress("127.0.0.1", port));
                return port;
            } catch (IOException taken) {
                // in use: another one
            }
        }
        throw new IllegalStateException("no free port in [" + LOWEST + ", " + high + "] after 200 tries");
    }

    private static int ephemeralLow() {
        try {
            String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim();
            int low = Integer.parseInt(range.split("\\s+")[0]);
            return low > LOWEST + 1000 ? low : DEFAULT_EPHEMERAL_LOW;
        } catch (IOException | RuntimeException e) {
            return DEFAULT_EPHEMERAL_LOW; // not Linux
        }
    }
}
