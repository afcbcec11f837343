package io.kvasir.cli;

import com.google.gson.GsonBuilder;
import io.kvasir.cuda.CudaDevice;
import io.kvasir.cuda.CudaGenerator;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.tokenizer.StreamingDecoder;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code kvasir generate --model PATH (--prompt TEXT | --prompt-tokens 1,5,9) --max-tokens N
 * [--temperature T --top-k K --top-p P --seed S] [--threads N] [--json [--logits]]}
 *
 * <p>Without {@code --json} the text streams as it is generated. With it, one JSON line comes last:
 * {@code {"prompt_tokens":[…],"tokens":[…],"text":"…","last_prompt_logits":[…]}} (the logits only
 * with {@code --logits}: raw, full vocabulary, at the last prompt position).
 */
final class GenerateCommand {
    static final String USAGE = """
            usage: kvasir generate (--model PATH | --server HOST:PORT) (--prompt TEXT | --prompt-tokens 1,5,9)
                                   [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
                                   [--threads N] [--device cpu|cuda] [--kv-cache-dtype auto|f32|f16|bf16|fp8|int8]
                                   [--json [--logits]] [--stop S] [--tenant T] [--tls-ca FILE]
              --server asks a running Kvasir (kvasir serve, or a router) over gRPC; --json then adds "usage";
              --tls-ca: over TLS, trusting that CA (the server's ca.crt).
              PATH is a GGUF file or a Hugging Face model folder (config.json, *.safetensors, tokenizer.json).
              --prompt-tokens takes token ids as they are (no BOS added); --prompt is tokenized (BOS added
              when the model asks for one). Temperature 0 (the default) is greedy. --device cuda runs the model
              on the first GPU (Llama-family models; the kernels must have been built with nvcc).
            """ + KvCacheTypes.USAGE;

    private static final Set<String> VALUES = Set.of("model", "prompt", "prompt-tokens", "max-tokens",
            "temperature", "top-k", "top-p", "seed", "threads", "server", "stop", "tenant", "device",
            "kv-cache-dtype", "tls-ca");
    private static final Set<String> FLAGS = Set.of("json", "logits");

    private GenerateCommand() {
    }

    static void run(List<String> argv, PrintStream out) {
        Args a = Args.parse("generate", argv, VALUES, FLAGS);
        if (a.has("server")) {
            if (a.has("model") || a.has("logits")) {
                throw new Args.UsageException("generate: --server talks to a running server; --model and --logits are local");
            }
            RemoteGenerate.run(a, out);
            return;
        }
        if (a.has("stop") || a.has("tenant") || a.has("tls-ca")) {
            throw new Args.UsageException("generate: --stop, --tenant and --tls-ca need --server");
        }
        Path modelPath = Path.of(a.required("model"));
        if (a.has("prompt") == a.has("prompt-tokens")) {
            throw new Args.UsageException("generate: give exactly one of --prompt and --prompt-tokens");
        }
        if (a.has("logits") && !a.has("json")) {
            throw new Args.UsageException("generate: --logits needs --json");
        }
        int maxTokens = a.integer("max-tokens", 32);
        if (maxTokens < 0) {
            throw new Args.UsageException("generate: --max-tokens must be >= 0, got " + maxTokens);
        }
        var sampling = new SamplingParams(a.number("temperature", 0f), a.integer("top-k", 0),
                a.number("top-p", 1f), a.longValue("seed", 0));
        int threads = a.integer("threads", VectorCpuBackend.defaultThreads());
        boolean json = a.has("json");

        String device = a.string("device", "cpu");
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new Args.UsageException("generate: --device must be cpu or cuda, got \"" + device + "\"");
        }
        if (device.equals("cuda")) {
            CudaDevice.unavailable().ifPresent(reason -> {
                throw new Args.UsageException("generate: --device cuda: " + reason);
            });
            if (a.has("logits")) {
                throw new Args.UsageException("generate: --logits is CPU-only");
            }
            if (!a.string("kv-cache-dtype", "f32").equals("f32")) {
                throw new Args.UsageException("generate: --device cuda keeps an f32 KV cache");
            }
        }

        try (var backend = new VectorCpuBackend(threads);
             Model model = Model.load(modelPath, backend)) {
            int[] prompt = a.has("prompt") ? model.tokenizer().encode(a.string("prompt", "")) : a.integers("prompt-tokens");
            var decoder = new StreamingDecoder(model.tokenizer());
            Generator.TokenListener stream = token -> {
                String delta = decoder.add(token);
                if (!json) {
                    out.print(delta);
                    out.flush();
                }
            };
            int[] tokens;
            String finishReason;
            float[] logits = null;
            String onDevice = null;
            if (device.equals("cuda")) {
                try (CudaDevice gpu = CudaDevice.open(0);
                        CudaGenerator generator = new CudaGenerator(gpu, model, prompt.length + maxTokens + 16)) {
                    CudaGenerator.Result r = generator.generate(prompt, maxTokens, sampling, stream::onToken);
                    tokens = r.tokens();
                    finishReason = r.finishReason();
                    onDevice = gpu.toString();
                }
            } else {
                var kvType = KvCacheTypes.of("generate", a.string("kv-cache-dtype", "auto"), model);
                Generator.Result r = new Generator(model, kvType).generate(prompt, maxTokens, sampling, a.has("logits"), stream);
                tokens = r.tokens();
                finishReason = r.finishReason();
                logits = r.lastPromptLogits();
            }
            if (json) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("prompt_tokens", prompt);
                line.put("tokens", tokens);
                line.put("text", decoder.text());
                line.put("finish_reason", finishReason);
                if (logits != null) {
                    line.put("last_prompt_logits", logits);
                }
                if (onDevice != null) {
                    line.put("device", onDevice);
                }
                out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(line));
            } else {
                out.println(decoder.flush());
            }
        }
    }
}
