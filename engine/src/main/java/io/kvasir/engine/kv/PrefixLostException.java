package io.kvasir.engine.kv;

/** Layers of a cached prefix that was being loaded will not arrive: the prompt is computed instead. */
public final class PrefixLostException extends RuntimeException {
    public PrefixLostException(String message) {
        super(message);
    }
}
