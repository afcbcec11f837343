package io.kvasir.cli;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.google.gson.GsonBuilder;

import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.proto.v1.SamplingParams;

/** {@code kvasir generate --server HOST:PORT}: the same flags and output, from a running Kvasir. */
final class RemoteGenerate {
    private RemoteGenerate() {
    }

    static void run(Args a, PrintStream out) {
        if (a.has("prompt") == a.has("prompt-tokens")) {
            throw new Args.UsageException("generate: give exactly one of --prompt and --prompt-tokens");
        }
        GenerateRequest.Builder r = GenerateRequest.newBuilder().setMaxTokens(a.integer("max-tokens", 32))
                .setSampling(SamplingParams.newBuilder().setTemperature(a.number("temperature", 0f))
                        .setTopK(a.integer("top-k", 0)).setTopP(a.number("top-p", 1f)).setSeed(a.longValue("seed", 0)));
        if (a.has("prompt")) {
            r.setPrompt(a.string("prompt", ""));
        } else {
            for (int t : a.integers("prompt-tokens")) {
                r.addPromptTokens(t);
            }
        }
        if (a.has("stop")) {
            r.addStop(a.string("stop", ""));
        }
        boolean json = a.has("json");
        ManagedChannel channel = channel(a);
        try {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("x-kvasir-tenant", Metadata.ASCII_STRING_MARSHALLER), a.string("tenant", "default"));
            var stub = GenerationServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                    .withDeadlineAfter(10, TimeUnit.MINUTES);
            List<Integer> tokens = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            GenerateResponse last = null;
            Iterator<GenerateResponse> it = stub.generate(r.build());
            while (it.hasNext()) {
                GenerateResponse m = it.next();
                tokens.addAll(m.getTokenIdsList());
                text.append(m.getText());
                if (!json) {
                    out.print(m.getText());
                    out.flush();
                }
                last = m;
            }
            if (json) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("prompt_tokens", last == null ? List.of() : last.getPromptTokenIdsList());
                line.put("tokens", tokens);
                line.put("text", text.toString());
                line.put("finish_reason", last == null ? "" : last.getFinishReason());
                if (last != null) {
                    line.put("usage", Map.of("prompt_tokens", last.getUsage().getPromptTokens(),
                            "cached_prompt_tokens", last.getUsage().getCachedPromptTokens(),
                            "completion_tokens", last.getUsage().getCompletionTokens()));
                }
                out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(line));
            } else {
                out.println();
            }
        } catch (StatusRuntimeException e) {
            throw new IllegalArgumentException("server " + a.string("server", null) + " answered " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : ": " + e.getStatus().getDescription()));
        } finally {
            channel.shutdownNow();
        }
    }

    /**
     * To the server: TLS trusting {@code --tls-ca} (the server's CA; its certificate must name the host
     * dialled), else plaintext.
     */
    private static ManagedChannel channel(Args a) {
        String target = a.string("server", null);
        String ca = a.string("tls-ca", System.getenv("KVASIR_TLS_CA"));
        if (ca == null) {
            return NettyChannelBuilder.forTarget(target).usePlaintext().build();
        }
        try {
            return Grpc.newChannelBuilder(target, TlsChannelCredentials.newBuilder().trustManager(new File(ca)).build())
                    .build();
        } catch (IOException e) {
            throw new Args.UsageException("generate: --tls-ca " + ca + ": " + e.getMessage());
        }
    }
}
