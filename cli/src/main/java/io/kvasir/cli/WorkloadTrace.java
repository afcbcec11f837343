package io.kvasir.cli;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * A seeded workload of sessions, each a run of turns with arrival times from one Poisson process
 * (the open loop: arrivals do not wait for answers, except that a conversation's next turn can only
 * be sent once its previous answer is in). Built from token ids, so every mode replays exactly the
 * same prompts.
 *
 * <ul>
 * <li>{@code documents} (llm-d's shared-document benchmark): C customers, each with its own document
 * of L tokens; U users per customer each ask one question of Q tokens after it. Every request is
 * its own session, in a seeded random order.</li>
 * <li>{@code chat} (LMCache's multi-round QA): S conversations, each starting from C tokens of its own
 * context (a document, a long history; 0 by default); turn k sends the whole conversation so far
 * (previous prompt and answer) plus a new message of Q tokens, for T turns or until N tokens of
 * context. Each round visits the conversations in a fresh random order, so a conversation's next turn
 * comes after the others have used the KV.</li>
 * </ul>
 */
record WorkloadTrace(String mix, List<Session> sessions, int outputTokens, int maxContext) {
    /** {@code continues}: each turn's prompt extends the previous prompt and answer (a conversation). */
    record Session(String name, int tenant, boolean continues, List<Turn> turns) {
    }

    /** {@code tokens}: the whole prompt, or in a conversation what this turn adds to it. */
    record Turn(String id, double arrivalSeconds, int[] tokens) {
    }

    /** Sizes of a mix; unused ones are ignored. */
    record Sizes(int customers, int documentTokens, int usersPerCustomer, int conversations, int turns,
            int questionTokens, int outputTokens, int maxContext, int tenants, int contextTokens) {
        Sizes(int customers, int documentTokens, int usersPerCustomer, int conversations, int turns,
                int questionTokens, int outputTokens, int maxContext, int tenants) {
            this(customers, documentTokens, usersPerCustomer, conversations, turns, questionTokens, outputTokens,
                    maxContext, tenants, 0);
        }
    }

    static WorkloadTrace documents(Sizes s, double rate, long seed, int vocab) {
        Random random = new Random(seed);
        int[][] docs = new int[s.customers()][];
        for (int c = 0; c < docs.length; c++) {
            docs[c] = new int[s.documentTokens() + 1];
            docs[c][0] = 1; // BOS
            fill(random, docs[c], 1, vocab);
        }
        List<int[]> order = new ArrayList<>(); // (customer, user)
        for (int c = 0; c < s.customers(); c++) {
            for (int u = 0; u < s.usersPerCustomer(); u++) {
                order.add(new int[] {c, u});
            }
        }
        Collections.shuffle(order, random);
        List<Session> sessions = new ArrayList<>();
        double t = 0;
        for (int[] cu : order) {
            t += exponential(random, rate);
            int[] prompt = new int[docs[cu[0]].length + s.questionTokens()];
            System.arraycopy(docs[cu[0]], 0, prompt, 0, docs[cu[0]].length);
            fill(random, prompt, docs[cu[0]].length, vocab);
            String name = "c" + cu[0] + "-u" + cu[1];
            sessions.add(new Session(name, cu[0] % s.tenants(), false, List.of(new Turn(name, t, prompt))));
        }
        return new WorkloadTrace("documents", sessions, s.outputTokens(), s.maxContext());
    }

    static WorkloadTrace chat(Sizes s, double rate, long seed, int vocab) {
        Random random = new Random(seed);
        List<List<Turn>> turns = new ArrayList<>();
        for (int c = 0; c < s.conversations(); c++) {
            turns.add(new ArrayList<>());
        }
        // the context a conversation reaches after k turns, to stop before N
        int perTurn = s.questionTokens() + s.outputTokens();
        double t = 0;
        for (int k = 0; k < s.turns() && 1 + s.contextTokens() + (k + 1) * perTurn <= s.maxContext(); k++) {
            List<Integer> round = new ArrayList<>();
            for (int c = 0; c < s.conversations(); c++) {
                round.add(c);
            }
            Collections.shuffle(round, random);
            for (int c : round) {
                t += exponential(random, rate);
                int[] message = new int[s.questionTokens() + (k == 0 ? 1 + s.contextTokens() : 0)];
                if (k == 0) {
                    message[0] = 1; // BOS
                }
                fill(random, message, k == 0 ? 1 : 0, vocab);
                turns.get(c).add(new Turn("s" + c + "-t" + k, t, message));
            }
        }
        List<Session> sessions = new ArrayList<>();
        for (int c = 0; c < s.conversations(); c++) {
            sessions.add(new Session("s" + c, c % s.tenants(), true, List.copyOf(turns.get(c))));
        }
        return new WorkloadTrace("chat", sessions, s.outputTokens(), s.maxContext());
    }

    int requests() {
        return sessions.stream().mapToInt(x -> x.turns().size()).sum();
    }

    /** Ids in [3, vocab): no unknown, BOS or EOS tokens inside a prompt. */
    private static void fill(Random random, int[] into, int from, int vocab) {
        for (int i = from; i < into.length; i++) {
            into[i] = 3 + random.nextInt(vocab - 3);
        }
    }

    /** Seconds to the next arrival of a Poisson process of {@code rate} per second. */
    private static double exponential(Random random, double rate) {
        return -Math.log(1 - random.nextDouble()) / rate;
    }
}
