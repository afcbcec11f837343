/**
 * The KV block contract every role shares: {@link io.kvasir.kv.block.BlockKeys} (the SHA-256 key
 * chain), {@link io.kvasir.kv.block.BlockLayout} (what a block holds) and
 * {@link io.kvasir.kv.block.BlockCodec} (one Arrow IPC stream per block, checksummed).
 */
package io.kvasir.kv.block;
