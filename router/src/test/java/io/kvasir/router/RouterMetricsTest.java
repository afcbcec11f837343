package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Tenant names reach /metrics only when asked for, and never as more series than a bound. */
class RouterMetricsTest {
    @Test
    void tenantSeriesAreOptInAndBounded() {
        RouterMetrics quiet = new RouterMetrics("m");
        quiet.started();
        quiet.finished("alpha", "stop", 0.1, 10, 0, 2);
        quiet.refused("alpha");
        assertFalse(quiet.render().contains("alpha"), "no tenant names without --metrics-tenants");

        RouterMetrics labelled = new RouterMetrics("m").labelTenants(true);
        for (int i = 0; i < RouterMetrics.MAX_TENANT_SERIES + 500; i++) {
            labelled.started();
            labelled.finished("tenant-" + i, "stop", 0.1, 10, 0, 2);
            labelled.refused("tenant-" + i);
        }
        String text = labelled.render();
        assertTrue(text.contains("kvasir_tenant_requests_total{tenant=\"tenant-0\"} 1"), "a tenant's own series");
        assertTrue(text.contains("kvasir_tenant_requests_total{tenant=\"" + RouterMetrics.OTHER_TENANTS + "\"} 500"),
                "the tenants beyond the bound, together");
        long series = text.lines().filter(l -> l.startsWith("kvasir_tenant_requests_total{")).count();
        assertEquals(RouterMetrics.MAX_TENANT_SERIES + 1, series);
    }
}
