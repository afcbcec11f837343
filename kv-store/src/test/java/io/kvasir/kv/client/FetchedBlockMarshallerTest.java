package io.kvasir.kv.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

import com.google.protobuf.ByteString;

import io.kvasir.proto.kv.v1.GetResponse;
import io.kvasir.proto.kv.v1.Tier;

/** The hand-written reader of the store's Get answers: the generated message's bytes, and nothing a peer can abuse. */
class FetchedBlockMarshallerTest {
    private final FetchedBlockMarshaller marshaller = new FetchedBlockMarshaller();

    @Test
    void readsWhatTheGeneratedCodeWrites() {
        byte[] key = new byte[32];
        key[7] = 9;
        byte[] payload = "a block's bytes".getBytes();
        GetResponse sent = GetResponse.newBuilder().setKey(ByteString.copyFrom(key)).setFound(true)
                .setTier(Tier.TIER_SSD).setPayload(ByteString.copyFrom(payload)).build();
        var got = marshaller.parse(new ByteArrayInputStream(sent.toByteArray()));
        assertArrayEquals(key, got.key());
        assertEquals(Tier.TIER_SSD, got.tier());
        assertEquals(ByteBuffer.wrap(payload), got.payload());
    }

    @Test
    void aLengthBeyondTheMessageIsRefusedWithoutAllocatingIt() {
        // field 4 (payload), wire type 2, length 2^31 - 1 as a varint, then ten bytes
        byte[] forged = {0x22, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        var e = assertThrows(UncheckedIOException.class, () -> marshaller.parse(new Received(forged)));
        assertTrue(e.getCause().getMessage().contains("claims 2147483647 bytes; the message holds 10 more"),
                e.getCause().getMessage());
        e = assertThrows(UncheckedIOException.class, () -> marshaller.parse(new ByteArrayInputStream(forged)));
        assertTrue(e.getCause().getMessage().contains("claims 2147483647 bytes"), e.getCause().getMessage());
    }

    /** A message as gRPC hands it over: a stream that knows its length. */
    private static final class Received extends ByteArrayInputStream implements io.grpc.KnownLength {
        Received(byte[] bytes) {
            super(bytes);
        }
    }
}
