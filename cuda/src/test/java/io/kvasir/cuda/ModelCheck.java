package io.kvasir.cuda;

import java.nio.file.Path;

import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.SamplingParams;

/**
 * A whole model on the GPU against the CPU engine: logits after a prompt, then greedy tokens, and
 * (for speed) prefill and decode tokens per second on the GPU alone.
 */
final class ModelCheck {
    /** Logits difference after the prompt, and whether the greedy continuations agree. */
    record Agreement(String model, double maxLogitDiff, int[] cpuTokens, int[] gpuTokens) {
        boolean sameTokens() {
            return java.util.Arrays.equals(cpuTokens, gpuTokens);
        }
    }

    private ModelCheck() {
    }

    static int[] prompt(int n, int vocab) {
        int[] p = new int[n];
        p[0] = 1;
        for (int i = 1; i < n; i++) {
            p[i] = 3 + (i * 7919 + 13) % (vocab - 3);
        }
        return p;
    }

    static Agreement compare(CudaDevice device, Path gguf, int promptLength, int steps) {
        try (VectorCpuBackend cpu = new VectorCpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors() / 2));
                Model model = Model.load(gguf, cpu);
                CudaLlamaModel gpu = new CudaLlamaModel(device, model.transformer(), promptLength + steps + 16, 64, 16)) {
            LlamaModel cpuModel = model.transformer();
            int vocab = cpuModel.config().vocabSize();
            int[] prompt = prompt(promptLength, vocab);
            BlockTable table = new BlockTable(cpuModel.newKvPool(16, (promptLength + 15) / 16 + 1));
            ForwardBuffers buffers = cpuModel.newBuffers(64);
            cpuModel.forward(prompt, 0, prompt.length, table, buffers);
            float[] gpuLogits = gpu.forward(prompt);
            double diff = 0;
            for (int i = 0; i < vocab; i++) {
                diff = Math.max(diff, Math.abs(buffers.logits[i] - gpuLogits[i]));
            }
            table.release();
            int[] cpuTokens = new Generator(model).generate(prompt, steps, SamplingParams.GREEDY, false, t -> { }).tokens();
            int[] gpuTokens = new int[cpuTokens.length];
            int next = argmax(gpuLogits);
            for (int i = 0; i < gpuTokens.length; i++) {
                gpuTokens[i] = next;
                if (i + 1 < gpuTokens.length) {
                    next = argmax(gpu.forward(new int[] {next}));
                }
            }
            return new Agreement(gguf.getFileName().toString(), diff, cpuTokens, gpuTokens);
        }
    }

    /**
     * The device KV tier keeps a finished prompt's blocks: a new sequence started from them (no
     * recomputation) continues with the same logits as a cold run, and so does one started from
     * blocks evicted to the host and imported again. Returns the larger logits difference.
     */
    static double tierRoundTrip(CudaDevice device, Path gguf) {
        int blockSize = 16, promptLength = 48; // three full blocks
        try (VectorCpuBackend cpu = new VectorCpuBackend(1); Model model = Model.load(gguf, cpu)) {
            var c = model.transformer().config();
            var geometry = new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize, 8);
            java.util.List<DeviceKvTier.Evicted> evicted = new java.util.ArrayList<>();
            try (DeviceKvTier tier = new DeviceKvTier(geometry, 8, evicted::add);
                    CudaLlamaModel gpu = new CudaLlamaModel(device, model.transformer(), tier, 128, 64, blockSize)) {
                int[] prompt = prompt(promptLength + 1, c.vocabSize());
                int[] head = java.util.Arrays.copyOf(prompt, promptLength);
                float[] cold = gpu.forward(prompt);
                gpu.reset();
                gpu.forward(head);
                java.util.List<String> keys = java.util.List.of("b0", "b1", "b2");
                gpu.finish(keys);
                gpu.startFrom(tier.lookup(keys), promptLength);
                float[] cached = gpu.forward(new int[] {prompt[promptLength]});
                gpu.reset();
                // fill the tier so the cached blocks are evicted to the "host tier", then bring them back
                int[] held = new int[8];
                for (int i = 0; i < held.length; i++) {
                    held[i] = tier.allocate(); // the last three take the cached blocks' room
                }
                for (int b : held) {
                    tier.release(b);
                }
                int[] back = new int[keys.size()];
                for (DeviceKvTier.Evicted e : evicted) {
                    back[keys.indexOf((String) e.key())] = tier.importBlock(e.key(), e.k(), e.v());
                }
                gpu.startFrom(back, promptLength);
                float[] imported = gpu.forward(new int[] {prompt[promptLength]});
                double diff = 0;
                for (int i = 0; i < cold.length; i++) {
                    diff = Math.max(diff, Math.max(Math.abs(cold[i] - cached[i]), Math.abs(cold[i] - imported[i])));
                }
                if (evicted.size() != keys.size()) {
                    throw new IllegalStateException("expected 3 evicted blocks, got " + evicted.size());
                }
                return diff;
            }
        }
    }

    /** Prefill tok/s for a {@code promptLength} prompt and decode tok/s for {@code steps} greedy steps, on the GPU. */
    static double[] speed(CudaDevice device, Path gguf, int promptLength, int steps) {
        try (VectorCpuBackend cpu = new VectorCpuBackend(1); Model model = Model.load(gguf, cpu);
                CudaLlamaModel gpu = new CudaLlamaModel(device, model.transformer(), promptLength + steps + 16, 512, 16)) {
            int[] prompt = prompt(promptLength, model.transformer().config().vocabSize());
            gpu.forward(prompt); // warm-up
            gpu.reset();
            long t0 = System.nanoTime();
            float[] logits = gpu.forward(prompt);
            long t1 = System.nanoTime();
            int next = argmax(logits);
            for (int i = 0; i < steps; i++) {
                next = argmax(gpu.forward(new int[] {next}));
            }
            long t2 = System.nanoTime();
            return new double[] {promptLength / ((t1 - t0) / 1e9), steps / ((t2 - t1) / 1e9)};
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
