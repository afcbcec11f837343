package io.kvasir.tls;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * What a certificate says its holder is: exactly one subject alternative name URI
 * {@code spiffe://kvasir/<id>} (a SPIFFE ID, which cert-manager and SPIRE issue as readily as a
 * host name). {@link #CLIENT} is a public client of the router: it gets nothing internal.
 */
public enum Role {
    ROUTER("router"), PREFILL("prefill"), DECODE("decode"), KV_STORE("kv-store"), CLIENT("client");

    public static final String TRUST_DOMAIN = "kvasir";
    private static final String PREFIX = "spiffe://" + TRUST_DOMAIN + "/";
    /** X.509 GeneralName tag of a URI. */
    private static final int URI_NAME = 6;

    private final String id;

    Role(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public String uri() {
        return PREFIX + id;
    }

    public static Role fromId(String id) {
        for (Role r : values()) {
            if (r.id.equals(id)) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown role '" + id + "' (one of "
                + Arrays.stream(values()).map(Role::id).toList() + ")");
    }

    /** The role {@code cert} names, or empty when it names none of Kvasir's, or more than one. */
    public static Optional<Role> of(X509Certificate cert) {
        Collection<List<?>> names;
        try {
            names = cert.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return Optional.empty();
        }
        Role found = null;
        for (List<?> name : names == null ? List.<List<?>>of() : names) {
            if (name.size() == 2 && Integer.valueOf(URI_NAME).equals(name.get(0)) && name.get(1) instanceof String uri
                    && uri.startsWith(PREFIX)) {
                Role r;
                try {
                    r = fromId(uri.substring(PREFIX.length()));
                } catch (IllegalArgumentException e) {
                    return Optional.empty();
                }
                if (found != null && found != r) {
                    return Optional.empty();
                }
                found = r;
            }
        }
        return Optional.ofNullable(found);
    }
}
