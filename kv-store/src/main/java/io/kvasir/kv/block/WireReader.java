package io.kvasir.kv.block;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

import io.grpc.KnownLength;

/**
 * Protobuf's wire format read by hand, for the messages that carry blocks: the generated parsers
 * copy a bytes field twice (stream to a staging array, staging array to a fresh ByteString) and
 * zero both, which cost more than the socket itself at block sizes. With these, a payload is
 * copied once, straight from gRPC's receive buffers to where it is kept.
 */
public final class WireReader {
    /** Wire type of a length-delimited field (strings, bytes, messages). */
    public static final int LENGTH_DELIMITED = 2;
    /** Wire type of a varint field. */
    public static final int VARINT = 0;

    private WireReader() {
    }

    /** A base-128 varint; -1 at a clean end of stream when {@code eofOk} (no more fields). */
    public static int varint(InputStream in, boolean eofOk) throws IOException {
        int result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = in.read();
            if (b < 0) {
                if (eofOk && shift == 0) {
                    return -1;
                }
                throw new EOFException("truncated varint");
            }
            if (shift < 32) {
                result |= (b & 0x7f) << shift;
            }
            if ((b & 0x80) == 0) {
                return result;
            }
        }
        throw new IOException("varint longer than 10 bytes");
    }

    /**
     * A length-delimited field's length, checked against what the stream still holds. gRPC hands a
     * received (uncompressed) message over as a stream that knows how many bytes it holds
     * ({@link KnownLength}), so a length that claims more is refused before anything is allocated:
     * a peer cannot make this process allocate gigabytes with a few bytes. Any other stream is held
     * to {@code maxMessageBytes}.
     */
    public static int length(InputStream in, int maxMessageBytes) throws IOException {
        int length = varint(in, false);
        long holds = in instanceof KnownLength ? in.available() : maxMessageBytes;
        if (length < 0 || length > holds) {
            throw new IOException("a field claims " + Integer.toUnsignedString(length) + " bytes; the message holds "
                    + holds + " more");
        }
        return length;
    }

    /** Reads exactly {@code length} bytes into {@code out} at {@code offset}. */
    public static void readFully(InputStream in, byte[] out, int offset, int length) throws IOException {
        int read = 0;
        while (read < length) {
            int n = in.read(out, offset + read, length - read);
            if (n < 0) {
                throw new EOFException("truncated field: " + read + " of " + length + " bytes");
            }
            read += n;
        }
    }

    /** A length-delimited field's bytes, its length read first. */
    public static byte[] bytes(InputStream in, int maxMessageBytes) throws IOException {
        byte[] out = new byte[length(in, maxMessageBytes)];
        readFully(in, out, 0, out.length);
        return out;
    }

    /** Skips a field of wire type {@code wire} (its tag already read). */
    public static void skip(InputStream in, int wire) throws IOException {
        long n = switch (wire) {
            case VARINT -> {
                varint(in, false);
                yield 0;
            }
            case 1 -> 8;
            case LENGTH_DELIMITED -> varint(in, false);
            case 5 -> 4;
            default -> throw new IOException("unknown wire type " + wire);
        };
        while (n > 0) {
            long skipped = in.skip(n);
            if (skipped <= 0) {
                throw new EOFException("truncated unknown field");
            }
            n -= skipped;
        }
    }
}
