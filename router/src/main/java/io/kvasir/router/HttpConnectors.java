package io.kvasir.router;

import javax.net.ssl.SSLContext;

import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/** The HTTP API's listening socket: HTTPS with a given SSL context (its certificates reload with it), or plain HTTP. */
final class HttpConnectors {
    private HttpConnectors() {
    }

    static ServerConnector of(Server server, String host, int port, SSLContext tls) {
        ServerConnector connector;
        if (tls == null) {
            connector = new ServerConnector(server);
        } else {
            SslContextFactory.Server factory = new SslContextFactory.Server();
            factory.setSslContext(tls);
            connector = new ServerConnector(server, new SslConnectionFactory(factory, HttpVersion.HTTP_1_1.asString()),
                    new HttpConnectionFactory());
        }
        connector.setHost(host);
        connector.setPort(port);
        return connector;
    }
}
