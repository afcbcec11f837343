package io.kvasir.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.testing.Golden;
import org.junit.jupiter.api.Test;

class ModelFingerprintTest {
    private static String of(String name) {
        try (var backend = new ReferenceBackend(); Model m = Model.load(Golden.model(name), backend)) {
            return ModelFingerprint.of(m);
        }
    }

    @Test
    void sameFileSameFingerprintOtherWeightsOrPrecisionAnother() {
        String wide = of("llama-wide");
        assertEquals(wide, of("llama-wide"), "loading again (another JVM would too: no identity hashes inside)");
        assertEquals(64, wide.length());
        assertNotEquals(wide, of("llama-wide-f16"), "same model at another precision: other KV");
        assertNotEquals(wide, of("llama-gqa"));
        assertNotEquals(of("ds2-tiny"), of("ds2-yarn"), "same shapes, other weights and rope scaling");
    }
}
