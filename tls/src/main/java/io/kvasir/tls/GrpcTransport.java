package io.kvasir.tls;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.security.GeneralSecurityException;

import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.kvasir.telemetry.GrpcTracing;

/**
 * Every role's gRPC servers and channels: mutual TLS when the process has a {@link Tls}, plaintext
 * when it has none (null); trace context carried on every call ({@link GrpcTracing}).
 */
public final class GrpcTransport {
    private GrpcTransport() {
    }

    /** A public server: TLS with client certificates optional (API keys are the credential there). */
    public static NettyServerBuilder publicServer(InetSocketAddress address, Tls tls) {
        return (tls == null ? NettyServerBuilder.forAddress(address)
                : NettyServerBuilder.forAddress(address, tls.server(false))).intercept(GrpcTracing.server(true));
    }

    /**
     * An internal server: under TLS, client certificates are required and {@code service} takes
     * calls from {@code caller} (and {@code more}) only; health and reflection from any Kvasir role.
     */
    public static NettyServerBuilder internalServer(InetSocketAddress address, Tls tls, String service, Role caller,
            Role... more) {
        return internalServer(address, tls, new RoleAuthorization().allow(service, caller, more));
    }

    /** An internal server whose callers {@code rules} authorizes (under TLS; plaintext checks nothing). */
    public static NettyServerBuilder internalServer(InetSocketAddress address, Tls tls, RoleAuthorization rules) {
        return internalServer(tls == null ? NettyServerBuilder.forAddress(address)
                : NettyServerBuilder.forAddress(address, tls.server(true)).intercept(rules));
    }

    /** {@code builder} as an internal server: it continues the traces its callers send (added last, so it runs first). */
    public static NettyServerBuilder internalServer(NettyServerBuilder builder) {
        return builder.intercept(GrpcTracing.server(false));
    }

    /**
     * How long an internal channel waits for a TCP connection. Inside a cluster one takes well under
     * a millisecond; a peer that died with its address (a killed pod or container) answers nothing,
     * and Netty's default of 30 s would hold every call to it that long before the caller moves on.
     */
    static final int CONNECT_TIMEOUT_MS = 2000;

    /** A channel to a server that must hold a certificate of role {@code server}. */
    public static NettyChannelBuilder channel(String target, Tls tls, Role server) {
        NettyChannelBuilder builder;
        try {
            builder = tls == null ? NettyChannelBuilder.forTarget(target).usePlaintext()
                    : NettyChannelBuilder.forTarget(target, tls.client(server));
        } catch (IOException e) {
            throw new UncheckedIOException("TLS channel credentials: " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("TLS channel credentials: " + e.getMessage(), e);
        }
        return traced(builder.withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MS));
    }

    /** {@code builder}'s channel sends the caller's trace context with each call made inside a trace. */
    public static NettyChannelBuilder traced(NettyChannelBuilder builder) {
        return builder.intercept(GrpcTracing.client());
    }
}
