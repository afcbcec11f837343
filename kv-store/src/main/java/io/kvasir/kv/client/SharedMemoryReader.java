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

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.SharedArena;

/**
 * The reading side of members' shared-memory arenas: whether this process sees a member's arena
 * (the member's token file holds the token the member advertises), one read-only mapping per arena
 * for the client's life, and copies of blocks out of it.
 */
final class SharedMemoryReader implements AutoCloseable {
    private final Map<String, Boolean> reachable = new ConcurrentHashMap<>();
    private final Map<String, MemorySegment> mappings = new ConcurrentHashMap<>();
    private final Arena arena = Arena.ofShared();

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

    /** The arena file of the member advertising {@code attribute}. */
    static String arenaFile(String attribute) {
        return Path.of(attribute.substring(0, attribute.lastIndexOf('|')), SharedArena.FILE_NAME).toString();
    }

    /** A copy of the block (of the tenant with this {@code SharedArena.tenantHash}) found through the arena's own index; null when not there (or overwritten). */
    ByteBuffer find(String file, BlockKey key, long tenantHash) throws IOException {
        return SharedArena.read(mapping(file), key, tenantHash);
    }

    /** A copy of the block at {@code position} of the arena {@code file}; null when it was overwritten. */
    ByteBuffer read(String file, long position, long length) throws IOException {
        return SharedArena.copyOut(mapping(file), position, length);
    }

    private MemorySegment mapping(String file) throws IOException {
        MemorySegment mapped = mappings.get(file);
        if (mapped != null) {
            return mapped;
        }
        synchronized (this) {
            mapped = mappings.get(file);
            if (mapped == null) {
                try (FileChannel ch = FileChannel.open(Path.of(file), StandardOpenOption.READ)) {
                    mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
                }
                mapped.load(); // fault every page in now, not one per 4 KiB inside a get
                mappings.put(file, mapped);
            }
            return mapped;
        }
    }

    @Override
    public void close() {
        mappings.clear();
        try {
            arena.close();
        } catch (IllegalStateException e) {
            // a get still copying: the mappings go with the process
        }
    }
}
