package io.kvasir.kv.client;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

import com.google.protobuf.UnsafeByteOperations;

import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.kvasir.proto.kv.v1.GetResponse;
import io.kvasir.proto.kv.v1.Tier;

/**
 * Reads a {@code GetResponse} off the wire with one copy of the payload: straight from gRPC's
 * receive buffers into an array of exactly its size. The generated parser copies twice (stream to
 * a staging array, staging array to a fresh ByteString) and zeroes both, which cost more than the
 * socket itself at these sizes. The wire format is unchanged: this is the same protobuf message,
 * read by hand (fields 1 key, 2 found, 3 tier, 4 payload; unknown fields skipped).
 */
final class FetchedBlockMarshaller implements MethodDescriptor.Marshaller<FetchedBlockMarshaller.Fetched> {
    /** The client's channels take messages up to this size. */
    static final int MAX_MESSAGE_BYTES = 256 << 20;

    /** One streamed answer: {@code payload} is null when the block was not found. */
    record Fetched(byte[] key, boolean found, Tier tier, ByteBuffer payload) {
    }

    @Override
    public InputStream stream(Fetched value) {
        GetResponse.Builder b = GetResponse.newBuilder().setKey(UnsafeByteOperations.unsafeWrap(value.key()))
                .setFound(value.found()).setTier(value.tier());
        if (value.payload() != null) {
            b.setPayload(UnsafeByteOperations.unsafeWrap(value.payload().duplicate()));
        }
        return b.build().toByteString().newInput();
    }

    @Override
    public Fetched parse(InputStream in) {
        try {
            byte[] key = new byte[0];
            boolean found = false;
            int tier = 0;
            ByteBuffer payload = null;
            int tag;
            while ((tag = varint(in, true)) != -1) {
                int field = tag >>> 3;
                int wire = tag & 7;
                if (field == 1 && wire == 2) {
                    key = bytes(in, varint(in, false));
                } else if (field == 2 && wire == 0) {
                    found = varint(in, false) != 0;
                } else if (field == 3 && wire == 0) {
                    tier = varint(in, false);
                } else if (field == 4 && wire == 2) {
                    payload = ByteBuffer.wrap(bytes(in, varint(in, false)));
                } else {
                    skip(in, wire);
                }
            }
            Tier t = Tier.forNumber(tier);
            return new Fetched(key, found, t == null ? Tier.TIER_MISSING : t, found ? payload : null);
        } catch (IOException e) {
            throw new UncheckedIOException("malformed GetResponse from the store", e);
        }
    }

    /** A base-128 varint (protobuf); -1 at a clean end of stream when {@code eofOk}. */
    private static int varint(InputStream in, boolean eofOk) throws IOException {
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
     * A length-delimited field's bytes. gRPC hands a received (uncompressed) message over as a
     * stream that knows how many bytes it still holds ({@link KnownLength}), so a length that claims
     * more is refused before anything is allocated: a peer cannot make this process allocate
     * gigabytes with a few bytes. Any other stream is held to the largest message a channel takes.
     */
    private static byte[] bytes(InputStream in, int length) throws IOException {
        long holds = in instanceof KnownLength ? in.available() : MAX_MESSAGE_BYTES;
        if (length < 0 || length > holds) {
            throw new IOException("a field claims " + Integer.toUnsignedString(length) + " bytes; the message holds "
                    + holds + " more");
        }
        byte[] out = new byte[length];
        int off = 0;
        while (off < length) {
            int n = in.read(out, off, length - off);
            if (n < 0) {
                throw new EOFException("truncated field: " + off + " of " + length + " bytes");
            }
            off += n;
        }
        return out;
    }

    private static void skip(InputStream in, int wire) throws IOException {
        long n = switch (wire) {
            case 0 -> {
                varint(in, false);
                yield 0;
            }
            case 1 -> 8;
            case 2 -> varint(in, false);
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
