package io.kvasir.cli;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Collections;

/**
 * "auto" in an address: this machine's own, so a container or pod can say where it is reached
 * without knowing its IP in advance ({@code --host auto}, {@code --advertise auto:7501}).
 */
final class Hosts {
    private Hosts() {
    }

    /** {@code text} with a leading "auto" replaced by this machine's first non-loopback IPv4 address. */
    static String resolve(String text) {
        if (text.equals("auto") || text.startsWith("auto:")) {
            return ownAddress() + text.substring(4);
        }
        return text;
    }

    /** A bind-everything host ("0.0.0.0") cannot be dialled: advertise this machine's address instead. */
    static String advertisable(String host) {
        return host.equals("0.0.0.0") ? "auto" : host;
    }

    static String ownAddress() {
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp() || nic.isLoopback()) {
                    continue;
                }
                for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                    if (a instanceof Inet4Address && !a.isLinkLocalAddress()) {
                        return a.getHostAddress();
                    }
                }
            }
        } catch (SocketException e) {
            throw new IllegalStateException("cannot list this machine's network interfaces: " + e.getMessage(), e);
        }
        throw new IllegalStateException("host \"auto\": this machine has no non-loopback IPv4 address");
    }
}
