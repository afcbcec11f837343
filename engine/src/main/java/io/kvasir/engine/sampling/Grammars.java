package io.kvasir.engine.sampling;

import java.util.LinkedHashMap;
import java.util.Map;

import io.kvasir.engine.tokenizer.Tokenizer;

/**
 * One tokenizer's compiled {@link Grammar}s, by expression: a schema a client sends again and again
 * is compiled once (the most recently used {@value #KEPT} are kept), and the tokens' texts are
 * read from the tokenizer once, on the first structured request.
 */
public final class Grammars {
    static final int KEPT = 64;

    private final Tokenizer tokenizer;
    private final int vocab;
    private volatile Grammar.TokenTexts texts;
    private final Map<String, Grammar> compiled = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Grammar> eldest) {
            return size() > KEPT;
        }
    };

    public Grammars(Tokenizer tokenizer, int vocab) {
        this.tokenizer = tokenizer;
        this.vocab = vocab;
    }

    /** @throws IllegalArgumentException an expression that does not parse or matches nothing */
    public synchronized Grammar compile(String regex) {
        Grammar g = compiled.get(regex);
        if (g == null) {
            if (texts == null) {
                texts = Grammar.TokenTexts.of(tokenizer, vocab);
            }
            g = Grammar.compile(regex, texts);
            compiled.put(regex, g);
        }
        return g;
    }
}
