package io.kvasir.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

import io.kvasir.engine.tokenizer.Tokenizer;

/** Masks over a six-token vocabulary: only continuations of the language, the end only at a whole match. */
class GrammarTest {
    private static final String[] VOCAB = {"<eos>", "a", "b", "ab", "c", "\uFFFD"};
    private static final Tokenizer TOKENIZER = new Tokenizer() {
        @Override
        public int[] encode(String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String decode(int[] tokens) {
            StringBuilder b = new StringBuilder();
            for (int t : tokens) {
                b.append(t == 0 ? "" : VOCAB[t]);
            }
            return b.toString();
        }

        @Override
        public boolean isEndOfGeneration(int token) {
            return token == 0;
        }
    };

    @Test
    void onlyContinuationsAreAllowedAndTheEndOnlyAtAWholeMatch() {
        Grammar g = new Grammars(TOKENIZER, VOCAB.length).compile("ab(ab)?");
        int s = g.initialState();
        assertEquals("a ab", allowed(g, s), "b, c and the end cannot start it; an incomplete character never");
        s = g.next(s, 3); // "ab": a whole match, which may go on
        assertEquals("<eos> a ab", allowed(g, s));
        s = g.next(s, 1);
        assertEquals("b", allowed(g, s));
        s = g.next(s, 2); // "abab": nothing may follow
        assertEquals("<eos>", allowed(g, s), "the end is all that is left");
    }

    @Test
    void samplingFollowsTheGrammarWhateverTheLogits() {
        SamplingParams p = new SamplingParams(1f, 0, 1, 5, 0, 0, 0, 1, Map.of(), -1, "(a|b)c");
        Grammars grammars = new Grammars(TOKENIZER, VOCAB.length);
        for (int seed = 0; seed < 20; seed++) {
            Sampler s = new Sampler(new SamplingParams(1f, 0, 1, seed, 0, 0, 0, 1, Map.of(), -1, p.structuredOutput()),
                    VOCAB.length, grammars.compile(p.structuredOutput()));
            StringBuilder out = new StringBuilder();
            for (int step = 0; step < 4; step++) {
                int t = s.sample(new float[] {5f, 0f, 0f, 9f, 0f, 9f}); // favours the end, "ab" and "\uFFFD"
                s.accepted(t);
                if (t == 0) {
                    break;
                }
                out.append(VOCAB[t]);
            }
            assertTrue(out.toString().equals("ac") || out.toString().equals("bc"), out.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> grammars.compile("(a"), "does not parse");
    }

    private static String allowed(Grammar g, int state) {
        float[] logits = new float[VOCAB.length];
        g.mask(state, logits, 0);
        StringBuilder b = new StringBuilder();
        for (int t = 0; t < logits.length; t++) {
            if (logits[t] != Float.NEGATIVE_INFINITY) {
                b.append(b.isEmpty() ? "" : " ").append(VOCAB[t]);
            }
        }
        return b.toString();
    }
}
