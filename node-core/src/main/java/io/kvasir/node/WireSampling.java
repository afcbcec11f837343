package io.kvasir.node;

import io.kvasir.engine.sampling.SamplingParams;

/** The engine's sampling parameters from the wire's, where 0 means "off" for top_p and repetition_penalty. */
public final class WireSampling {
    private WireSampling() {
    }

    /** @throws IllegalArgumentException a value out of range, naming the field */
    public static SamplingParams of(io.kvasir.proto.v1.SamplingParams p) {
        return new SamplingParams(p.getTemperature(), p.getTopK(), p.getTopP() == 0 ? 1 : p.getTopP(), p.getSeed(),
                p.getMinP(), p.getPresencePenalty(), p.getFrequencyPenalty(),
                p.getRepetitionPenalty() == 0 ? 1 : p.getRepetitionPenalty(), p.getLogitBiasMap());
    }
}
