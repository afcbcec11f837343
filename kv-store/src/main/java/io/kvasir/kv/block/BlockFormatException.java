package io.kvasir.kv.block;

/** Bytes that are not a valid Kvasir KV block (bad framing, schema, sizes or checksum). */
public final class BlockFormatException extends Exception {
    public BlockFormatException(String message) {
        super(message);
    }

    public BlockFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
