package io.kvasir.kv.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;

/**
 * A member's SSD directory as it finds it on restart: files a crash, a full disk or another
 * program left there, named like blocks or not, holding a good block, a damaged one or anything.
 * Indexing never fails; every block it takes in is read back as a block that decodes, or dropped
 * (its file deleted, its bytes released); nothing escapes.
 */
class SsdFileFuzzTest {
    private static final BlockKey KEY = BlockKeys.chain(BlockKeys.root("m", 1, CacheDType.F16,
            "salt".getBytes(StandardCharsets.UTF_8)), new int[4], 4).getFirst();
    private static byte[] good;
    private static Path dir;
    /** Held so that its level stays set: every dropped file is a warning, thousands a second here. */
    private static final Logger QUIET = Logger.getLogger(SsdTier.class.getName());

    @BeforeAll
    static void setUp() throws IOException {
        QUIET.setLevel(Level.SEVERE);
        good = BlockCodec.encode("m", BlockLayout.attention(CacheDType.F16, 4, 2, 1, 8), columns -> {
            for (ByteBuffer c : columns) {
                while (c.hasRemaining()) {
                    c.put((byte) c.position());
                }
            }
        });
        dir = Files.createTempDirectory("kvasir-fuzz-ssd");
    }

    @AfterAll
    static void tearDown() throws IOException {
        clear();
        Files.deleteIfExists(dir);
    }

    @FuzzTest(maxExecutions = 10_000)
    void filesAreIndexedAndReadOrDropped(FuzzedDataProvider data) throws IOException {
        clear();
        SsdTier writer = new SsdTier(dir, 1 << 20, (key, tenant, bytes) -> { });
        String tenant = data.consumeString(300); // over 127 characters: named by a hash and a tenants file
        Path file = writer.fileOf(KEY, tenant);
        switch (data.consumeInt(0, 3)) {
            case 0 -> { // the block's own name; its bytes a good block with some changed, or cut short
                byte[] bytes = good.clone();
                int changes = data.consumeInt(0, 4);
                for (int i = 0; i < changes; i++) {
                    bytes[data.consumeInt(0, bytes.length - 1)] = data.consumeByte();
                }
                write(file, data.consumeBoolean() ? Arrays.copyOf(bytes, data.consumeInt(0, bytes.length)) : bytes);
            }
            case 1 -> write(file, data.consumeBytes(4096));
            case 2 -> { // another file named by the fuzzer, beside the block's or in the tier's root
                String name = data.consumeString(80);
                try {
                    Path other = (data.consumeBoolean() ? file.getParent() : dir).resolve(name).normalize();
                    if (other.startsWith(dir) && !other.equals(dir) && !other.equals(file.getParent())) {
                        write(other, data.consumeBytes(4096));
                    }
                } catch (InvalidPathException e) {
                    return;
                }
            }
            default -> { // a good block whose tenant's name file (if it has one) holds the fuzzer's bytes
                write(file, good);
                try (Stream<Path> all = Files.walk(dir)) {
                    for (Path p : all.filter(p -> p.startsWith(dir.resolve("tenants")) && Files.isRegularFile(p)).toList()) {
                        Files.write(p, data.consumeRemainingAsBytes());
                    }
                }
            }
        }
        SsdTier restarted = new SsdTier(dir, 1 << 20, (key, t, bytes) -> { });
        List<SsdTier.Entry> found = restarted.rebuild();
        for (SsdTier.Entry entry : found) {
            Optional<SsdTier.Hit> hit = restarted.read(entry.key());
            if (hit.isPresent()) {
                try {
                    BlockCodec.decode(ByteBuffer.wrap(hit.get().payload()));
                } catch (BlockFormatException e) {
                    throw new AssertionError("a block read back from the SSD tier does not decode", e);
                }
            } else if (restarted.contains(entry.key())) {
                throw new AssertionError("a block that could not be read is still indexed");
            }
        }
        if (restarted.blocks() > found.size() || restarted.usedBytes() < 0) {
            throw new AssertionError("the tier counts " + restarted.blocks() + " blocks, " + restarted.usedBytes()
                    + " bytes after indexing " + found.size());
        }
    }

    private static void write(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
    }

    private static void clear() {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).filter(p -> !p.equals(dir)).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
