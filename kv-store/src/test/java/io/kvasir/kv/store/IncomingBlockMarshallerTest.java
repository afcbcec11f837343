package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.kvasir.proto.kv.v1.PutRequest;

/** Put requests read by hand: the payload lands at the end of the framer's array, as the generated parser reads it. */
class IncomingBlockMarshallerTest {
    /** A stand-in for the block's serialized form: the tenant's bytes, then the payload. */
    private static final IncomingBlockMarshaller MARSHALLER = new IncomingBlockMarshaller((tenant, n) ->
            Arrays.copyOf(tenant.getBytes(StandardCharsets.UTF_8), tenant.length() + n), 1 << 20);

    @Test
    void aGeneratedRequestIsReadIntoTheFramedArray() throws IOException {
        byte[] payload = new byte[70_000];
        new SplittableRandom(3).nextBytes(payload);
        PutRequest request = PutRequest.newBuilder().setTenant("alpha").setKey(ByteString.copyFrom(new byte[32]))
                .setPayload(ByteString.copyFrom(payload)).build();
        IncomingBlockMarshaller.IncomingBlock block = MARSHALLER.parse(request.toByteString().newInput());
        assertTrue(block.framed());
        assertEquals("alpha", block.tenant());
        assertEquals(request.getKey(), block.key());
        assertArrayEquals("alpha".getBytes(StandardCharsets.UTF_8), Arrays.copyOf(block.bytes(), 5));
        assertEquals(ByteBuffer.wrap(payload), block.payload());
        assertEquals(request, PutRequest.parseFrom(ByteString.readFrom(MARSHALLER.stream(block))),
                "written back, the same message");
    }

    @Test
    void aPayloadBeforeItsTenantIsReadUnframed() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        out.writeBytes(3, ByteString.copyFrom(new byte[] {1, 2, 3}));
        out.writeString(1, "alpha");
        out.writeBytes(2, ByteString.copyFrom(new byte[32]));
        out.writeInt32(9, 42); // a field this reader does not know is skipped
        out.flush();
        IncomingBlockMarshaller.IncomingBlock block = MARSHALLER.parse(ByteString.copyFrom(bytes.toByteArray()).newInput());
        assertFalse(block.framed(), "framed for no tenant: the store frames it itself");
        assertEquals("alpha", block.tenant());
        assertEquals(ByteBuffer.wrap(new byte[] {1, 2, 3}), block.payload());
    }

    @Test
    void truncatedOrOverclaimingRequestsAreInvalidArguments() {
        byte[] whole = PutRequest.newBuilder().setTenant("alpha").setPayload(ByteString.copyFrom(new byte[1000]))
                .build().toByteArray();
        StatusRuntimeException cut = assertThrows(StatusRuntimeException.class,
                () -> MARSHALLER.parse(ByteString.copyFrom(whole, 0, whole.length - 10).newInput()));
        assertEquals(Status.Code.INVALID_ARGUMENT, cut.getStatus().getCode());
        // field 3 claims 2^28 bytes; the message holds 2
        byte[] claim = {0x1a, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x01, 0, 0};
        StatusRuntimeException over = assertThrows(StatusRuntimeException.class,
                () -> MARSHALLER.parse(ByteString.copyFrom(claim).newInput()));
        assertTrue(over.getStatus().getDescription().contains("claims 268435456 bytes"), over.getMessage());
    }
}
