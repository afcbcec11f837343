package io.kvasir.router;

import java.util.List;

/**
 * Cuts streamed text before the first stop string. Text that might be the start of a stop string
 * is held back until the next piece decides it, so a client never sees part of a stop string.
 */
final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Adds generated text; returns what can be shown now. After a match, {@link #stopped()} is true. */
    String add(String text) {
        if (stopped) {
            return "";
        }
        pending.append(text);
        int first = -1;
        for (String s : stops) {
            int at = pending.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) {
                first = at;
            }
        }
        if (first >= 0) {
            stopped = true;
            String out = pending.substring(0, first);
            pending.setLength(0);
            return out;
        }
        int hold = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, pending.length()); k > hold; k--) {
                if (pending.substring(pending.length() - k).equals(s.substring(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        String out = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        return out;
    }

    /** The held-back text, at the end of generation. */
    String flush() {
        String out = stopped ? "" : pending.toString();
        pending.setLength(0);
        return out;
    }

    boolean stopped() {
        return stopped;
    }
}
