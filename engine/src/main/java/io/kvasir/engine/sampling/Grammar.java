package io.kvasir.engine.sampling;

import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dk.brics.automaton.Automaton;
import dk.brics.automaton.RegExp;
import dk.brics.automaton.RunAutomaton;

/**
 * Structured output: a regular expression over the generated text, compiled once into a DFA
 * (dk.brics.automaton, a maintained automaton library), and for each DFA state the tokens whose
 * text keeps the output inside the language. Sampling masks every other token; an end-of-generation
 * token is allowed only where the text so far is a whole match (and then it is the only one where
 * nothing can follow). Immutable and shared by every sequence using the same expression.
 */
public final class Grammar {
    private final RunAutomaton dfa;
    private final TokenTexts texts;
    /** DFA state → tokens allowed there (end-of-generation excluded), filled as states are first visited. */
    private final Map<Integer, BitSet> allowed = new ConcurrentHashMap<>();

    private Grammar(RunAutomaton dfa, TokenTexts texts) {
        this.dfa = dfa;
        this.texts = texts;
    }

    /**
     * @param regex dk.brics syntax without its extensions: {@code | * + ? {n,m} [..] [^..] ( )}, {@code \c}
     *              for a literal c
     * @throws IllegalArgumentException the expression does not parse, or matches nothing
     */
    public static Grammar compile(String regex, TokenTexts texts) {
        Automaton a = automaton(regex);
        a.minimize();
        return new Grammar(new RunAutomaton(a), texts);
    }

    /** Checks an expression as {@link #compile} would, without a tokenizer: @throws IllegalArgumentException as it does */
    public static void check(String regex) {
        automaton(regex);
    }

    private static Automaton automaton(String regex) {
        Automaton a;
        try {
            a = new RegExp(regex, RegExp.NONE).toAutomaton();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the structured-output expression does not parse: " + e.getMessage(), e);
        }
        if (a.isEmpty()) {
            throw new IllegalArgumentException("the structured-output expression matches no text");
        }
        return a;
    }

    public int initialState() {
        return dfa.getInitialState();
    }

    /** The state after {@code token}'s text, or -1 if it leaves the language (an end-of-generation token stays). */
    public int next(int state, int token) {
        if (state < 0 || texts.endsGeneration(token)) {
            return state;
        }
        String text = texts.text(token);
        if (text == null) {
            return -1;
        }
        for (int i = 0; i < text.length() && state >= 0; i++) {
            state = dfa.step(state, text.charAt(i));
        }
        return state;
    }

    /** Sets every logit the text may not continue with at {@code state} to -∞. */
    public void mask(int state, float[] logits, int offset) {
        int n = texts.size();
        BitSet ok = state < 0 ? new BitSet() : allowed.computeIfAbsent(state, this::allowedAt);
        boolean end = state < 0 || dfa.isAccept(state) || ok.isEmpty(); // never a row of nothing but -∞
        for (int t = 0; t < n; t++) {
            if (!(ok.get(t) || end && texts.endsGeneration(t))) {
                logits[offset + t] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    private BitSet allowedAt(int state) {
        BitSet ok = new BitSet(texts.size());
        for (int t = 0; t < texts.size(); t++) {
            String text = texts.text(t);
            if (text == null || text.isEmpty() || texts.endsGeneration(t)) {
                continue;
            }
            int s = state;
            for (int i = 0; i < text.length() && s >= 0; i++) {
                s = dfa.step(s, text.charAt(i));
            }
            if (s >= 0) {
                ok.set(t);
            }
        }
        return ok;
    }

    /**
     * Each token's text as the client sees it when it follows other text (null for tokens with no
     * text of their own: control tokens, bytes of an incomplete UTF-8 character), and which tokens
     * end generation. Built once per tokenizer.
     */
    public record TokenTexts(String[] texts, BitSet endOfGeneration) {
        public static TokenTexts of(io.kvasir.engine.tokenizer.Tokenizer tokenizer, int vocab) {
            String[] texts = new String[vocab];
            BitSet ends = new BitSet(vocab);
            for (int t = 0; t < vocab; t++) {
                if (tokenizer.isEndOfGeneration(t)) {
                    ends.set(t);
                    continue;
                }
                String text = tokenizer.decode(new int[] {t});
                texts[t] = text.indexOf('\uFFFD') >= 0 ? null : text;
            }
            return new TokenTexts(texts, ends);
        }

        int size() {
            return texts.length;
        }

        String text(int token) {
            return texts[token];
        }

        boolean endsGeneration(int token) {
            return endOfGeneration.get(token);
        }
    }
}
