package io.kvasir.engine.model;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.tensor.WeightMatrix;
import io.kvasir.engine.weights.TensorInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The weights of a Llama-family model: matrices stay in the mapped file in their stored dtype;
 * only the small norm and bias vectors are read onto the heap.
 *
 * @param tokenEmbedding (vocab, dim)
 * @param outputNorm     (dim)
 * @param output         (vocab, dim); the token embedding when tied
 */
public record LlamaWeights(WeightMatrix tokenEmbedding, float[] outputNorm, WeightMatrix output, List<Layer> layers) {

    /**
     * @param attnNorm (dim)      @param wq (numHeads·headDim, dim)   @param wk, wv (numKvHeads·headDim, dim)
     * @param wo (dim, numHeads·headDim)   @param bq, bk, bv biases or null   @param ffnNorm (dim)
     * @param wGate, wUp (ffnDim, dim)   @param wDown (dim, ffnDim)
     * @param qNorm, kNorm (headDim): Qwen3's per-head query and key norms, or null
     * @param moe    the layer's experts (wGate, wUp and wDown are then null), or null
     */
    public record Layer(float[] attnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv,
                        float[] bq, float[] bk, float[] bv, WeightMatrix wo,
                        float[] ffnNorm, WeightMatrix wGate, WeightMatrix wUp, WeightMatrix wDown, Mla mla,
                        float[] qNorm, float[] kNorm, Moe moe) {
    }

    /**
     * A Mixture-of-Experts feed-forward.
     *
     * @param router        (experts, dim)
     * @param gate, up      per expert (expertFfn, dim), slices of the file's 3-D tensors
     * @param down          per expert (dim, expertFfn)
     * @param sharedGate, sharedUp (sharedExperts·expertFfn, dim), sharedDown (dim, …); null without shared experts
     * @param selectionBias (experts), or null
     */
    public record Moe(WeightMatrix router, List<WeightMatrix> gate, List<WeightMatrix> up, List<WeightMatrix> down,
                      WeightMatrix sharedGate, WeightMatrix sharedUp, WeightMatrix sharedDown, float[] selectionBias) {
    }

    /**
     * A layer's MLA attention weights (wk, wv and biases are then null; wq is null with a q low-rank path).
     *
     * @param wqA     (qLoraRank, dim) or null     @param qANorm (qLoraRank) or null
     * @param wqB     (numHeads·qkHeadDim, qLoraRank) or null
     * @param wKvA    (kvLoraRank + qkRopeDim, dim): latent then rope key   @param kvANorm (kvLoraRank)
     * @param kB      per head (kvLoraRank, qkNopeDim): W_UK transposed, folds a head's query into the
     *                latent (GGUF attn_k_b); null when only {@code kNope} is stored
     * @param kNope   per head (qkNopeDim, kvLoraRank): W_UK itself, rows of the joint kv_b matrix (HF
     *                kv_b_proj, old GGUF attn_kv_b); folding multiplies by its transpose; null with kB
     * @param vB      per head (vHeadDim, kvLoraRank): W_UV, expands the attended latent into the head's value
     */
    public record Mla(WeightMatrix wqA, float[] qANorm, WeightMatrix wqB, WeightMatrix wKvA, float[] kvANorm,
                      List<WeightMatrix> kB, List<WeightMatrix> kNope, List<WeightMatrix> vB) {
    }

    /** Every weight matrix, in a fixed order: embedding, output (unless tied), then each layer's. */
    public void forEachMatrix(java.util.function.Consumer<WeightMatrix> visitor) {
        visitor.accept(tokenEmbedding);
        if (output != tokenEmbedding) {
            visitor.accept(output);
        }
        for (Layer l : layers) {
            for (WeightMatrix w : new WeightMatrix[] {l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()}) {
                if (w != null) {
                    visitor.accept(w);
                }
            }
            if (l.moe() != null) {
                Moe m = l.moe();
                visitor.accept(m.router());
                for (List<WeightMatrix> experts : List.of(m.gate(), m.up(), m.down())) {
                    experts.forEach(visitor);
                }
                for (WeightMatrix w : new WeightMatrix[] {m.sharedGate(), m.sharedUp(), m.sharedDown()}) {
                    if (w != null) {
                        visitor.accept(w);
                    }
                }
            }
            if (l.mla() != null) {
                Mla m = l.mla();
                for (WeightMatrix w : new WeightMatrix[] {m.wqA(), m.wqB(), m.wKvA()}) {
                    if (w != null) {
                        visitor.accept(w);
                    }
                }
                for (List<WeightMatrix> perHead : java.util.Arrays.asList(m.kB(), m.kNope(), m.vB())) {
                    if (perHead != null) {
                        perHead.forEach(visitor);
                    }
                }
            }
        }
    }

    /** Picks and shape-checks every tensor the config calls for; {@code source} names the file in errors. */
    public static LlamaWeights load(ModelConfig c, Map<String, TensorInfo> tensors, WeightNames names, String source) {
        var t = new Lookup(tensors, source);
        WeightMatrix embedding = t.matrix(names.tokenEmbedding, c.vocabSize(), c.dim());
        WeightMatrix output = c.tiedEmbeddings() ? embedding : t.matrix(names.output, c.vocabSize(), c.dim());
        List<Layer> layers = new ArrayList<>(); // not sized by the file: a layer count it states is checked tensor by tensor
        for (int i = 0; i < c.numLayers(); i++) {
            if (c.mla() != null) {
                layers.add(mlaLayer(c, t, names, i));
                continue;
            }
            boolean moe = c.moeLayer(i), kv = c.ownsKv(i);
            if (!kv) {
                requireNoKv(c, t, names, i);
            }
            layers.add(new Layer(
                    t.vector(names.attnNorm(i), c.dim()),
                    t.matrix(names.q(i), c.queryDim(), c.dim()),
                    kv ? t.matrix(names.k(i), c.kvDim(), c.dim()) : null,
                    kv ? t.matrix(names.v(i), c.kvDim(), c.dim()) : null,
                    c.qkvBias() ? t.vector(names.qBias(i), c.queryDim()) : null,
                    c.qkvBias() && kv ? t.vector(names.kBias(i), c.kvDim()) : null,
                    c.qkvBias() && kv ? t.vector(names.vBias(i), c.kvDim()) : null,
                    t.matrix(names.attnOutput(i), c.dim(), c.queryDim()),
                    t.vector(names.ffnNorm(i), c.dim()),
                    moe ? null : t.matrix(names.ffnGate(i), c.ffnDim(), c.dim()),
                    moe ? null : t.matrix(names.ffnUp(i), c.ffnDim(), c.dim()),
                    moe ? null : t.matrix(names.ffnDown(i), c.dim(), c.ffnDim()),
                    null,
                    c.qkNorm() ? t.vector(names.qNorm(i), c.headDim()) : null,
                    c.qkNorm() && kv ? t.vector(names.kNorm(i), c.headDim()) : null,
                    moe ? moe(c, t, names, i) : null));
        }
        return new LlamaWeights(embedding, t.vector(names.outputNorm, c.dim()), output, List.copyOf(layers));
    }

    /**
     * A layer that reuses an earlier layer's K/V must not bring a K or V projection of its own: one
     * would mean the file and its stated share factor disagree, and ignoring it would compute another model.
     */
    private static void requireNoKv(ModelConfig c, Lookup t, WeightNames names, int i) {
        for (String name : new String[] {names.k(i), names.v(i)}) {
            if (t.tensors().containsKey(name)) {
                throw new ModelFormatException(t.source() + ": tensor " + name + ": layer " + i + " reuses layer "
                        + (i - i % c.kvShareFactor()) + "'s K/V (cla_share_factor " + c.kvShareFactor()
                        + ") and has no K/V projection of its own");
            }
        }
    }

    private static Layer mlaLayer(ModelConfig c, Lookup t, WeightNames names, int i) {
        MlaConfig m = c.mla();
        int heads = c.numHeads();
        boolean lowRankQ = m.qLoraRank() > 0;
        boolean split = t.tensors().containsKey(names.kB(i));
        List<WeightMatrix> kB = null, kNope = null, vB;
        if (split) {
            kB = t.perHead(names.kB(i), heads, m.kvLoraRank(), m.qkNopeDim());
            vB = t.perHead(names.vB(i), heads, m.vHeadDim(), m.kvLoraRank());
        } else {
            // one (heads·(nope + v), rank) matrix: per head, nope rows then v rows, all row slices
            WeightMatrix kvB = t.matrix(names.kvB(i), heads * (m.qkNopeDim() + m.vHeadDim()), m.kvLoraRank());
            kNope = new ArrayList<>(heads);
            vB = new ArrayList<>(heads);
            for (int h = 0; h < heads; h++) {
                int first = h * (m.qkNopeDim() + m.vHeadDim());
                kNope.add(rows(kvB, first, m.qkNopeDim()));
                vB.add(rows(kvB, first + m.qkNopeDim(), m.vHeadDim()));
            }
        }
        Mla mla = new Mla(
                lowRankQ ? t.matrix(names.qA(i), m.qLoraRank(), c.dim()) : null,
                lowRankQ ? t.vector(names.qANorm(i), m.qLoraRank()) : null,
                lowRankQ ? t.matrix(names.qB(i), heads * m.qkHeadDim(), m.qLoraRank()) : null,
                t.matrix(names.kvA(i), m.latentWidth(), c.dim()),
                t.vector(names.kvANorm(i), m.kvLoraRank()),
                kB, kNope == null ? null : List.copyOf(kNope), List.copyOf(vB));
        return new Layer(t.vector(names.attnNorm(i), c.dim()),
                lowRankQ ? null : t.matrix(names.q(i), heads * m.qkHeadDim(), c.dim()),
                null, null, null, null, null,
                t.matrix(names.attnOutput(i), c.dim(), heads * m.vHeadDim()),
                t.vector(names.ffnNorm(i), c.dim()),
                c.moeLayer(i) ? null : t.matrix(names.ffnGate(i), c.ffnDim(), c.dim()),
                c.moeLayer(i) ? null : t.matrix(names.ffnUp(i), c.ffnDim(), c.dim()),
                c.moeLayer(i) ? null : t.matrix(names.ffnDown(i), c.dim(), c.ffnDim()),
                mla, null, null, c.moeLayer(i) ? moe(c, t, names, i) : null);
    }

    /** A layer's experts: slices of GGUF's 3-D tensors, or Hugging Face's tensors, one per expert. */
    private static Moe moe(ModelConfig c, Lookup t, WeightNames names, int i) {
        MoeConfig m = c.moe();
        int e = m.experts(), f = m.expertFfnDim(), shared = m.sharedExperts() * f;
        boolean mixtral = c.architecture().equals("llama"); // Hugging Face names its experts its own way
        List<WeightMatrix> gate, up, down;
        if (names == WeightNames.GGUF) {
            gate = t.perHead(names.expertsGate(i), e, f, c.dim());
            up = t.perHead(names.expertsUp(i), e, f, c.dim());
            down = t.perHead(names.expertsDown(i), e, c.dim(), f);
        } else {
            gate = new ArrayList<>(e);
            up = new ArrayList<>(e);
            down = new ArrayList<>(e);
            for (int x = 0; x < e; x++) {
                gate.add(t.matrix(names.expertGate(i, x, mixtral), f, c.dim()));
                up.add(t.matrix(names.expertUp(i, x, mixtral), f, c.dim()));
                down.add(t.matrix(names.expertDown(i, x, mixtral), c.dim(), f));
            }
        }
        return new Moe(t.matrix(names.router(i, mixtral), e, c.dim()), List.copyOf(gate), List.copyOf(up), List.copyOf(down),
                shared > 0 ? t.matrix(names.sharedGate(i), shared, c.dim()) : null,
                shared > 0 ? t.matrix(names.sharedUp(i), shared, c.dim()) : null,
                shared > 0 ? t.matrix(names.sharedDown(i), c.dim(), shared) : null,
                t.tensors().containsKey(names.selectionBias(i)) ? t.vector(names.selectionBias(i), e) : null);
    }

    /** Rows {@code [first, first + count)} of {@code m}, as a matrix over the same mapped bytes. */
    private static WeightMatrix rows(WeightMatrix m, int first, int count) {
        return new WeightMatrix(m.name() + "[" + first + ":" + (first + count) + "]", m.dtype(), count, m.cols(),
                m.data().asSlice(first * m.rowBytes(), count * m.rowBytes()));
    }

    /** Tensor lookups whose errors name the file, the tensor and both shapes. */
    record Lookup(Map<String, TensorInfo> tensors, String source) {
        TensorInfo get(String name) {
            TensorInfo info = tensors.get(name);
            if (info == null) {
                throw new ModelFormatException(source + ": missing tensor " + name);
            }
            return info;
        }

        WeightMatrix matrix(String name, int rows, int cols) {
            TensorInfo info = get(name);
            long[] s = info.shape();
            if (s.length != 2 || s[0] != rows || s[1] != cols) {
                throw new ModelFormatException("%s: tensor %s has shape %s, the config implies [%d, %d]"
                        .formatted(source, name, info.shapeString(), rows, cols));
            }
            try {
                return new WeightMatrix(name, info.dtype(), rows, cols, info.data());
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(source + ": tensor " + e.getMessage(), e);
            }
        }

        /** A (heads, rows, cols) tensor as one (rows, cols) matrix per head, each a slice of the mapping. */
        List<WeightMatrix> perHead(String name, int heads, int rows, int cols) {
            TensorInfo info = get(name);
            long[] s = info.shape();
            if (s.length != 3 || s[0] != heads || s[1] != rows || s[2] != cols) {
                throw new ModelFormatException("%s: tensor %s has shape %s, the config implies [%d, %d, %d]"
                        .formatted(source, name, info.shapeString(), heads, rows, cols));
            }
            List<WeightMatrix> out = new ArrayList<>(heads);
            try {
                long bytes = (long) rows * info.dtype().bytesFor(cols);
                for (int h = 0; h < heads; h++) {
                    out.add(new WeightMatrix(name + "[" + h + "]", info.dtype(), rows, cols,
                            info.data().asSlice(h * bytes, bytes)));
                }
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(source + ": tensor " + e.getMessage(), e);
            }
            return List.copyOf(out);
        }

        float[] vector(String name, int n) {
            TensorInfo info = get(name);
            if (info.shape().length != 1 || info.shape()[0] != n) {
                throw new ModelFormatException("%s: tensor %s has shape %s, the config implies [%d]"
                        .formatted(source, name, info.shapeString(), n));
            }
            var m = new WeightMatrix(name, info.dtype(), 1, n, info.data());
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = ReferenceBackend.element(m, 0, i);
            }
            return out;
        }
    }
}
