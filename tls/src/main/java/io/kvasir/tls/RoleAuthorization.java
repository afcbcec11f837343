package io.kvasir.tls;

import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Which roles may call which service of a server, by the role the caller's certificate names.
 * A refusal ends the call before its handler sees a message: {@code UNAUTHENTICATED} without a
 * client certificate, {@code PERMISSION_DENIED} for a role that may not call the service (or a
 * certificate that names none). A rule for a method overrides its service's. Services not named
 * (health, reflection) take any Kvasir role.
 */
public final class RoleAuthorization implements ServerInterceptor {
    /** The caller's role, in the context of an authorized call. */
    public static final Context.Key<Role> CALLER = Context.key("kvasir-caller-role");

    private final Map<String, Set<Role>> byService = new HashMap<>();

    /**
     * {@code serviceOrMethod} (a service's full gRPC name, or a method's, {@code service/Method}) may
     * be called by {@code roles} only.
     */
    public RoleAuthorization allow(String serviceOrMethod, Role role, Role... more) {
        byService.put(serviceOrMethod, EnumSet.of(role, more));
        return this;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        Optional<Role> role = Optional.empty();
        if (session == null) {
            return refuse(call, Status.UNAUTHENTICATED.withDescription("this server takes TLS calls only"));
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            if (chain.length > 0 && chain[0] instanceof X509Certificate x509) {
                role = Role.of(x509);
            }
        } catch (SSLPeerUnverifiedException e) {
            return refuse(call, Status.UNAUTHENTICATED.withDescription("a client certificate from the cluster CA is required"));
        }
        Set<Role> allowed = byService.getOrDefault(call.getMethodDescriptor().getFullMethodName(),
                byService.getOrDefault(call.getMethodDescriptor().getServiceName(),
                        EnumSet.complementOf(EnumSet.of(Role.CLIENT))));
        if (role.isEmpty() || !allowed.contains(role.get())) {
            return refuse(call, Status.PERMISSION_DENIED.withDescription((role.isEmpty() ? "a certificate naming no Kvasir role"
                    : "role " + role.get().id()) + " may not call " + call.getMethodDescriptor().getFullMethodName()));
        }
        return Contexts.interceptCall(Context.current().withValue(CALLER, role.get()), call, headers, next);
    }

    private static <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, Status status) {
        call.close(status, new Metadata());
        return new ServerCall.Listener<>() {
        };
    }
}
