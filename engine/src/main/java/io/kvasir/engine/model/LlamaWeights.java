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
     */
    public record Layer(float[] attnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv,
                        float[] bq, float[] bk, float[] bv, WeightMatrix wo,
                        float[] ffnNorm, WeightMatrix wGate, WeightMatrix wUp, WeightMatrix wDown) {
    }

    /** Picks and shape-checks every tensor the config calls for; {@code source} names the file in errors. */
    public static LlamaWeights load(ModelConfig c, Map<String, TensorInfo> tensors, WeightNames names, String source) {
        var t = new Lookup(tensors, source);
        WeightMatrix embedding = t.matrix(names.tokenEmbedding, c.vocabSize(), c.dim());
        WeightMatrix output = c.tiedEmbeddings() ? embedding : t.matrix(names.output, c.vocabSize(), c.dim());
        List<Layer> layers = new ArrayList<>(c.numLayers());
        for (int i = 0; i < c.numLayers(); i++) {
            layers.add(new Layer(
                    t.vector(names.attnNorm(i), c.dim()),
                    t.matrix(names.q(i), c.queryDim(), c.dim()),
                    t.matrix(names.k(i), c.kvDim(), c.dim()),
                    t.matrix(names.v(i), c.kvDim(), c.dim()),
                    c.qkvBias() ? t.vector(names.qBias(i), c.queryDim()) : null,
                    c.qkvBias() ? t.vector(names.kBias(i), c.kvDim()) : null,
                    c.qkvBias() ? t.vector(names.vBias(i), c.kvDim()) : null,
                    t.matrix(names.attnOutput(i), c.dim(), c.queryDim()),
                    t.vector(names.ffnNorm(i), c.dim()),
                    t.matrix(names.ffnGate(i), c.ffnDim(), c.dim()),
                    t.matrix(names.ffnUp(i), c.ffnDim(), c.dim()),
                    t.matrix(names.ffnDown(i), c.dim(), c.ffnDim())));
        }
        return new LlamaWeights(embedding, t.vector(names.outputNorm, c.dim()), output, List.copyOf(layers));
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
