/**
 * Mutual TLS between Kvasir's roles. Every role holds a certificate from the cluster's CA whose
 * subject alternative name is the URI {@code spiffe://kvasir/<role>} ({@link Role}); servers check
 * the caller's role per service ({@link RoleAuthorization}) and callers check the server's
 * ({@link Tls#client}), instead of host names, which pods do not keep. {@link DevCertificates}
 * writes a development CA and a certificate for each role.
 */
package io.kvasir.tls;
