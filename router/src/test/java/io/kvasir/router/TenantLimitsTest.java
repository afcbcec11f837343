package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import io.kvasir.testing.ManualClock;

class TenantLimitsTest {
    private final ManualClock clock = new ManualClock(Instant.parse("2026-12-02T10:00:00Z"));

    private static TenantLimits.Permit admitted(TenantLimits.Admission a) {
        return assertInstanceOf(TenantLimits.Permit.class, a, a.toString());
    }

    @Test
    void tokensPerMinuteIsARollingMinuteOfPromptAndGeneratedTokens() {
        TenantLimits limits = new TenantLimits(0, 100, clock);
        admitted(limits.admit("alpha", "alpha", 60)).release(30); // 90 of 100 used
        clock.advance(Duration.ofSeconds(30));
        var refused = assertInstanceOf(TenantLimits.Refusal.class, limits.admit("alpha", "alpha", 20),
                "90 + 20 exceeds 100 within the minute");
        assertTrue(refused.reason().contains("used 90 of its 100 tokens per minute"), refused.reason());
        admitted(limits.admit("beta", "beta", 100)); // beta's minute is its own
        clock.advance(Duration.ofSeconds(31));
        admitted(limits.admit("alpha", "alpha", 20)); // a minute on, the first 90 tokens no longer count
    }

    @Test
    void requestsInFlightAreCountedUntilReleased() {
        TenantLimits limits = new TenantLimits(1, 0, clock);
        TenantLimits.Permit first = admitted(limits.admit("alpha", "alpha", 5));
        assertInstanceOf(TenantLimits.Refusal.class, limits.admit("alpha", "alpha", 5), "one in flight is alpha's limit");
        first.release(3);
        admitted(limits.admit("alpha", "alpha", 5));
    }

    /** A request both cancelled and finished gives its place back once, not twice. */
    @Test
    void aPermitReleasedTwiceFreesOnePlace() {
        TenantLimits limits = new TenantLimits(2, 0, clock);
        TenantLimits.Permit a = admitted(limits.admit("alpha", "alpha", 1));
        admitted(limits.admit("alpha", "alpha", 1));
        a.release(0);
        a.release(0); // the cancel and the finish racing
        assertEquals(1, limits.inFlight("alpha"));
        admitted(limits.admit("alpha", "alpha", 1));
        assertInstanceOf(TenantLimits.Refusal.class, limits.admit("alpha", "alpha", 1), "two in flight again");
    }

    /** Checks and counts are one step: threads admitting at once never pass a limit together. */
    @Test
    void concurrentRequestsCannotPassALimitTogether() throws Exception {
        TenantLimits limits = new TenantLimits(5, 1000, clock);
        for (int round = 0; round < 20; round++) {
            TenantLimits perMinute = new TenantLimits(0, 1000, clock);
            String tenant = "t" + round;
            AtomicInteger tokensAdmitted = new AtomicInteger();
            AtomicInteger running = new AtomicInteger();
            AtomicInteger mostRunning = new AtomicInteger();
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int j = 0; j < 10; j++) {
                        if (perMinute.admit(tenant, tenant, 30) instanceof TenantLimits.Permit) {
                            tokensAdmitted.addAndGet(30);
                        }
                        if (limits.admit(tenant, tenant, 0) instanceof TenantLimits.Permit p) {
                            mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                            Thread.onSpinWait();
                            running.decrementAndGet();
                            p.release(0);
                        }
                    }
                }));
            }
            go.countDown();
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(990, tokensAdmitted.get(), "33 requests of 30 tokens fit in 1000, and no more");
            assertTrue(mostRunning.get() <= 5, mostRunning.get() + " in flight at once");
            assertEquals(0, limits.inFlight(tenant));
        }
    }

    /** Tenant names do not grow the tables without end: a tenant with nothing in flight and an idle minute leaves. */
    @Test
    void idleTenantsLeaveTheTables() {
        TenantLimits limits = new TenantLimits(4, 1_000_000, clock);
        for (int i = 0; i < 5000; i++) {
            admitted(limits.admit("tenant-" + i, "tenant-" + i, 1)).release(1);
        }
        clock.advance(Duration.ofSeconds(61));
        admitted(limits.admit("late", "late", 1));
        assertTrue(limits.trackedTenants() <= 2, limits.trackedTenants() + " tenants still tracked");
    }
}
