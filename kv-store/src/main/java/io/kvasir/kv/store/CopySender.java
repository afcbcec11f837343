package io.kvasir.kv.store;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.logging.Level;
import java.util.logging.Logger;

import javax.net.ssl.SSLContext;

/**
 * Sends copies of this member's blocks to other members' {@link CopyReceiver}s: a block's bytes
 * cross once, as one frame on a plain (or TLS) socket, instead of through Hazelcast's backup
 * (serialized into an operation, packetized, copied through its buffers on both ends). Connections
 * are kept per peer and reused; puts running at once each take one.
 */
final class CopySender implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CopySender.class.getName());
    private static final int CONNECT_MILLIS = 2000;
    /** A copy not acknowledged in this time counts as not made (the peer is gone or stuck). */
    private static final int ACK_MILLIS = 30_000;

    private final SSLContext tls;
    private final Map<String, ConcurrentLinkedQueue<Connection>> idle = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /** {@code tls} null: plaintext. */
    CopySender(SSLContext tls) {
        this.tls = tls;
    }

    /**
     * Whether the peer at {@code address} ({@code host:port}) kept its copy of the block. A pooled
     * connection that turns out broken (the peer restarted) is replaced once.
     */
    boolean send(String address, String hex, String tenant, ByteBuffer payload) {
        for (int attempt = 0; attempt < 2 && !closed; attempt++) {
            Connection c = idle.computeIfAbsent(address, a -> new ConcurrentLinkedQueue<>()).poll();
            boolean fresh = c == null;
            try {
                if (fresh) {
                    c = connect(address);
                }
                boolean kept = c.send(hex, tenant, payload);
                if (kept) {
                    idle.get(address).add(c);
                } else {
                    c.close(); // a refused frame ends its connection on the other side
                }
                return kept;
            } catch (IOException | RuntimeException e) {
                if (c != null) {
                    c.close();
                }
                if (fresh) {
                    LOG.log(Level.FINE, "copy of " + hex + " to " + address + " failed", e);
                    return false;
                }
            }
        }
        return false;
    }

    private Connection connect(String address) throws IOException {
        int colon = address.lastIndexOf(':');
        InetSocketAddress to = new InetSocketAddress(address.substring(0, colon),
                Integer.parseInt(address.substring(colon + 1)));
        Socket s = tls != null ? tls.getSocketFactory().createSocket() : new Socket();
        try {
            s.setSendBufferSize(4 << 20);
            s.setTcpNoDelay(true);
            s.connect(to, CONNECT_MILLIS);
            s.setSoTimeout(ACK_MILLIS);
            return new Connection(s);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    @Override
    public void close() {
        closed = true;
        idle.values().forEach(q -> q.forEach(Connection::close));
        idle.clear();
    }

    private static final class Connection {
        private final Socket socket;
        private final DataOutputStream out;
        private final InputStream in;

        Connection(Socket socket) throws IOException {
            this.socket = socket;
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 64 << 10));
            this.in = socket.getInputStream();
        }

        boolean send(String hex, String tenant, ByteBuffer payload) throws IOException {
            out.writeInt(CopyReceiver.MAGIC);
            out.write(HexFormat.of().parseHex(hex));
            out.writeUTF(tenant);
            out.writeInt(payload.remaining());
            if (payload.hasArray()) {
                out.write(payload.array(), payload.arrayOffset() + payload.position(), payload.remaining());
            } else {
                byte[] bytes = new byte[payload.remaining()];
                payload.duplicate().get(bytes);
                out.write(bytes);
            }
            out.flush();
            int ack = in.read();
            if (ack < 0) {
                throw new IOException("the peer closed the connection before acknowledging");
            }
            return ack == CopyReceiver.KEPT;
        }

        void close() {
            try {
                socket.close();
            } catch (IOException e) {
                LOG.log(Level.FINE, "closing a replication connection", e);
            }
        }
    }
}
