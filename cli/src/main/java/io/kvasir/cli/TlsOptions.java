package io.kvasir.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Locale;
import java.util.Set;

import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/**
 * {@code --tls-dir DIR}, or {@code --tls-cert}, {@code --tls-key} and {@code --tls-ca}, the same on
 * every role (and as {@code KVASIR_TLS_DIR}, {@code KVASIR_TLS_CERT}, … in the environment).
 */
final class TlsOptions {
    static final Set<String> VALUES = Set.of("tls-dir", "tls-cert", "tls-key", "tls-ca");
    static final String USAGE = """
              --tls-dir DIR: mutual TLS, with ca.crt and ROLE.crt/ROLE.key from DIR ('kvasir certs' writes them),
              or --tls-cert FILE --tls-key FILE --tls-ca FILE (env KVASIR_TLS_DIR, KVASIR_TLS_CERT, ...); re-read
              when they change. Internal services then take calls only from the roles that need them.""";

    private TlsOptions() {
    }

    /** The role's TLS from the options, or null when none is given (plaintext). */
    static Tls load(String command, Args a, Role role) {
        String dir = option(a, "tls-dir");
        String cert = option(a, "tls-cert");
        String key = option(a, "tls-key");
        String ca = option(a, "tls-ca");
        if (dir == null && cert == null && key == null && ca == null) {
            return null;
        }
        TlsFiles files;
        if (dir != null) {
            if (cert != null || key != null || ca != null) {
                throw new Args.UsageException(command + ": give --tls-dir or --tls-cert/--tls-key/--tls-ca, not both");
            }
            files = TlsFiles.inDir(Path.of(dir), role);
        } else {
            for (String[] o : new String[][] {{"tls-cert", cert}, {"tls-key", key}, {"tls-ca", ca}}) {
                if (o[1] == null) {
                    throw new Args.UsageException(command + ": --tls-cert, --tls-key and --tls-ca go together; --" + o[0]
                            + " is missing");
                }
            }
            files = new TlsFiles(Path.of(cert), Path.of(key), Path.of(ca));
        }
        try {
            return Tls.load(files, role);
        } catch (IOException | GeneralSecurityException e) {
            throw new Args.UsageException(command + ": TLS: " + e.getMessage());
        }
    }

    private static String option(Args a, String name) {
        String value = a.string(name, null);
        return value != null ? value : System.getenv("KVASIR_" + name.toUpperCase(Locale.ROOT).replace('-', '_'));
    }
}
