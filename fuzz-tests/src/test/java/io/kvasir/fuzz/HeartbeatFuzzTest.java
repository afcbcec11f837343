package io.kvasir.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;

import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.proto.kv.v1.NodeStatus;

/**
 * A decode node's heartbeat as a member's {@code Announce} receives it (the internal API's widest
 * message): any bytes fail to parse (INVALID_ARGUMENT), are refused with an
 * {@link IllegalArgumentException} naming the field, or become a heartbeat that says on the wire
 * exactly what it was given; nothing else escapes.
 */
class HeartbeatFuzzTest {
    @FuzzTest(maxExecutions = 10_000)
    void heartbeatsAreKeptAsSentOrRefused(byte[] bytes) {
        NodeStatus status;
        try {
            status = NodeStatus.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            return;
        }
        NodeHeartbeat heartbeat;
        try {
            heartbeat = NodeHeartbeat.fromProto(status);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that names nothing", e);
            }
            return;
        }
        // fields this build does not know are dropped, as protobuf readers do
        NodeStatus known = status.toBuilder().setUnknownFields(UnknownFieldSet.getDefaultInstance()).build();
        if (!heartbeat.toProto().equals(known)) {
            throw new AssertionError("a heartbeat kept is not the one sent: " + status);
        }
    }
}
