package io.kvasir.kv.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;

/**
 * The SSD tier of one member: one file per block, holding exactly the block's Arrow IPC bytes, named
 * {@code <key hex>.<tenant hex>.arrow} under a two-hex-digit fan-out directory. A tenant whose hex
 * name would make the file's name too long for file systems (255 bytes) is named by
 * {@code h<SHA-256 of its name, hex>} instead, its name kept once in {@code tenants/<that hash>}. Bounded by a byte
 * budget, least recently used out first. A file whose block fails to decode (bad checksum,
 * truncated) is a miss and is deleted. Reopening a directory rebuilds the tier from its files,
 * oldest modification first.
 *
 * <p>Writes go to a temporary file and are renamed into place, so a crash never leaves a partial
 * block under a real name; a failed write removes its temporary file, and a rebuild sweeps those a
 * crash left.
 */
final class SsdTier {
    private static final Logger LOG = Logger.getLogger(SsdTier.class.getName());
    private static final String SUFFIX = ".arrow";
    private static final String TEMPORARY = ".tmp";
    /**
     * The longest tenant part of a file name: 255 bytes less the key's 64 hex digits, the dot, the
     * suffix, and what a temporary file adds (".tmp" and a thread id of up to 19 digits).
     */
    private static final int MAX_TENANT_PART = 255 - 2 * BlockKey.BYTES - 1 - SUFFIX.length() - TEMPORARY.length() - 19;
    private static final String TENANTS = "tenants";

    /** Told about every block that leaves the tier (budget, corruption), so the index can forget it. */
    public interface RemovalListener {
        void removed(BlockKey key, String tenant, long bytes);
    }

    public record Entry(BlockKey key, String tenant, long bytes) {
    }

    public record Hit(String tenant, byte[] payload) {
    }

    private final Path dir;
    private final long budgetBytes;
    private final RemovalListener listener;
    /** Access-ordered: iteration starts at the least recently used block. */
    private final LinkedHashMap<BlockKey, Entry> entries = new LinkedHashMap<>(1024, 0.75f, true);
    private long usedBytes;

    public SsdTier(Path dir, long budgetBytes, RemovalListener listener) {
        if (budgetBytes <= 0) {
            throw new IllegalArgumentException("SSD budget must be positive, got " + budgetBytes);
        }
        this.dir = dir;
        this.budgetBytes = budgetBytes;
        this.listener = listener;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create SSD tier directory " + dir, e);
        }
    }

    /** Indexes the files already in the directory (oldest first); returns what it found. */
    public synchronized List<Entry> rebuild() {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir, 2)) {
            List<Path> all = walk.filter(Files::isRegularFile).toList();
            all.stream().filter(p -> p.getFileName().toString().contains(TEMPORARY))
                    .forEach(SsdTier::delete); // a write a crash cut short
            files = all.stream().filter(p -> p.getFileName().toString().endsWith(SUFFIX)).sorted(Comparator.comparing(
                    SsdTier::modified)).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot scan SSD tier directory " + dir, e);
        }
        List<Entry> found = new ArrayList<>();
        for (Path file : files) {
            Entry entry = parse(file);
            if (entry == null) {
                LOG.warning("ignoring unexpected file in SSD tier: " + file);
                continue;
            }
            entries.put(entry.key(), entry);
            usedBytes += entry.bytes();
            found.add(entry);
        }
        List<Entry> evicted = takeOverBudget();
        found.removeAll(evicted);
        evicted.forEach(this::deleteAndTell);
        return found;
    }

    /** Writes a block (no-op if present); may evict older blocks to stay within the budget. */
    public void write(BlockKey key, String tenant, byte[] payload) throws IOException {
        synchronized (this) {
            if (entries.containsKey(key)) {
                return;
            }
        }
        Path file = fileOf(key, tenant);
        Files.createDirectories(file.getParent());
        String part = tenantPart(tenant);
        if (part.startsWith("h")) {
            Path name = dir.resolve(TENANTS).resolve(part.substring(1));
            if (!Files.exists(name)) {
                Files.createDirectories(name.getParent());
                writeAtomically(name, tenant.getBytes(StandardCharsets.UTF_8));
            }
        }
        writeAtomically(file, payload);
        List<Entry> evicted;
        synchronized (this) {
            if (entries.put(key, new Entry(key, tenant, payload.length)) == null) {
                usedBytes += payload.length;
            }
            evicted = takeOverBudget();
        }
        evicted.forEach(this::deleteAndTell); // outside the lock: the listener talks to the cluster
    }

    /** Writes {@code bytes} to a temporary file renamed into place; a failure leaves neither behind. */
    private static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + TEMPORARY + Thread.currentThread().threadId());
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException e) {
            delete(tmp);
            throw e;
        }
    }

    /** Reads and verifies a block; a missing or corrupt file is empty (and a corrupt one is deleted). */
    public Optional<Hit> read(BlockKey key) {
        Entry entry;
        synchronized (this) {
            entry = entries.get(key); // marks it recently used
        }
        if (entry == null) {
            return Optional.empty();
        }
        Path file = fileOf(key, entry.tenant());
        byte[] payload;
        try {
            payload = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            drop(entry, "file vanished");
            return Optional.empty();
        } catch (IOException e) {
            drop(entry, "unreadable: " + e.getMessage());
            return Optional.empty();
        }
        try {
            BlockCodec.decode(ByteBuffer.wrap(payload));
        } catch (BlockFormatException e) {
            drop(entry, e.getMessage());
            return Optional.empty();
        }
        return Optional.of(new Hit(entry.tenant(), payload));
    }

    public synchronized boolean contains(BlockKey key) {
        return entries.containsKey(key);
    }

    public synchronized long usedBytes() {
        return usedBytes;
    }

    public synchronized int blocks() {
        return entries.size();
    }

    /** Path of a block's file (tests corrupt it on purpose). */
    public Path fileOf(BlockKey key, String tenant) {
        String hex = key.hex();
        return dir.resolve(hex.substring(0, 2)).resolve(hex + "." + tenantPart(tenant) + SUFFIX);
    }

    /** The tenant's part of a file name: its name in hex, or {@code h} and a hash of it when that is too long. */
    private static String tenantPart(String tenant) {
        byte[] name = tenant.getBytes(StandardCharsets.UTF_8);
        String hex = HexFormat.of().formatHex(name);
        if (hex.length() <= MAX_TENANT_PART) {
            return hex; // hex digits only: a part that starts with "h" is always a hash
        }
        try {
            return "h" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(name));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private void drop(Entry entry, String why) {
        LOG.warning("SSD tier: dropping block " + entry.key().hex() + " (" + why + ")");
        boolean removed;
        synchronized (this) {
            removed = entries.remove(entry.key(), entry);
            if (removed) {
                usedBytes -= entry.bytes();
            }
        }
        delete(fileOf(entry.key(), entry.tenant()));
        if (removed) {
            listener.removed(entry.key(), entry.tenant(), entry.bytes());
        }
    }

    /** Unlinks least recently used entries until within budget; the caller deletes their files. */
    private List<Entry> takeOverBudget() {
        List<Entry> evicted = new ArrayList<>();
        Iterator<Map.Entry<BlockKey, Entry>> it = entries.entrySet().iterator();
        while (usedBytes > budgetBytes && it.hasNext()) {
            Entry e = it.next().getValue();
            it.remove();
            usedBytes -= e.bytes();
            evicted.add(e);
        }
        return evicted;
    }

    private void deleteAndTell(Entry e) {
        delete(fileOf(e.key(), e.tenant()));
        listener.removed(e.key(), e.tenant(), e.bytes());
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot delete " + file, e);
        }
    }

    private Entry parse(Path file) {
        String name = file.getFileName().toString();
        String[] parts = name.substring(0, name.length() - SUFFIX.length()).split("\\.");
        if (parts.length != 2 || parts[0].length() != 2 * BlockKey.BYTES) {
            return null;
        }
        try {
            BlockKey key = BlockKey.fromHex(parts[0]);
            String tenant = parts[1].startsWith("h")
                    ? Files.readString(dir.resolve(TENANTS).resolve(parts[1].substring(1)), StandardCharsets.UTF_8)
                    : new String(HexFormat.of().parseHex(parts[1]), StandardCharsets.UTF_8);
            return new Entry(key, tenant, Files.size(file));
        } catch (IllegalArgumentException | IOException e) {
            return null;
        }
    }

    private static long modified(Path file) {
        try {
            return Files.getLastModifiedTime(file).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }
}
