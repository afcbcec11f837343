package io.kvasir.engine.kv;

/** No free KV block is left; the scheduler preempts or the request fails cleanly. */
public final class KvCacheFullException extends RuntimeException {
    public KvCacheFullException(String message) {
        super(message);
    }
}
