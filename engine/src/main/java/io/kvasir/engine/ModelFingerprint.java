package io.kvasir.engine;

import io.kvasir.engine.model.ModelConfig;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A model's identity for KV block keys: SHA-256 over its configuration and, for every weight
 * matrix, its name, dtype, shape and up to {@value #SAMPLE_BYTES} bytes from each of its start,
 * middle and end. Two nodes loading the same file (or the same checkpoint in another container)
 * agree; a fine-tune, a requantization or a different model differs in every sampled region. Reading
 * samples, not whole tensors, keeps this to milliseconds for a 1B model instead of a second per GB.
 */
public final class ModelFingerprint {
    static final int SAMPLE_BYTES = 4096;

    private ModelFingerprint() {
    }

    public static String of(Model model) {
        MessageDigest sha = sha256();
        ModelConfig c = model.transformer().config();
        update(sha, describe(c));
        model.transformer().weights().forEachMatrix(w -> {
            update(sha, w.name() + "|" + w.dtype() + "|" + w.rows() + "x" + w.cols());
            long size = w.data().byteSize();
            for (long at : new long[] {0, size / 2, Math.max(0, size - SAMPLE_BYTES)}) {
                long n = Math.min(SAMPLE_BYTES, size - at);
                byte[] bytes = w.data().asSlice(at, n).toArray(ValueLayout.JAVA_BYTE);
                sha.update(bytes);
            }
        });
        return HexFormat.of().formatHex(sha.digest());
    }

    /** The config as text that is the same in every JVM (record toString would print array identities). */
    static String describe(ModelConfig c) {
        return String.join("|", c.architecture(), "" + c.dim(), "" + c.numLayers(), "" + c.numHeads(),
                "" + c.numKvHeads(), "" + c.headDim(), "" + c.ffnDim(), "" + c.vocabSize(), "" + c.rmsNormEps(),
                c.rope().layout().name(), "" + c.rope().dims(), "" + c.rope().base(),
                java.util.Arrays.toString(c.rope().freqFactors()), "" + c.rope().linearScale(), "" + c.qkvBias(),
                "" + c.tiedEmbeddings(), String.valueOf(c.mla()), java.util.Arrays.toString(
                        java.util.stream.IntStream.range(0, c.numLayers()).map(c::window).toArray()))
                + (c.kvShareFactor() == 1 ? "" : "|cla " + c.kvShareFactor()); // files before CLA keep their prints
    }

    private static void update(MessageDigest sha, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        sha.update((byte) (b.length >>> 24));
        sha.update((byte) (b.length >>> 16));
        sha.update((byte) (b.length >>> 8));
        sha.update((byte) b.length);
        sha.update(b);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
