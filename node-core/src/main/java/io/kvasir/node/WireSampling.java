package io.kvasir.node;

import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.sampling.TokenLogprobs;

/** The engine's sampling parameters from the wire's (0 meaning "off" for top_p and repetition_penalty), and log-probabilities back. */
public final class WireSampling {
    private WireSampling() {
    }

    /** @throws IllegalArgumentException a value out of range, naming the field */
    public static SamplingParams of(io.kvasir.proto.v1.SamplingParams p) {
        return new SamplingParams(p.getTemperature(), p.getTopK(), p.getTopP() == 0 ? 1 : p.getTopP(), p.getSeed(),
                p.getMinP(), p.getPresencePenalty(), p.getFrequencyPenalty(),
                p.getRepetitionPenalty() == 0 ? 1 : p.getRepetitionPenalty(), p.getLogitBiasMap(),
                p.getLogprobs() ? p.getTopLogprobs() : -1, p.getStructuredOutput().isEmpty() ? null : p.getStructuredOutput());
    }

    /** A token's log-probabilities as the wire carries them. */
    public static io.kvasir.proto.v1.TokenLogprobs logprobs(TokenLogprobs lp) {
        var b = io.kvasir.proto.v1.TokenLogprobs.newBuilder().setLogprob(lp.logprob());
        for (int i = 0; i < lp.topTokens().length; i++) {
            b.addTopTokenIds(lp.topTokens()[i]).addTopLogprobs(lp.topLogprobs()[i]);
        }
        return b.build();
    }
}
