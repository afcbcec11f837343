package io.kvasir.router;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * The caller's tenant, from the {@code x-kvasir-tenant} header ("default" without one). API keys
 * and quotas come with the tenancy issue; until then the header is trusted.
 */
public final class TenantInterceptor implements ServerInterceptor {
    static final Context.Key<String> TENANT = Context.key("kvasir-tenant");
    private static final Metadata.Key<String> HEADER = Metadata.Key.of("x-kvasir-tenant", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        String tenant = headers.get(HEADER);
        return Contexts.interceptCall(Context.current().withValue(TENANT, tenant == null || tenant.isBlank()
                ? "default" : tenant), call, headers, next);
    }
}
