package io.kvasir.router;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.kvasir.proto.v1.GenerateResponse;

/**
 * The responses of one in-process {@code Generate}, read as a blocking iterator the way a gRPC
 * blocking stub reads them: an error ends the iteration as a {@link StatusRuntimeException} (with
 * its trailers), and so does the deadline. {@link #cancel} stops the request unless it has ended.
 */
final class InProcessStream implements StreamObserver<GenerateResponse>, Iterator<GenerateResponse> {
    private static final Object END = new Object();

    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final long deadlineNanos;
    private volatile Runnable cancelRequest = () -> { };
    private Object next;
    private boolean ended;

    InProcessStream(long timeoutMillis) {
        this.deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    }

    /** Where the request's cancellation is handed over. */
    void onCancel(Runnable cancel) {
        this.cancelRequest = cancel;
    }

    @Override
    public void onNext(GenerateResponse value) {
        queue.add(value);
    }

    @Override
    public void onError(Throwable t) {
        queue.add(t);
    }

    @Override
    public void onCompleted() {
        queue.add(END);
    }

    @Override
    public boolean hasNext() {
        if (ended) {
            return false;
        }
        if (next == null) {
            next = take();
        }
        if (next == END) {
            ended = true;
            return false;
        }
        if (next instanceof Throwable t) {
            ended = true;
            throw t instanceof StatusRuntimeException e ? e
                    : new StatusRuntimeException(Status.fromThrowable(t), Status.trailersFromThrowable(t));
        }
        return true;
    }

    @Override
    public GenerateResponse next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        GenerateResponse value = (GenerateResponse) next;
        next = null;
        return value;
    }

    /** Stops the request if it is still running (its client went away, or the reader gave up). */
    void cancel() {
        if (!ended) {
            ended = true;
            cancelRequest.run();
        }
    }

    private Object take() {
        try {
            Object o = queue.poll(deadlineNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (o == null) {
                cancel();
                return Status.DEADLINE_EXCEEDED.withDescription("no answer within the request's deadline").asRuntimeException();
            }
            return o;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cancel();
            return Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }
}
