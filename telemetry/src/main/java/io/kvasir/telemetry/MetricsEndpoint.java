package io.kvasir.telemetry;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

import javax.net.ssl.SSLContext;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;

import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * {@code GET /metrics} for a role without an HTTP API of its own (kv-store, prefill and decode
 * nodes): the JDK's HTTP server, one virtual thread per scrape, the format the Accept header asks
 * for ({@link Exposition}); HTTPS with the role's own certificate when the cluster runs TLS (no
 * client certificate asked: Prometheus scrapes with the cluster CA only). The router serves its
 * metrics on its OpenAI port instead, as vLLM does.
 */
public final class MetricsEndpoint implements AutoCloseable {
    private final HttpServer server;

    public MetricsEndpoint(String host, int port, PrometheusRegistry metrics) throws IOException {
        this(host, port, metrics, null);
    }

    /** HTTPS with {@code tls} (its key manager re-reads renewed certificates); plain HTTP when null. */
    public MetricsEndpoint(String host, int port, PrometheusRegistry metrics, SSLContext tls) throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (tls == null) {
            server = HttpServer.create(address, 16);
        } else {
            HttpsServer https = HttpsServer.create(address, 16);
            https.setHttpsConfigurator(new HttpsConfigurator(tls));
            server = https;
        }
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/metrics", exchange -> {
            try (exchange) {
                if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
                    exchange.sendResponseHeaders(405, -1);
                    return;
                }
                Exposition.Body body = Exposition.of(metrics, exchange.getRequestHeaders().getFirst("Accept"));
                exchange.getResponseHeaders().set("Content-Type", body.contentType());
                exchange.sendResponseHeaders(200, exchange.getRequestMethod().equals("HEAD") ? -1 : body.bytes().length);
                if (!exchange.getRequestMethod().equals("HEAD")) {
                    try (OutputStream out = exchange.getResponseBody()) {
                        out.write(body.bytes());
                    }
                }
            }
        });
        server.createContext("/", exchange -> {
            try (exchange) {
                exchange.sendResponseHeaders(404, -1);
            }
        });
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
