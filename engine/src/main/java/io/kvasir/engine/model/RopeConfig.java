package io.kvasir.engine.model;

/**
 * Rotary position embedding settings. The angle of pair i at position p is
 * {@code p / linearScale · base^(-2i/dims) / freqFactors[i]}.
 *
 * @param dims        how many leading dimensions of each head are rotated (usually the head size)
 * @param freqFactors per-pair divisors (Llama-3 scaling: GGUF {@code rope_freqs.weight}, or computed
 *                    from HF {@code rope_scaling}); null when absent
 * @param linearScale position divisor (HF {@code rope_scaling.type = linear}); 1 when absent
 */
public record RopeConfig(RopeLayout layout, int dims, double base, float[] freqFactors, double linearScale) {
    public RopeConfig {
        if (dims <= 0 || dims % 2 != 0) {
            throw new IllegalArgumentException("rope dims must be even and > 0, got " + dims);
        }
        if (!(base > 0)) {
            throw new IllegalArgumentException("rope base must be > 0, got " + base);
        }
        if (freqFactors != null && freqFactors.length != dims / 2) {
            throw new IllegalArgumentException("rope frequency factors: " + freqFactors.length + " values, expected " + dims / 2);
        }
        if (!(linearScale > 0)) {
            throw new IllegalArgumentException("rope linear scale must be > 0, got " + linearScale);
        }
    }

    /**
     * YaRN as frequency divisors: each pair's angle blends the interpolated one ({@code /factor})
     * and the original by a ramp over the pairs between the correction dims of {@code betaFast}
     * and {@code betaSlow} (in full rotations over {@code originalContext}); fast-turning pairs keep
     * their frequency, slow ones are interpolated. This is llama.cpp's rope_yarn and transformers'
     * DeepSeek-V2 rotary embedding, folded into one factor per pair since both angles are linear in
     * the position. The magnitude part of YaRN is the caller's (see {@link MlaConfig#scoreScale}).
     */
    public static float[] yarnFreqFactors(int dims, double base, double factor, int originalContext, double betaFast,
                                          double betaSlow) {
        double low = Math.max(0, Math.floor(yarnCorrectionDim(dims, originalContext, betaFast, base)));
        double high = Math.min(dims - 1, Math.ceil(yarnCorrectionDim(dims, originalContext, betaSlow, base)));
        float[] out = new float[dims / 2];
        for (int i = 0; i < out.length; i++) {
            double y = (i - low) / Math.max(0.001, high - low);
            double extrapolate = 1 - Math.min(1, Math.max(0, y)); // 1: keep the original frequency
            out[i] = (float) (1 / ((1 - extrapolate) / factor + extrapolate));
        }
        return out;
    }

    /** The pair index whose wavelength fits {@code rotations} times into {@code originalContext}. */
    private static double yarnCorrectionDim(int dims, int originalContext, double rotations, double base) {
        return dims * Math.log(originalContext / (rotations * 2 * Math.PI)) / (2 * Math.log(base));
    }

    /** Llama 3's frequency scaling, computed as Meta's reference and llama.cpp's converter do. */
    public static float[] llama3FreqFactors(int dims, double base, double factor, double lowFreqFactor,
                                            double highFreqFactor, int originalContext) {
        float[] out = new float[dims / 2];
        double lowFreqWavelen = originalContext / lowFreqFactor;
        double highFreqWavelen = originalContext / highFreqFactor;
        for (int i = 0; i < out.length; i++) {
            double freq = 1.0 / Math.pow(base, (2.0 * i) / dims);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highFreqWavelen) {
                out[i] = 1;
            } else if (wavelen > lowFreqWavelen) {
                out[i] = (float) factor;
            } else {
                double smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                out[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return out;
    }
}
