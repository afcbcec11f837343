package io.kvasir.kv.client;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reading side of a member's shared-memory directory: whether this process sees it (the
 * member's token file holds the token the member advertises), and the blocks of an answer, as
 * read-only slices of the mapped file. The file is deleted as soon as it is mapped; the mapping,
 * and with it the memory, goes when the last slice is garbage.
 */
final class SharedMemoryReader {
    private final Map<String, Boolean> reachable = new ConcurrentHashMap<>();

    /** Whether the member advertising {@code attribute} ({@code <dir>|<token>}) shares this host's /dev/shm. */
    boolean reaches(String attribute) {
        if (attribute == null || attribute.isEmpty()) {
            return false;
        }
        return reachable.computeIfAbsent(attribute, a -> {
            int bar = a.lastIndexOf('|');
            try {
                return bar > 0 && Files.readString(Path.of(a.substring(0, bar), "token")).equals(a.substring(bar + 1));
            } catch (IOException | RuntimeException e) {
                return false; // another host, container or user: gRPC it is
            }
        });
    }

    /** Stops using this member's shared memory (it failed once): gRPC from now on. */
    void forget(String attribute) {
        reachable.put(attribute, false);
    }

    /** Maps {@code file} and deletes it; the whole file as one read-only segment. */
    static MemorySegment map(String file) throws IOException {
        Path path = Path.of(file);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), Arena.ofAuto());
        } finally {
            Files.deleteIfExists(path);
        }
    }

    static ByteBuffer slice(MemorySegment file, long offset, long length) {
        return file.asSlice(offset, length).asByteBuffer();
    }
}
