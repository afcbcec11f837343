package io.kvasir.kv.client;

import io.grpc.Status;

/** A store call that failed on every member it was tried on, or was refused (bad input, quota). */
public final class KvStoreException extends Exception {
    private final Status.Code code;

    public KvStoreException(Status status, String what) {
        super(what + ": " + status.getCode() + (status.getDescription() == null ? "" : " " + status.getDescription()),
                status.getCause());
        this.code = status.getCode();
    }

    public Status.Code code() {
        return code;
    }
}
