package io.kvasir.kv.store;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.kvasir.kv.block.WireReader;
import io.kvasir.proto.kv.v1.PutRequest;

/**
 * Reads a {@code PutRequest} off the wire with one copy of the payload ({@link WireReader}),
 * straight into the array the host tier keeps: the block's serialized form (Hazelcast's header for
 * the tenant, then the payload, see {@link StoredBlock#framed}), so a member stores what gRPC
 * received without copying it again. The wire format is unchanged: fields 1 tenant, 2 key,
 * 3 payload, which protobuf writes in that order; a payload that comes before its tenant is read
 * as it is, and the store frames it (one copy more).
 */
final class IncomingBlockMarshaller implements MethodDescriptor.Marshaller<IncomingBlockMarshaller.IncomingBlock> {
    /** An array for a block's serialized form with room for {@code payloadLength} bytes at its end. */
    interface Framer {
        byte[] frame(String tenant, int payloadLength);
    }

    /**
     * One block to put: its payload is the last {@code payloadLength} bytes of {@code bytes}, which
     * are the block's serialized form for {@code tenant} when {@code framed}.
     */
    record IncomingBlock(String tenant, ByteString key, byte[] bytes, int payloadLength, boolean framed) {
        ByteBuffer payload() {
            return ByteBuffer.wrap(bytes, bytes.length - payloadLength, payloadLength).slice();
        }
    }

    private final Framer framer;
    private final int maxMessageBytes;

    IncomingBlockMarshaller(Framer framer, int maxMessageBytes) {
        this.framer = framer;
        this.maxMessageBytes = maxMessageBytes;
    }

    @Override
    public InputStream stream(IncomingBlock block) {
        return PutRequest.newBuilder().setTenant(block.tenant()).setKey(block.key())
                .setPayload(UnsafeByteOperations.unsafeWrap(block.payload())).build().toByteString().newInput();
    }

    @Override
    public IncomingBlock parse(InputStream in) {
        try {
            String tenant = "";
            ByteString key = ByteString.EMPTY;
            byte[] bytes = new byte[0];
            int payloadLength = 0;
            String framedFor = null;
            int tag;
            while ((tag = WireReader.varint(in, true)) != -1) {
                int field = tag >>> 3;
                int wire = tag & 7;
                if (field == 1 && wire == WireReader.LENGTH_DELIMITED) {
                    tenant = new String(WireReader.bytes(in, maxMessageBytes), StandardCharsets.UTF_8);
                } else if (field == 2 && wire == WireReader.LENGTH_DELIMITED) {
                    key = UnsafeByteOperations.unsafeWrap(WireReader.bytes(in, maxMessageBytes));
                } else if (field == 3 && wire == WireReader.LENGTH_DELIMITED) {
                    payloadLength = WireReader.length(in, maxMessageBytes);
                    bytes = framer.frame(tenant, payloadLength);
                    framedFor = tenant;
                    WireReader.readFully(in, bytes, bytes.length - payloadLength, payloadLength);
                } else {
                    WireReader.skip(in, wire);
                }
            }
            return new IncomingBlock(tenant, key, bytes, payloadLength, tenant.equals(framedFor));
        } catch (IOException e) {
            throw Status.INVALID_ARGUMENT.withDescription("malformed PutRequest: " + e.getMessage()).withCause(e)
                    .asRuntimeException();
        }
    }
}
