package io.kvasir.router;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusException;

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
        try {
            tenant = callerOf(keys, headers.get(AUTHORIZATION), headers.get(TENANT_HEADER));
        } catch (StatusException e) {
            call.close(e.getStatus(), new Metadata());
            return new ServerCall.Listener<>() { };
        }
        return Contexts.interceptCall(Context.current().withValue(TENANT, tenant), call, headers, next);
    }

    /**
     * The caller's tenant from its {@code authorization} and {@code x-kvasir-tenant} headers (either
     * may be null), as both APIs take it.
     *
     * @throws StatusException UNAUTHENTICATED without a valid key where keys are configured,
     *                         INVALID_ARGUMENT for a malformed tenant name where they are not
     */
    public static Tenant callerOf(ApiKeys keys, String authorization, String tenantHeader) throws StatusException {
        if (keys.isOpen()) {
            if (tenantHeader != null && !tenantHeader.isBlank() && !Tenant.NAME.matcher(tenantHeader).matches()) {
                throw Status.INVALID_ARGUMENT.withDescription("x-kvasir-tenant: \"" + tenantHeader
                        + "\" must be 1 to 64 of A-Z a-z 0-9 . _ -").asException();
            }
            return Tenant.open(tenantHeader == null || tenantHeader.isBlank() ? "default" : tenantHeader);
        }
        Tenant tenant = keys.tenantOfAuthorization(authorization);
        if (tenant == null) {
            throw Status.UNAUTHENTICATED.withDescription(ApiKeys.bearerKey(authorization) == null
                    ? "missing API key (authorization: Bearer …)" : "invalid API key").asException();
        }
        return tenant;
    }
}
