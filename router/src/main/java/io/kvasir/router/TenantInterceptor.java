package io.kvasir.router;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * The caller's tenant. With API keys configured: from {@code authorization: Bearer <key>}, and a
 * call without a valid key ends at once with UNAUTHENTICATED. Open (no keys): the
 * {@code x-kvasir-tenant} header, or "default". The tenant decides the cache salt on the server;
 * nothing a client sends can choose another tenant's.
 */
public final class TenantInterceptor implements ServerInterceptor {
    static final Context.Key<Tenant> TENANT = Context.key("kvasir-tenant");
    private static final Metadata.Key<String> TENANT_HEADER =
            Metadata.Key.of("x-kvasir-tenant", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final ApiKeys keys;

    public TenantInterceptor() {
        this(ApiKeys.open());
    }

    public TenantInterceptor(ApiKeys keys) {
        this.keys = keys;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        Tenant tenant;
        if (keys.isOpen()) {
            String named = headers.get(TENANT_HEADER);
            if (named != null && !named.isBlank() && !Tenant.NAME.matcher(named).matches()) {
                call.close(Status.INVALID_ARGUMENT.withDescription("x-kvasir-tenant: \"" + named
                        + "\" must be 1 to 64 of A-Z a-z 0-9 . _ -"), new Metadata());
                return new ServerCall.Listener<>() { };
            }
            tenant = Tenant.open(named == null || named.isBlank() ? "default" : named);
        } else {
            String auth = headers.get(AUTHORIZATION);
            tenant = keys.tenantOfAuthorization(auth);
            if (tenant == null) {
                call.close(Status.UNAUTHENTICATED.withDescription(ApiKeys.bearerKey(auth) == null
                        ? "missing API key (authorization: Bearer …)"
                        : "invalid API key"), new Metadata());
                return new ServerCall.Listener<>() { };
            }
        }
        return Contexts.interceptCall(Context.current().withValue(TENANT, tenant), call, headers, next);
    }
}
