package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiKeysTest {
    @Test
    void aKeysFileGivesTenantsTheirWeightsAndSharedNamespaces(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "# key tenant options\nsk-a alpha weight=3 shared=public+docs\n\nsk-b beta\n");
        ApiKeys keys = ApiKeys.fromFile(file);
        assertEquals(new Tenant("alpha", 3, Set.of("public", "docs"), false), keys.tenantOf("sk-a"));
        assertEquals(Tenant.of("beta"), keys.tenantOfAuthorization("Bearer sk-b"));
        assertNull(keys.tenantOf("sk-c"));
        assertEquals(keys.tenantOf("sk-a"), ApiKeys.fromSpec("sk-a=alpha weight=3 shared=public+docs, sk-b=beta").tenantOf("sk-a"));
    }

    @Test
    void aBadLineIsNamedWithItsFileAndNumber(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "sk-a alpha\nsk-b beta weight=lots\n");
        var e = assertThrows(IllegalArgumentException.class, () -> ApiKeys.fromFile(file));
        assertTrue(e.getMessage().startsWith(file + ":2: "), e.getMessage());
        assertTrue(e.getMessage().contains("weight"), e.getMessage());
        Files.writeString(file, "sk-a al:pha\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ApiKeys.fromFile(file)).getMessage()
                .contains("tenant name"));
        Files.writeString(file, "sk-a alpha colour=blue\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ApiKeys.fromFile(file)).getMessage()
                .contains("unknown option"));
    }

    @Test
    void aClientSaltNamesASharedCacheOnlyWhereTheTenantMayUseIt() {
        Tenant alpha = new Tenant("alpha", 1, Set.of("public"), false);
        assertEquals("shared:public", alpha.cacheOwner("public"));
        assertEquals("alpha", alpha.cacheOwner("docs"), "not allowed: ignored");
        assertEquals("alpha", alpha.cacheOwner(""));
        assertEquals("alpha", alpha.cacheOwner("../etc"), "not a name: ignored");
        assertEquals("shared:docs", Tenant.open("default").cacheOwner("docs"), "an open router trusts callers anyway");
    }
}
