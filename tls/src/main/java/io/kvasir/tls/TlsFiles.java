package io.kvasir.tls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Where one role's PEM files are: its certificate (chain), its private key (PKCS#8) and the CA's certificate. */
public record TlsFiles(Path cert, Path key, Path ca) {
    /** The layout {@code bin/kvasir certs} writes and the chart mounts: {@code ca.crt}, {@code ROLE.crt}, {@code ROLE.key}. */
    public static TlsFiles inDir(Path dir, Role role) {
        return new TlsFiles(dir.resolve(role.id() + ".crt"), dir.resolve(role.id() + ".key"), dir.resolve("ca.crt"));
    }

    /** Fails naming the first file that is missing or unreadable. */
    void check() throws IOException {
        for (Path p : new Path[] {cert, key, ca}) {
            if (!Files.isReadable(p)) {
                throw new NoSuchFileException(p.toString(), null, Files.exists(p) ? "not readable" : "no such file");
            }
        }
    }
}
