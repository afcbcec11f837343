package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

class StopMatcherTest {
    @Test
    void cutsBeforeAStopStringSplitAcrossPiecesAndNeverShowsPartOfIt() {
        StopMatcher m = new StopMatcher(List.of("</end>", "\n\n"));
        assertEquals("Hello ", m.add("Hello <"));     // "<" might start "</end>": held back
        assertEquals("", m.add("/en"));
        assertFalse(m.stopped());
        assertEquals("", m.add("d> more"));
        assertTrue(m.stopped());
        assertEquals("", m.add("ignored"));
        assertEquals("", m.flush());
    }

    @Test
    void heldBackTextThatTurnsOutHarmlessIsShownAndFlushed() {
        StopMatcher m = new StopMatcher(List.of("STOP"));
        assertEquals("a ", m.add("a ST"));
        assertEquals("STart", m.add("art"));
        assertEquals("", m.add("S"));
        assertEquals("S", m.flush());
        assertFalse(m.stopped());
    }

    @Test
    void theEarliestOfSeveralStopsWins() {
        StopMatcher m = new StopMatcher(List.of("b", "a"));
        assertEquals("x", m.add("xab"));
        assertTrue(m.stopped());
    }
}
