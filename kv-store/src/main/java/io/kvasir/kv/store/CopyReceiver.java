package io.kvasir.kv.store;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;
import java.util.logging.Level;
import java.util.logging.Logger;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.TenantNames;

/**
 * Takes other members' copies of their blocks on this member's replication port and keeps them in
 * {@link BlockCopies}. The port carries block bytes between members only, as Hazelcast's does:
 * with TLS, a caller must present a kv-store certificate; without, its address must be a member's.
 *
 * <p>A frame is {@code MAGIC, key (32 bytes), tenant (DataOutput UTF), length, payload}; each is
 * answered with one byte, {@link #KEPT} or {@link #REFUSED}. A frame that breaks these rules is
 * refused and its connection closed (its stream can no longer be read in step).
 */
final class CopyReceiver implements AutoCloseable {
    static final int MAGIC = 0x4b565231; // "KVR1"
    static final byte KEPT = 0;
    static final byte REFUSED = 1;
    private static final Logger LOG = Logger.getLogger(CopyReceiver.class.getName());

    private final ServerSocket server;
    private final BlockCopies copies;
    private final int maxBlockBytes;
    private final Predicate<InetAddress> admitted;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private volatile boolean closed;

    /**
     * Listens on {@code address} (port 0: any free one). {@code tls} null: plaintext, callers
     * admitted by {@code admitted} (their address); else mutual TLS with {@code tls}'s trust.
     */
    CopyReceiver(InetSocketAddress address, SSLContext tls, Predicate<InetAddress> admitted, BlockCopies copies,
            int maxBlockBytes) throws IOException {
        this.copies = copies;
        this.maxBlockBytes = maxBlockBytes;
        this.admitted = tls != null ? a -> true : admitted;
        if (tls != null) {
            SSLServerSocket s = (SSLServerSocket) tls.getServerSocketFactory().createServerSocket();
            s.setNeedClientAuth(true);
            server = s;
        } else {
            server = new ServerSocket();
        }
        server.setReceiveBufferSize(4 << 20);
        server.bind(address);
        acceptor = Thread.ofPlatform().daemon().name("kv-copies-accept").start(this::acceptLoop);
    }

    int port() {
        return server.getLocalPort();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                if (!admitted.test(s.getInetAddress())) {
                    LOG.warning("replication port: refused a connection from " + s.getInetAddress()
                            + ", which is no member's address");
                    s.close();
                    continue;
                }
                open.add(s);
                Thread.ofVirtual().name("kv-copies-" + s.getRemoteSocketAddress()).start(() -> serve(s));
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(Level.WARNING, "replication port: accept failed", e);
                }
            }
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            socket.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 << 10));
            OutputStream out = socket.getOutputStream();
            while (!closed) {
                int magic;
                try {
                    magic = in.readInt();
                } catch (EOFException e) {
                    return; // the sender closed between frames
                }
                String problem = readFrame(magic, in);
                out.write(problem == null ? KEPT : REFUSED);
                out.flush();
                if (problem != null) {
                    LOG.warning("replication port: refused a frame from " + socket.getInetAddress() + ": " + problem);
                    drainUntilClosed(socket, in);
                    return;
                }
            }
        } catch (SocketException | EOFException e) {
            // the sender went away mid-frame (it crashed, or this member is closing): nothing was kept
        } catch (IOException e) {
            LOG.log(Level.FINE, "replication connection from " + socket.getInetAddress() + " failed", e);
        } finally {
            open.remove(socket);
        }
    }

    /**
     * After a refusal: sends the end of this side, then reads what the sender still sends until it
     * closes (at most a block's worth, for a second). Closing with its bytes unread would reset the
     * connection, and a reset can discard the refusal before the sender reads it.
     */
    private void drainUntilClosed(Socket socket, InputStream in) throws IOException {
        try {
            socket.shutdownOutput();
        } catch (UnsupportedOperationException e) {
            // a TLS socket that cannot half-close: the refusal is flushed already
        }
        socket.setSoTimeout(1000);
        long left = maxBlockBytes + (64L << 10);
        byte[] sink = new byte[64 << 10];
        int n;
        while (left > 0 && (n = in.read(sink)) > 0) {
            left -= n;
        }
    }

    /** Reads one frame and keeps its copy; the reason it cannot, or null. */
    private String readFrame(int magic, DataInputStream in) throws IOException {
        if (magic != MAGIC) {
            return "frame starts with 0x" + Integer.toHexString(magic) + ", not 0x" + Integer.toHexString(MAGIC);
        }
        byte[] key = new byte[BlockKey.BYTES];
        in.readFully(key);
        String tenant = in.readUTF();
        String problem = TenantNames.problem("tenant", tenant);
        if (problem != null) {
            return problem;
        }
        int length = in.readInt();
        if (length <= 0 || length > maxBlockBytes) {
            return "payload length " + length + " is outside 1.." + maxBlockBytes;
        }
        byte[] payload = new byte[length];
        in.readFully(payload);
        copies.add(HexFormat.of().formatHex(key), tenant, payload);
        return null;
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing the replication port", e);
        }
        for (Socket s : open) {
            try {
                s.close();
            } catch (IOException e) {
                LOG.log(Level.FINE, "closing a replication connection", e);
            }
        }
        acceptor.interrupt();
    }
}
