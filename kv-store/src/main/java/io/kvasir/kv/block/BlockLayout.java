package io.kvasir.kv.block;

/**
 * Shape of one block: {@code tokens} consecutive tokens of {@code layers} layers from {@code firstLayer}
 * (all of a model's layers, or a slice of them sent ahead of the rest). Two value columns,
 * each layer-major {@code [layer][token][width]}: K and V ({@code width} = KV heads × head dim,
 * heads outermost) for attention models, or the compressed latent and the shared rope key for MLA.
 * Scaled dtypes (fp8, int8) add a scale column per value column, {@code [layer][token][group]} f32:
 * {@code groups} per token (KV heads; 1 for MLA's columns).
 */
public record BlockLayout(Kind kind, CacheDType dtype, int tokens, int layers, int firstWidth, int secondWidth,
        int groups, int firstLayer) {
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
        if (tokens <= 0 || layers <= 0 || firstWidth <= 0 || secondWidth <= 0 || groups <= 0 || firstLayer < 0) {
            throw new IllegalArgumentException("block layout sizes must be positive: tokens=" + tokens + " layers="
                    + layers + " widths=" + firstWidth + "/" + secondWidth + " groups=" + groups + " first layer="
                    + firstLayer);
        }
        if (firstWidth % groups != 0 || secondWidth % groups != 0) {
            throw new IllegalArgumentException("block widths " + firstWidth + "/" + secondWidth + " are not whole "
                    + groups + " groups");
        }
    }

    public BlockLayout(Kind kind, CacheDType dtype, int tokens, int layers, int firstWidth, int secondWidth,
            int groups) {
        this(kind, dtype, tokens, layers, firstWidth, secondWidth, groups, 0);
    }

    public BlockLayout(Kind kind, CacheDType dtype, int tokens, int layers, int firstWidth, int secondWidth) {
        this(kind, dtype, tokens, layers, firstWidth, secondWidth, 1);
    }

    /** Layers {@code [from, from + count)} of blocks of this layout (counted within it). */
    public BlockLayout slice(int from, int count) {
        if (from < 0 || count <= 0 || from > layers - count) {
            throw new IllegalArgumentException("layers [" + from + ", " + ((long) from + count) + ") are outside a block of "
                    + layers + " layers");
        }
        return new BlockLayout(kind, dtype, tokens, count, firstWidth, secondWidth, groups, firstLayer + from);
    }

    /** K/V of one scale group per token (for scaled dtypes; any grouping for the others). */
    public static BlockLayout attention(CacheDType dtype, int tokens, int layers, int kvDim) {
        return new BlockLayout(Kind.ATTENTION, dtype, tokens, layers, kvDim, kvDim, 1);
    }

    /** K/V with a scale per KV head (for scaled dtypes). */
    public static BlockLayout attention(CacheDType dtype, int tokens, int layers, int kvHeads, int headDim) {
        return new BlockLayout(Kind.ATTENTION, dtype, tokens, layers, kvHeads * headDim, kvHeads * headDim,
                dtype.scaled() ? kvHeads : 1);
    }

    public static BlockLayout mla(CacheDType dtype, int tokens, int layers, int latentDim, int ropeDim) {
        return new BlockLayout(Kind.MLA, dtype, tokens, layers, latentDim, ropeDim, 1);
    }

    /** 2 value columns, and 2 scale columns for scaled dtypes. */
    public int columns() {
        return dtype.scaled() ? 4 : 2;
    }

    public String columnName(int column) {
        String base = column % 2 == 0 ? kind.firstColumn() : kind.secondColumn();
        return column < 2 ? base : base + "_scale";
    }

    /** Values of one layer in a column. */
    public int valuesPerLayer(int column) {
        return tokens * (column >= 2 ? groups : column == 0 ? firstWidth : secondWidth);
    }

    /** Bytes per value of a column: the dtype's, or 4 for scales. */
    public int valueBytes(int column) {
        return column >= 2 ? Float.BYTES : dtype.bytes();
    }

    public long columnBytes(int column) {
        return (long) layers * valuesPerLayer(column) * valueBytes(column);
    }

    public long payloadBytes() {
        long sum = 0;
        for (int c = 0; c < columns(); c++) {
            sum += columnBytes(c);
        }
        return sum;
    }
}
