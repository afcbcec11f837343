package io.kvasir.kv.block;

/**
 * Shape of one block: {@code tokens} consecutive tokens of all {@code layers}. Two columns, each
 * layer-major {@code [layer][token][width]}: K and V ({@code width} = KV heads × head dim, heads
 * outermost) for attention models, or the compressed latent and the shared rope key for MLA.
 */
public record BlockLayout(Kind kind, CacheDType dtype, int tokens, int layers, int firstWidth, int secondWidth) {
    /** Version of this layout; part of every block key and of every block's metadata. */
    public static final int VERSION = 1;

    public enum Kind {
        ATTENTION("k", "v"),
        MLA("latent", "rope_k");

        private final String first;
        private final String second;

        Kind(String first, String second) {
            this.first = first;
            this.second = second;
        }

        public String firstColumn() {
            return first;
        }

        public String secondColumn() {
            return second;
        }
    }

    public BlockLayout {
        if (kind == null || dtype == null) {
            throw new IllegalArgumentException("block layout needs a kind and a dtype");
        }
        if (tokens <= 0 || layers <= 0 || firstWidth <= 0 || secondWidth <= 0) {
            throw new IllegalArgumentException("block layout sizes must be positive: tokens=" + tokens + " layers="
                    + layers + " widths=" + firstWidth + "/" + secondWidth);
        }
    }

    public static BlockLayout attention(CacheDType dtype, int tokens, int layers, int kvDim) {
        return new BlockLayout(Kind.ATTENTION, dtype, tokens, layers, kvDim, kvDim);
    }

    public static BlockLayout mla(CacheDType dtype, int tokens, int layers, int latentDim, int ropeDim) {
        return new BlockLayout(Kind.MLA, dtype, tokens, layers, latentDim, ropeDim);
    }

    /** Values of one layer in column 0 or 1. */
    public int valuesPerLayer(int column) {
        return tokens * (column == 0 ? firstWidth : secondWidth);
    }

    public long columnBytes(int column) {
        return (long) layers * valuesPerLayer(column) * dtype.bytes();
    }

    public long payloadBytes() {
        return columnBytes(0) + columnBytes(1);
    }
}
