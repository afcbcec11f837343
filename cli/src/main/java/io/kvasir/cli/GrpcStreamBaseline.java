package io.kvasir.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Iterator;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;

import io.grpc.CallOptions;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;

/**
 * The transport's own ceiling for {@code bench kv}: a bare gRPC server stream of messages the size of
 * a block, sent from a heap array and read into one (one copy each way, as the store's get does),
 * with the store's channel and server settings, on loopback in this JVM. No store, no protobuf.
 */
final class GrpcStreamBaseline implements AutoCloseable {
    private static final MethodDescriptor<Integer, byte[]> STREAM = MethodDescriptor.<Integer, byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
            .setFullMethodName("kvasir.bench/Stream")
            .setRequestMarshaller(new IntMarshaller())
            .setResponseMarshaller(new BytesMarshaller())
            .build();

    private final byte[] message;
    private final ExecutorService streamers = Executors.newVirtualThreadPerTaskExecutor();
    private final Server server; // null: a client of a server in another process
    private final ManagedChannel channel;

    /** A server on loopback in this JVM, and a channel to it. */
    GrpcStreamBaseline(int messageBytes) throws IOException {
        this.message = new byte[messageBytes];
        new java.util.SplittableRandom(7).nextBytes(message);
        server = serve("127.0.0.1", messageBytes);
        channel = channel("127.0.0.1", server.getPort());
    }

    /** A channel to a server another process runs ({@link #main}). */
    private GrpcStreamBaseline(String host, int port) {
        this.message = null;
        this.server = null;
        this.channel = channel(host, port);
    }

    static GrpcStreamBaseline remote(String host, int port) {
        return new GrpcStreamBaseline(host, port);
    }

    /**
     * The server alone, as its own process ({@code HOST MESSAGE_BYTES}): prints its port, serves until
     * killed. {@code bench kv} runs it in another network namespace.
     */
    public static void main(String[] args) throws Exception {
        GrpcStreamBaseline b = new GrpcStreamBaseline(args[0], Integer.parseInt(args[1]), true);
        System.out.println(b.server.getPort());
        System.out.flush();
        b.server.awaitTermination();
    }

    private GrpcStreamBaseline(String host, int messageBytes, boolean serverOnly) throws IOException {
        this.message = new byte[messageBytes];
        new java.util.SplittableRandom(7).nextBytes(message);
        this.server = serve(host, messageBytes);
        this.channel = null;
    }

    private Server serve(String host, int messageBytes) throws IOException {
        return NettyServerBuilder.forAddress(new InetSocketAddress(host, 0))
                .addService(ServerServiceDefinition.builder("kvasir.bench")
                        .addMethod(STREAM, ServerCalls.asyncServerStreamingCall((count, response) -> {
                            var out = (ServerCallStreamObserver<byte[]>) response;
                            Semaphore ready = new Semaphore(0);
                            out.setOnReadyHandler(ready::release);
                            streamers.execute(() -> send(count, out, ready));
                        })).build())
                .maxInboundMessageSize(messageBytes + (1 << 20))
                .flowControlWindow(32 << 20)
                .build().start();
    }

    private static ManagedChannel channel(String host, int port) {
        return NettyChannelBuilder.forAddress(host, port).usePlaintext()
                .maxInboundMessageSize(256 << 20).flowControlWindow(32 << 20).build();
    }

    /** Streams {@code count} messages, each when the transport is ready for it (as the store streams). */
    private void send(int count, ServerCallStreamObserver<byte[]> out, Semaphore ready) {
        for (int i = 0; i < count; i++) {
            while (!out.isReady()) {
                ready.acquireUninterruptibly();
            }
            out.onNext(message);
        }
        out.onCompleted();
    }

    /** {@code count} messages in one call; the bytes received. */
    long fetch(int count) {
        long bytes = 0;
        Iterator<byte[]> it = ClientCalls.blockingServerStreamingCall(channel, STREAM, CallOptions.DEFAULT, count);
        while (it.hasNext()) {
            bytes += it.next().length;
        }
        return bytes;
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (server != null) {
            server.shutdownNow();
        }
        streamers.shutdownNow();
    }

    private static final class IntMarshaller implements MethodDescriptor.Marshaller<Integer> {
        @Override
        public InputStream stream(Integer value) {
            return new ArrayStream(ByteBuffer.allocate(4).putInt(value).array());
        }

        @Override
        public Integer parse(InputStream in) {
            try {
                return ByteBuffer.wrap(in.readNBytes(4)).getInt();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static final class BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ArrayStream(value);
        }

        @Override
        public byte[] parse(InputStream in) {
            try {
                return in.readNBytes(in.available()); // gRPC's message streams know their length
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** An array gRPC drains straight into its write buffers, as protobuf's message streams are. */
    private static final class ArrayStream extends InputStream implements Drainable, KnownLength {
        private final byte[] bytes;
        private int position;

        ArrayStream(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int n = bytes.length - position;
            target.write(bytes, position, n);
            position = bytes.length;
            return n;
        }

        @Override
        public int read() {
            return position < bytes.length ? bytes[position++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (position == bytes.length) {
                return -1;
            }
            int n = Math.min(len, bytes.length - position);
            System.arraycopy(bytes, position, b, off, n);
            position += n;
            return n;
        }

        @Override
        public int available() {
            return bytes.length - position;
        }
    }
}
