package io.kvasir.kv.store;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

import io.kvasir.kv.block.BlockKey;

/**
 * A member's recent blocks in shared memory (a file on /dev/shm, mapped once by the member and once
 * by each reader on its host) with an index beside them, so a reader on the same host finds a block
 * and copies it out without asking the member anything: no round trip, one memory copy.
 *
 * <p>Why no round trip: on this 2-core machine a loopback gRPC call costs 0.6-2 ms even for a
 * health check (thread hand-offs, not bytes), and a get of 32 blocks needs one per member; the copy
 * of those 16 MiB takes 3-4 ms. Why a ring and not a file per answer: writing each answer into fresh
 * tmpfs pages and mapping it anew costs a page fault per 4 KiB on both sides (measured: 0.3-0.8 GB/s
 * for the whole get); here every page is faulted in once, when the arena is created and mapped.
 *
 * <p>Layout: a 4 KiB header; an index of 64-byte slots; a ring of {@code capacity} bytes. Blocks are
 * written one after another at growing <em>log positions</em> (position p lies at ring offset p mod
 * capacity; a block never wraps), the oldest overwritten first. Before writing bytes up to position
 * e, the writer publishes e in the header ({@code reclaimed}); a block at position p is intact while
 * {@code reclaimed <= p + capacity}, and a reader checks that after its copy (a sequence lock over
 * the log). The index is open addressing keyed by the block key's first bytes (a SHA-256: uniform),
 * each slot under its own sequence number (odd while the member rewrites it); a slot whose block was
 * overwritten is simply reused, so slots are never emptied and probe chains never break. Whatever a
 * reader cannot find or validate it asks the member for (GetShared, then gRPC): the arena may lose
 * speed, never correctness.
 *
 * <p>It is a cache beside the host tier, not a tier: the blocks stay in the Hazelcast map too
 * (backups, eviction, quotas are all there). Readers are processes of the same user on the same host
 * (they must read the member's token file), who could read the member's memory anyway; each entry
 * carries a hash of its tenant, and a lookup answers only the asking tenant's blocks.
 */
public final class SharedArena implements AutoCloseable {
    /** Member attribute: {@code <directory>|<token>}; the arena is {@link #FILE_NAME} in that directory. */
    static final String ATTRIBUTE = "kvasir.shm";
    public static final String FILE_NAME = "blocks.arena";
    private static final long MIN_BYTES = 1L << 20;
    private static final long READERS_WINDOW_NANOS = 600_000_000_000L; // 10 minutes
    private static final long MAGIC = 0x4b56415352454e41L; // "KVASRENA"
    // header longs
    private static final long RECLAIMED = 8;
    private static final long SLOTS = 16;
    private static final long RING = 24;
    private static final long CAPACITY = 32;
    private static final long HEADER = 4096;
    // index slot: sequence, key (32 bytes), position, length, tenant hash
    private static final long SLOT_BYTES = 64;
    private static final long S_KEY = 8;
    private static final long S_POSITION = 40;
    private static final long S_LENGTH = 48;
    private static final long S_TENANT = 56;
    /** Slots a lookup or insert probes; a block beyond them is not indexed (readers ask the member). */
    private static final int PROBES = 32;
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();
    private static final Path SHM = Path.of("/dev/shm");
    private static final String PREFIX = "kvasir-kv-";
    private static final Logger LOG = Logger.getLogger(SharedArena.class.getName());

    /** Where one block lies. */
    record Slot(long position, int length) {
    }

    private final Path dir;
    private final String token;
    private final Path file;
    private final Arena mapping = Arena.ofShared();
    private final MemorySegment memory;
    private final long slots;
    private final long ring;
    private final long capacity;
    /** Next free log position. Guarded by this. */
    private long head;
    /** When a reader on this host last asked (see {@link #readersNearby}); long ago at first. */
    private volatile long lastReader = System.nanoTime() - READERS_WINDOW_NANOS;

    private SharedArena(Path dir, String token, Path file, long slots, long ring, long capacity) throws IOException {
        this.dir = dir;
        this.token = token;
        this.file = file;
        this.slots = slots;
        this.ring = ring;
        this.capacity = capacity;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            memory = ch.map(FileChannel.MapMode.READ_WRITE, 0, ring + capacity, mapping);
        }
        memory.set(ValueLayout.JAVA_LONG, SLOTS, slots);
        memory.set(ValueLayout.JAVA_LONG, RING, ring);
        memory.set(ValueLayout.JAVA_LONG, CAPACITY, capacity);
        LONG.setVolatile(memory, RECLAIMED, 0L);
        LONG.setVolatile(memory, 0L, MAGIC); // last: a reader trusts the header only with the magic in place
    }

    /**
     * An arena of up to {@code wanted} bytes in a new directory on /dev/shm, or null where there is
     * none or it has too little room (then the member serves gRPC only). Takes at most half the free
     * tmpfs (a container's /dev/shm is often 64 MiB), and writes every page once now, through the
     * file: a full tmpfs then fails here with an error, never later with a fault in a mapped write.
     */
    static SharedArena create(long wanted) {
        if (!Files.isDirectory(SHM) || !Files.isWritable(SHM)) {
            return null;
        }
        sweepDeadMembers();
        Path dir = null;
        try {
            long capacity = Math.min(wanted, Files.getFileStore(SHM).getUsableSpace() / 2);
            if (capacity < MIN_BYTES) {
                return null;
            }
            // a slot per 4 KiB of ring: blocks are larger, so the index stays sparse and probes short
            long slots = Long.highestOneBit(capacity / 4096);
            long ring = HEADER + (slots * SLOT_BYTES + 4095) / 4096 * 4096;
            dir = Files.createTempDirectory(SHM, PREFIX + ProcessHandle.current().pid() + "-");
            byte[] nonce = new byte[16];
            new SecureRandom().nextBytes(nonce);
            String token = HexFormat.of().formatHex(nonce);
            Files.writeString(dir.resolve("token"), token);
            Path file = dir.resolve(FILE_NAME);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
                for (long written = 0; written < ring + capacity; ) {
                    zeros.clear().limit((int) Math.min(zeros.capacity(), ring + capacity - written));
                    written += ch.write(zeros);
                }
            }
            return new SharedArena(dir, token, file, slots, ring, capacity);
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.INFO, "no shared-memory reads (cannot set up an arena on /dev/shm): " + e.getMessage());
            delete(dir);
            return null;
        }
    }

    String attribute() {
        return dir + "|" + token;
    }

    Path file() {
        return file;
    }

    long capacity() {
        return capacity;
    }

    /** A reader on this host asked for blocks (GetShared): it maps this arena. */
    void readerSeen() {
        lastReader = System.nanoTime();
    }

    /**
     * Whether a reader on this host asked within the last {@link #READERS_WINDOW_NANOS}. Puts copy
     * their blocks in only then: between hosts (Kubernetes pods on other nodes) no reader ever maps
     * the arena, and the copy was a tenth of a put's CPU.
     */
    boolean readersNearby() {
        return System.nanoTime() - lastReader < READERS_WINDOW_NANOS;
    }

    /** Where the tenant's block lies, or null when it is not here or in the oldest quarter of the ring. */
    Slot find(BlockKey key, String tenant) {
        long[] found = lookup(memory, key.toBytes(), tenantHash(tenant));
        // a block about to be overwritten may be lost while the reader copies it: write it anew
        return found != null && reclaimed(memory) <= found[0] + capacity - capacity / 4
                ? new Slot(found[0], (int) found[1]) : null;
    }

    /** Copies a block into the ring and indexes it; null when it is too large (over a quarter of the ring). */
    Slot add(BlockKey key, String tenant, byte[] payload) {
        return add(key, tenant, ByteBuffer.wrap(payload));
    }

    /** {@link #add(BlockKey, String, byte[])} from a buffer's remaining bytes. */
    Slot add(BlockKey key, String tenant, ByteBuffer payload) {
        int length = payload.remaining();
        if (length > capacity / 4) {
            return null;
        }
        long start;
        synchronized (this) {
            start = head;
            if (start % capacity + length > capacity) {
                start = (start / capacity + 1) * capacity; // blocks never wrap: skip the ring's tail
            }
            head = start + length;
            LONG.setVolatile(memory, RECLAIMED, head);
            VarHandle.fullFence(); // readers must see the new mark before any byte of the new block
        }
        MemorySegment.copy(MemorySegment.ofBuffer(payload), 0, memory, ring + start % capacity, length);
        if (reclaimed(memory) > start + capacity) {
            return null; // lapped while copying (a tiny ring, a huge burst): never index it
        }
        index(key.toBytes(), start, length, tenantHash(tenant));
        return new Slot(start, length);
    }

    /** Writes the index entry, in the key's probe window: its own old slot, an unused one, or one whose block is gone. */
    private synchronized void index(byte[] key, long position, int length, long tenant) {
        long reclaimed = reclaimed(memory);
        long home = homeSlot(key, slots);
        for (int probe = 0; probe < PROBES; probe++) {
            long at = slotAt(home, probe, slots);
            long seq = memory.get(ValueLayout.JAVA_LONG, at);
            boolean reusable = seq == 0 || sameKey(memory, at, key)
                    || memory.get(ValueLayout.JAVA_LONG, at + S_POSITION) + capacity < reclaimed;
            if (reusable) {
                LONG.setVolatile(memory, at, seq + 1); // odd: being rewritten
                VarHandle.storeStoreFence();
                MemorySegment.copy(key, 0, memory, ValueLayout.JAVA_BYTE, at + S_KEY, key.length);
                memory.set(ValueLayout.JAVA_LONG, at + S_POSITION, position);
                memory.set(ValueLayout.JAVA_LONG, at + S_LENGTH, length);
                memory.set(ValueLayout.JAVA_LONG, at + S_TENANT, tenant);
                LONG.setRelease(memory, at, seq + 2);
                return;
            }
        }
        // the window is full of live blocks: this one is read through the member instead
    }

    /**
     * The reader's side: a copy of the block of the tenant with {@link #tenantHash} {@code tenantHash}
     * out of {@code arena} (the whole arena file, mapped by the reader), or null when it is not there or was overwritten before or during the copy.
     */
    public static ByteBuffer read(MemorySegment arena, BlockKey key, long tenantHash) {
        if (!wellFormed(arena)) {
            return null;
        }
        long[] found = lookup(arena, key.toBytes(), tenantHash);
        return found == null ? null : copyFromRing(arena, found[0], found[1]);
    }

    /** A copy of the block at {@code position} (from the member's answer), or null when overwritten. */
    public static ByteBuffer copyOut(MemorySegment arena, long position, long length) {
        return wellFormed(arena) ? copyFromRing(arena, position, length) : null;
    }

    /** {@link #copyOut} of an arena whose header {@link #wellFormed} accepted. */
    private static ByteBuffer copyFromRing(MemorySegment arena, long position, long length) {
        long capacity = arena.get(ValueLayout.JAVA_LONG, CAPACITY);
        // the position comes from the member's answer: one that is not a block's place in the ring
        // (negative, or running past the ring's end, where no block lies) is a miss, never a read
        // outside the ring
        if (length <= 0 || length > capacity || length > Integer.MAX_VALUE - 8 || position < 0 || position % capacity + length > capacity
                || reclaimed(arena) > position + capacity) {
            return null;
        }
        byte[] copy = new byte[(int) length];
        MemorySegment.copy(arena, ValueLayout.JAVA_BYTE, ring(arena) + position % capacity, copy, 0, (int) length);
        VarHandle.loadLoadFence(); // the copy's reads happen before the check below
        return reclaimed(arena) <= position + capacity ? ByteBuffer.wrap(copy) : null;
    }

    /**
     * Whether the header describes an arena that fits its mapping: a reader trusts no field it has
     * not checked (a member that died mid-setup, a flipped bit), and an arena that fails is a miss.
     */
    private static boolean wellFormed(MemorySegment arena) {
        if (arena.byteSize() < HEADER || (long) LONG.getVolatile(arena, 0L) != MAGIC) {
            return false;
        }
        long slots = arena.get(ValueLayout.JAVA_LONG, SLOTS);
        long ring = ring(arena);
        long capacity = arena.get(ValueLayout.JAVA_LONG, CAPACITY);
        return slots > 0 && Long.bitCount(slots) == 1 && slots <= (arena.byteSize() - HEADER) / SLOT_BYTES
                && ring >= HEADER + slots * SLOT_BYTES && capacity > 0 && ring <= arena.byteSize() - capacity;
    }

    /** {position, length} of the tenant's live entry for {@code key}, or null. */
    private static long[] lookup(MemorySegment arena, byte[] key, long tenant) {
        long slots = arena.get(ValueLayout.JAVA_LONG, SLOTS);
        long capacity = arena.get(ValueLayout.JAVA_LONG, CAPACITY);
        long home = homeSlot(key, slots);
        for (int probe = 0; probe < PROBES; probe++) {
            long at = slotAt(home, probe, slots);
            for (int attempt = 0; attempt < 100; attempt++) {
                long seq = (long) LONG.getAcquire(arena, at);
                if (seq == 0) {
                    return null; // an unused slot ends the chain
                }
                if ((seq & 1) != 0) {
                    Thread.onSpinWait();
                    continue;
                }
                boolean match = sameKey(arena, at, key);
                long position = arena.get(ValueLayout.JAVA_LONG, at + S_POSITION);
                long length = arena.get(ValueLayout.JAVA_LONG, at + S_LENGTH);
                long owner = arena.get(ValueLayout.JAVA_LONG, at + S_TENANT);
                VarHandle.loadLoadFence();
                if ((long) LONG.getVolatile(arena, at) != seq) {
                    continue; // rewritten while read: read it again
                }
                if (match && owner == tenant && reclaimed(arena) <= position + capacity) {
                    return new long[] {position, length};
                }
                break; // another key (or an overwritten copy of this one): next slot
            }
        }
        return null;
    }

    private static long slotAt(long home, int probe, long slots) {
        return HEADER + ((home + probe) & (slots - 1)) * SLOT_BYTES;
    }

    private static boolean sameKey(MemorySegment arena, long at, byte[] key) {
        MemorySegment wanted = MemorySegment.ofArray(key);
        for (int i = 0; i < key.length; i += 8) {
            if (arena.get(ValueLayout.JAVA_LONG_UNALIGNED, at + S_KEY + i)
                    != wanted.get(ValueLayout.JAVA_LONG_UNALIGNED, i)) {
                return false;
            }
        }
        return true;
    }

    private static long homeSlot(byte[] key, long slots) {
        return MemorySegment.ofArray(key).get(ValueLayout.JAVA_LONG_UNALIGNED, 0) & (slots - 1);
    }

    /** 64 bits of the tenant name's SHA-256: entries name their tenant without holding its name. */
    public static long tenantHash(String tenant) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(tenant.getBytes(StandardCharsets.UTF_8));
            return MemorySegment.ofArray(digest).get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e);
        }
    }

    private static long reclaimed(MemorySegment arena) {
        return (long) LONG.getVolatile(arena, RECLAIMED);
    }

    private static long ring(MemorySegment arena) {
        return arena.get(ValueLayout.JAVA_LONG, RING);
    }

    @Override
    public void close() {
        delete(dir);
        try {
            mapping.close(); // readers keep their own mappings: the pages go when the last one unmaps
        } catch (IllegalStateException e) {
            LOG.log(Level.FINE, "arena still in use at close; its mapping goes with the process", e);
        }
    }

    /** Removes the directories of members whose process is gone (a crash leaves its arena behind). */
    private static void sweepDeadMembers() {
        try (Stream<Path> dirs = Files.list(SHM)) {
            for (Path d : dirs.filter(p -> p.getFileName().toString().startsWith(PREFIX)).toList()) {
                String[] parts = d.getFileName().toString().substring(PREFIX.length()).split("-", 2);
                try {
                    long pid = Long.parseLong(parts[0]);
                    if (ProcessHandle.of(pid).isEmpty() && Files.isWritable(d)) {
                        delete(d);
                    }
                } catch (NumberFormatException e) {
                    // not one of ours
                }
            }
        } catch (IOException e) {
            LOG.log(Level.FINE, "sweeping " + SHM + " failed", e);
        }
    }

    private static void delete(Path dir) {
        if (dir == null) {
            return;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            LOG.log(Level.FINE, "cleaning " + dir + " failed", e);
        }
    }
}
