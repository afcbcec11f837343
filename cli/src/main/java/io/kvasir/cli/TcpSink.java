package io.kvasir.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * The other end of {@code bench kv}'s TCP baseline, run as its own process: accepts connections on
 * loopback (or the address given), reads each to the end of a length-prefixed stream, answers one
 * byte. Prints its port.
 */
public final class TcpSink {
    private TcpSink() {
    }

    public static void main(String[] args) throws IOException {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(args.length > 0 ? args[0] : "127.0.0.1", 0));
            System.out.println(((InetSocketAddress) server.getLocalAddress()).getPort());
            System.out.flush();
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (true) {
                try (SocketChannel ch = server.accept()) {
                    ByteBuffer header = ByteBuffer.allocate(8);
                    while (header.hasRemaining() && ch.read(header) >= 0) {
                        // reading the length
                    }
                    long remaining = header.flip().getLong();
                    if (remaining < 0) {
                        return; // asked to stop
                    }
                    while (remaining > 0) {
                        buf.clear();
                        int n = ch.read(buf);
                        if (n < 0) {
                            break;
                        }
                        remaining -= n;
                    }
                    ch.write(ByteBuffer.wrap(new byte[] {1}));
                }
            }
        }
    }
}
