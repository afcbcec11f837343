package io.kvasir.engine.loop;

/** The loop's waiting queue is at its bound: the request is refused now (try again later or elsewhere). */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(String message) {
        super(message);
    }
}
