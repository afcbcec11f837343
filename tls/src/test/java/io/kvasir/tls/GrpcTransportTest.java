package io.kvasir.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;

class GrpcTransportTest {
    /**
     * A peer that takes no connection (its accept queue full, as a host that died with its address
     * drops every SYN): an internal call fails UNAVAILABLE within the connect timeout, so the caller
     * moves on, instead of waiting out its whole deadline (Netty's own connect timeout is 30 s).
     */
    @Test
    void aPeerThatNeverAcceptsFailsACallWithinTheConnectTimeout() throws Exception {
        List<Socket> queued = new ArrayList<>();
        try (ServerSocket deaf = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            for (int i = 0; i < 4; i++) { // fill the accept queue; later SYNs are dropped
                Socket s = new Socket();
                try {
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), deaf.getLocalPort()), 500);
                    queued.add(s);
                } catch (java.io.IOException e) {
                    s.close();
                    break;
                }
            }
            ManagedChannel channel = GrpcTransport.channel("127.0.0.1:" + deaf.getLocalPort(), null, Role.DECODE).build();
            try {
                long start = System.nanoTime();
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> HealthGrpc
                        .newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()));
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
                assertTrue(ms < GrpcTransport.CONNECT_TIMEOUT_MS + 3000, "failed after " + ms + " ms");
            } finally {
                channel.shutdownNow();
            }
        } finally {
            for (Socket s : queued) {
                s.close();
            }
        }
    }
}
