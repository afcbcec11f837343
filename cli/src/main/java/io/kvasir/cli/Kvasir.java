package io.kvasir.cli;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.kv.KvCacheFullException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/** The {@code kvasir} executable: dispatches to one sub-command. */
public final class Kvasir {
    private static final String USAGE = """
            usage: kvasir <command> [options]
              serve      every role in one JVM: the gRPC generation API, a decode node, a KV-store member
              generate   run a model on a prompt (or ask a server: --server HOST:PORT) and print the text
              router     the public gRPC API in front of decode nodes (one role of serve, as its own process)
              prefill    a prefill node: computes what the KV store lacks of a prompt, stores its blocks
              decode     a decode node: continuous batching, prefixes from the KV store
              kv-store   run a member of the KV store (Hazelcast host tier, SSD tier, gRPC data plane)
              certs      a development CA and a certificate for every role (mutual TLS: --tls-dir)
              traces     print the traces the roles send (an OTLP/HTTP receiver; --otlp-endpoint on each role)
              bench      benchmarks: 'bench engine' (prefill/decode tokens/s), 'bench kv' (store GB/s),
                         'bench prefix' (TTFT with a cached prefix), 'bench serve' (TTFT through the API)
            Run 'kvasir <command> --help' for a command's options.""";

    private Kvasir() {
    }

    public static void main(String[] argv) {
        int code;
        try {
            code = run(argv, System.out, System.err);
        } catch (Throwable t) { // e.g. a broken class path: exit, or client threads would keep a dead process up
            t.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    /** Runs a command; returns the process exit code. Errors print one line naming what was wrong. */
    static int run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("-h")) {
            (argv.length == 0 ? err : out).println(USAGE);
            return argv.length == 0 ? 2 : 0;
        }
        List<String> rest = Arrays.asList(argv).subList(1, argv.length);
        try {
            switch (argv[0]) {
                case "generate" -> {
                    if (rest.contains("--help")) {
                        out.println(GenerateCommand.USAGE);
                        return 0;
                    }
                    GenerateCommand.run(rest, out);
                }
                case "bench" -> {
                    if (rest.contains("--help")) {
                        out.println(BenchCommand.USAGE + "\n" + KvBench.USAGE + "\n" + ServeBench.USAGE + "\n"
                                + TenantBench.USAGE);
                        return 0;
                    }
                    BenchCommand.run(rest, out, err);
                }
                case "serve" -> {
                    if (rest.contains("--help")) {
                        out.println(ServeCommand.USAGE);
                        return 0;
                    }
                    ServeCommand.run(rest, out, err);
                }
                case "decode" -> {
                    if (rest.contains("--help")) {
                        out.println(RoleCommands.DECODE_USAGE);
                        return 0;
                    }
                    RoleCommands.decode(rest, out);
                }
                case "prefill" -> {
                    if (rest.contains("--help")) {
                        out.println(RoleCommands.PREFILL_USAGE);
                        return 0;
                    }
                    RoleCommands.prefill(rest, out);
                }
                case "router" -> {
                    if (rest.contains("--help")) {
                        out.println(RoleCommands.ROUTER_USAGE);
                        return 0;
                    }
                    RoleCommands.router(rest, out);
                }
                case "certs" -> {
                    if (rest.contains("--help")) {
                        out.println(CertsCommand.USAGE);
                        return 0;
                    }
                    CertsCommand.run(rest, out);
                }
                case "traces" -> {
                    if (rest.contains("--help")) {
                        out.println(TracesCommand.USAGE);
                        return 0;
                    }
                    TracesCommand.run(rest, out);
                }
                case "kv-store" -> {
                    if (rest.contains("--help")) {
                        out.println(KvStoreCommand.USAGE);
                        return 0;
                    }
                    KvStoreCommand.run(rest, out);
                }
                default -> throw new Args.UsageException("unknown command \"" + argv[0] + "\"\n" + USAGE);
            }
            return 0;
        } catch (Args.UsageException e) {
            err.println("kvasir: " + e.getMessage());
            return 2;
        } catch (ModelFormatException | IllegalArgumentException | KvCacheFullException e) {
            err.println("kvasir: error: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 130;
        } catch (Exception e) {
            err.println("kvasir: error: " + e);
            return 1;
        }
    }
}
