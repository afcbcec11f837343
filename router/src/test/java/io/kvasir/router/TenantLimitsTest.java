package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;

import org.junit.jupiter.api.Test;

import io.kvasir.testing.ManualClock;

class TenantLimitsTest {
    private final ManualClock clock = new ManualClock(Instant.parse("2026-12-02T10:00:00Z"));

    @Test
    void tokensPerMinuteIsARollingMinuteOfPromptAndGeneratedTokens() {
        TenantLimits limits = new TenantLimits(0, 100, clock);
        assertNull(limits.admit("alpha", "alpha", 60));
        limits.release("alpha", 30); // 90 of 100 used
        clock.advance(Duration.ofSeconds(30));
        TenantLimits.Refusal refused = limits.admit("alpha", "alpha", 20);
        assertNotNull(refused, "90 + 20 exceeds 100 within the minute");
        assertTrue(refused.reason().contains("used 90 of its 100 tokens per minute"), refused.reason());
        assertNull(limits.admit("beta", "beta", 100), "beta's minute is its own");
        clock.advance(Duration.ofSeconds(31));
        assertNull(limits.admit("alpha", "alpha", 20), "a minute on, the first 90 tokens no longer count");
    }

    @Test
    void requestsInFlightAreCountedUntilReleased() {
        TenantLimits limits = new TenantLimits(1, 0, clock);
        assertNull(limits.admit("alpha", "alpha", 5));
        assertNotNull(limits.admit("alpha", "alpha", 5), "one in flight is alpha's limit");
        limits.release("alpha", 3);
        assertNull(limits.admit("alpha", "alpha", 5));
    }
}
