package io.kvasir.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;

import io.kvasir.tls.DevCertificates;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/** The throwaway development CA of a benchmark's {@code --tls} run, deleted (keys included) when closed. */
final class BenchCertificates implements AutoCloseable {
    private final Path dir;

    private BenchCertificates(Path dir) {
        this.dir = dir;
    }

    static BenchCertificates create() throws IOException, GeneralSecurityException {
        Path dir = Files.createTempDirectory("kvasir-bench-certs");
        DevCertificates.write(dir, List.of(), Duration.ofDays(1));
        return new BenchCertificates(dir);
    }

    /** What {@code --tls-dir} names for a role process. */
    Path dir() {
        return dir;
    }

    /** {@code role}'s side of mutual TLS; null (plaintext) when {@code certs} is null. */
    static Tls load(BenchCertificates certs, Role role) throws IOException, GeneralSecurityException {
        return certs == null ? null : Tls.load(TlsFiles.inDir(certs.dir, role), role);
    }

    @Override
    public void close() throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
