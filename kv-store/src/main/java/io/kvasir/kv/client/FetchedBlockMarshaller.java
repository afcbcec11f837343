package io.kvasir.kv.client;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

import com.google.protobuf.UnsafeByteOperations;

import io.grpc.MethodDescriptor;
import io.kvasir.kv.block.WireReader;
import io.kvasir.proto.kv.v1.GetResponse;
import io.kvasir.proto.kv.v1.Tier;

/**
 * Reads a {@code GetResponse} off the wire with one copy of the payload ({@link WireReader}):
 * straight from gRPC's receive buffers into an array of exactly its size. The wire format is
 * unchanged: this is the same protobuf message, read by hand (fields 1 key, 2 found, 3 tier,
 * 4 payload; unknown fields skipped).
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
            while ((tag = WireReader.varint(in, true)) != -1) {
                int field = tag >>> 3;
                int wire = tag & 7;
                if (field == 1 && wire == WireReader.LENGTH_DELIMITED) {
                    key = WireReader.bytes(in, MAX_MESSAGE_BYTES);
                } else if (field == 2 && wire == WireReader.VARINT) {
                    found = WireReader.varint(in, false) != 0;
                } else if (field == 3 && wire == WireReader.VARINT) {
                    tier = WireReader.varint(in, false);
                } else if (field == 4 && wire == WireReader.LENGTH_DELIMITED) {
                    payload = ByteBuffer.wrap(WireReader.bytes(in, MAX_MESSAGE_BYTES));
                } else {
                    WireReader.skip(in, wire);
                }
            }
            Tier t = Tier.forNumber(tier);
            return new Fetched(key, found, t == null ? Tier.TIER_MISSING : t, found ? payload : null);
        } catch (IOException e) {
            throw new UncheckedIOException("malformed GetResponse from the store", e);
        }
    }
}
