package io.kvasir.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import io.kvasir.tls.DevCertificates;

/** {@code kvasir certs --out DIR [--hosts a,b] [--days 365]}: a development CA and a certificate per role. */
final class CertsCommand {
    static final String USAGE = """
            usage: kvasir certs --out DIR [--hosts HOST,HOST,...] [--days 365]
              Writes a development CA (ca.crt, ca.key) and, signed by it, a certificate and key for each role and
              for a public client: router, prefill, decode, kv-store, client (NAME.crt, NAME.key). Each names its
              role as spiffe://kvasir/NAME; --hosts adds DNS names or IP addresses (localhost and 127.0.0.1 are
              always in). A CA already in DIR is kept and signs the new certificates.
              Then give every role --tls-dir DIR.""";

    private CertsCommand() {
    }

    static void run(List<String> argv, PrintStream out) throws Exception {
        Args a = Args.parse("certs", argv, Set.of("out", "hosts", "days"), Set.of());
        Path dir = Path.of(a.required("out"));
        List<String> hosts = a.has("hosts") ? Arrays.stream(a.string("hosts", "").split(",")).map(String::trim)
                .filter(h -> !h.isEmpty()).toList() : List.of();
        int days = a.positive("days", 365);
        for (Path p : DevCertificates.write(dir, hosts, Duration.ofDays(days))) {
            out.println("wrote " + p);
        }
    }
}
